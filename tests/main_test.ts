import assert from "node:assert/strict";
import { join } from "node:path";

const REPO = new URL("..", import.meta.url).pathname;
const MAIN = join(REPO, "src/main.ts");

interface Result {
  code: number;
  stdout: string;
  /** stderr without Deno's own warnings about the project files. */
  stderr: string;
}

/** Runs `main.ts` with `args` in a fresh process (the same Deno binary as the tests). */
async function minipacs(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(REPO, "deno.json"), MAIN, ...args],
    cwd: opts.cwd ?? REPO,
    env: { NO_COLOR: "1", MINIPACS_CONFIG: "", ...opts.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const stderr = text(out.stderr).split("\n")
    .filter((l) => !/^Warning |^\s+at file:/.test(l))
    .join("\n").trim();
  return { code: out.code, stdout: text(out.stdout), stderr };
}

/** A temporary directory holding `files`; removed after `fn`. */
async function withDir(
  files: Record<string, string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs_main_test_" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(join(dir, name), text);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("serve refuses a bad config with exit 2 before starting anything", async () => {
  await withDir({ "bad.toml": "[server]\nport = 70000\n" }, async (dir) => {
    const r = await minipacs(["--config", join(dir, "bad.toml")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /server\.port: must be an integer from 0 to 65535, got 70000$/);
  });
});

Deno.test("--version prints the version, runtime, build and Implementation Class UID", async () => {
  const r = await minipacs(["--version"]);
  assert.equal(r.code, 0);
  const lines = r.stdout.trimEnd().split("\n");
  assert.equal(lines[0], "MINIPACS_2_0");
  assert.match(
    lines[1],
    new RegExp(`^runtime: Deno ${Deno.version.deno.replaceAll(".", "\\.")} \\(V8 `),
  );
  assert.match(lines[2], /^build: from source \(file:.*src\/main\.ts\)$/);
  assert.equal(lines[3], "implementation class UID: 1.2.276.0.7230010.3.0.3.6.4");
});

Deno.test("--help lists every command and the global options", async () => {
  const r = await minipacs(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Usage: minipacs/);
  for (
    const s of [
      "serve",
      "check-config",
      "reindex",
      "hash-password",
      "echo",
      "store",
      "healthcheck",
      "find",
      "--config",
      "--port",
      "--ae-title",
      "--storage",
    ]
  ) {
    assert.ok(r.stdout.includes(s), s);
  }
});

Deno.test("a command followed by --help prints that command's usage", async () => {
  for (const [name, option] of [["store", "--aet"], ["echo", "--timeout"], ["reindex", ""]]) {
    const r = await minipacs([name, "--help"]);
    assert.equal(r.code, 0);
    assert.ok(r.stdout.startsWith(`Usage: minipacs ${name}`), r.stdout);
    assert.ok(r.stdout.includes(option), `${name} ${option}`);
  }
});

Deno.test("an unknown subcommand or an unknown option exits 2", async () => {
  const unknown = await minipacs(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  const option = await minipacs(["check-config", "--prot", "1"]);
  assert.equal(option.code, 2);
  assert.match(option.stderr, /--prot/);
});
