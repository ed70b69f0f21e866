// `minipacs hash-password`: prints a hash for `[[http.users]] password_hash`. The password
// comes from --password, or is typed twice without echo on a terminal, or is the first line
// of standard input (for scripts: `echo "$PW" | minipacs hash-password`).
import { DEFAULT_ITERATIONS, hashPassword } from "../web/password.ts";
import {
  type Command,
  type CommandArgs,
  stringOption,
  UsageError,
  writeStderr,
} from "./subcommand.ts";

export { verifyPassword } from "../web/password.ts";

const MAX_PASSWORD = 4096;

/** Reads one line from a terminal in raw mode, echoing nothing; null on Ctrl-C/Ctrl-D. */
async function promptHidden(prompt: string): Promise<string | null> {
  writeStderr(prompt);
  const bytes: number[] = [];
  const buf = new Uint8Array(64);
  Deno.stdin.setRaw(true);
  try {
    while (bytes.length < MAX_PASSWORD) {
      const n = await Deno.stdin.read(buf);
      if (n === null) return null;
      for (const b of buf.subarray(0, n)) {
        if (b === 0x0d || b === 0x0a) return new TextDecoder().decode(new Uint8Array(bytes));
        if (b === 0x03 || (b === 0x04 && bytes.length === 0)) return null; // Ctrl-C, Ctrl-D
        if (b === 0x7f || b === 0x08) bytes.pop(); // backspace
        else if (b >= 0x20 || b === 0x09) bytes.push(b);
      }
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  } finally {
    Deno.stdin.setRaw(false);
    writeStderr("\n");
  }
}

/** The first line of standard input (bounded), without its line ending. */
async function readFirstLine(): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of Deno.stdin.readable) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > MAX_PASSWORD || chunk.includes(0x0a)) break;
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all).split(/\r?\n/)[0];
}

async function readPassword(args: CommandArgs): Promise<string | null> {
  const given = stringOption(args.values, "password");
  if (given !== undefined) return given;
  if (!Deno.stdin.isTerminal()) return await readFirstLine();
  const first = await promptHidden("Password: ");
  if (first === null) return null;
  const again = await promptHidden("Repeat password: ");
  if (again === null) return null;
  if (again !== first) throw new UsageError("the two passwords differ");
  return first;
}

async function run(args: CommandArgs): Promise<number> {
  const iterations = stringOption(args.values, "iterations");
  if (iterations !== undefined && !/^[1-9]\d{0,7}$/.test(iterations)) {
    throw new UsageError(`--iterations: must be an integer from 1 to 99999999`);
  }
  const password = await readPassword(args);
  if (password === null) {
    writeStderr("minipacs: hash-password: cancelled\n");
    return 1;
  }
  if (password === "") throw new UsageError("the password is empty");
  console.log(
    await hashPassword(password, iterations ? Number(iterations) : DEFAULT_ITERATIONS),
  );
  return 0;
}

export const hashPasswordCommand: Command = {
  summary: "print a password hash for [[http.users]] password_hash",
  usage: [
    "Usage: minipacs hash-password [--password P] [--iterations N]",
    "",
    "Reads the password from the terminal (typed twice, not shown), or the first line of",
    "standard input, and prints pbkdf2-sha256$<iterations>$<salt>$<hash>.",
    "",
    "  --password P      take the password from the command line (visible to other users",
    "                    of this machine in the process list: prefer standard input)",
    `  --iterations N    PBKDF2 iterations (default ${DEFAULT_ITERATIONS})`,
  ].join("\n"),
  options: { password: { type: "string" }, iterations: { type: "string" } },
  run,
};
