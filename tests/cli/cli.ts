// Runs `minipacs` (src/main.ts under the test's own Deno, or a compiled binary) as a child
// process and collects what it printed.
import { MAIN, ROOT } from "../helpers/server.ts";
import { freePort } from "../helpers/peers.ts";
export { freePort };

export interface CliResult {
  code: number;
  stdout: string;
  /** stderr without Deno's own warnings. */
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Written to standard input, which is then closed. */
  stdin?: string;
  /** Permission flags for `deno run` (default -A); ignored for a compiled binary. */
  permissions?: string[];
  /** A compiled executable to run instead of `deno run src/main.ts`. */
  binary?: string;
}

/** The command line that runs minipacs: [program, ...args before the minipacs arguments]. */
export function minipacsCommand(o: CliOptions = {}): [string, string[]] {
  if (o.binary) return [o.binary, []];
  return [
    Deno.execPath(),
    ["run", "--no-prompt", ...(o.permissions ?? ["-A"]), "--config", `${ROOT}deno.json`, MAIN],
  ];
}

export async function minipacs(args: string[], o: CliOptions = {}): Promise<CliResult> {
  const [program, pre] = minipacsCommand(o);
  const child = new Deno.Command(program, {
    args: [...pre, ...args],
    cwd: o.cwd ?? ROOT,
    env: { NO_COLOR: "1", MINIPACS_CONFIG: "", TCP_NODELAY: "1", ...o.env },
    stdin: o.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (o.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(o.stdin));
    await w.close();
  }
  const out = await child.output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const stderr = text(out.stderr).split("\n")
    .filter((l) => !/^Warning |^\s+at file:/.test(l))
    .join("\n").trim();
  return { code: out.code, stdout: text(out.stdout), stderr };
}

export interface StoreScp {
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/**
 * DCMTK storescp on loopback, accepting every transfer syntax it knows and writing each
 * received dataset bit for bit (+B) under a temporary folder.
 */
export async function startStoreScp(aeTitle = "STORESCP"): Promise<StoreScp> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-storescp-" });
  const port = freePort();
  const child = new Deno.Command("storescp", {
    args: ["-aet", aeTitle, "+xa", "+B", "-od", dir, String(port)],
    env: { TCP_NODELAY: "1" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  // Ready once it accepts a TCP connection (bounded wait).
  for (let i = 0; i < 100; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return { port, dir, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await stop();
  throw new Error("storescp did not start listening");
}
