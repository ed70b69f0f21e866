// check-config: the effective configuration (file lookup, --config order, command-line
// overrides) printed as TOML, and a bad file refused with exit 2 naming the key and line.
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseConfig } from "../../src/config.ts";
import { ROOT as REPO } from "../helpers/server.ts";
import { minipacs } from "./cli.ts";

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

const REFUSED: [string, string, string, RegExp][] = [
  [
    "unknown key",
    "[server]\nport = 104\nprot = 1\n",
    "server.prot",
    /:3: server\.prot: unknown key/,
  ],
  ["unknown section", "[servr]\nport = 104\n", "servr", /:1: servr: unknown section/],
  ["wrong type", '[server]\nport = "104"\n', "server.port", /:2: server\.port: must be an integer/],
  [
    "out of range",
    "[server]\nport = 70000\n",
    "server.port",
    /:2: server\.port: .*0 to 65535, got 70000/,
  ],
  ["bad enum value", '[log]\nlevel = "loud"\n', "log.level", /:2: log\.level: must be one of/],
  [
    "duplicate known AE",
    '[[known_ae]]\nae_title = "PACS"\nhost = "a"\nport = 104\n' +
    '[[known_ae]]\nae_title = "PACS"\nhost = "b"\nport = 104\n',
    "known_ae[1].ae_title",
    /:6: known_ae\[1\]\.ae_title: duplicate "PACS"/,
  ],
  [
    "AE title over 16 characters",
    '[server]\nae_title = "A_VERY_LONG_AE_TITLE"\n',
    "server.ae_title",
    /:2: server\.ae_title: must be an AE title of 1 to 16/,
  ],
  ["TOML syntax error", "[server]\nport = 104\nbind = \n", "", /:3:\d+: TOML syntax error/],
];

for (const [what, text, key, pattern] of REFUSED) {
  Deno.test(`check-config exits 2 naming the key and line for: ${what}`, async () => {
    await withDir({ "bad.toml": text }, async (dir) => {
      const file = join(dir, "bad.toml");
      const r = await minipacs(["check-config", "--config", file]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "", "nothing printed as effective config");
      assert.equal(r.stderr.split("\n").length, 1, `one line: ${r.stderr}`);
      assert.ok(r.stderr.startsWith(file + ":"), r.stderr);
      assert.ok(r.stderr.includes(key), r.stderr);
      assert.match(r.stderr, pattern);
    });
  });
}

Deno.test("check-config prints the effective configuration as TOML, hashes masked", async () => {
  const text = '[server]\nport = 11112\n[[http.users]]\nname = "admin"\npassword_hash = "s3cret"\n';
  await withDir({ "good.toml": text }, async (dir) => {
    const r = await minipacs(["check-config", "--config", join(dir, "good.toml")]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes("s3cret"));
    const printed = parseConfig(r.stdout, "stdout");
    assert.equal(printed.server.port, 11112);
    assert.deepEqual(printed.http.users, [{ name: "admin", passwordHash: "***", role: "admin" }]);
    assert.match(r.stdout, /from .*good\.toml/);
  });
});

Deno.test("the later --config wins and the subcommand may follow the options", async () => {
  const files = { "a.toml": "[server]\nport = 1111\n", "bad.toml": "[server]\nport = -5\n" };
  await withDir(files, async (dir) => {
    const [a, bad] = [join(dir, "a.toml"), join(dir, "bad.toml")];
    const r = await minipacs(["--config", bad, "--config", a, "check-config"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parseConfig(r.stdout, "stdout").server.port, 1111);
    const r2 = await minipacs(["--config", a, "check-config", "--config", bad]);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /server\.port/);
  });
});

Deno.test("command-line overrides show in the effective configuration", async () => {
  const r = await minipacs([
    "check-config",
    "--config",
    join(REPO, "config.toml"),
    "--port",
    "104",
    "--ae-title",
    "EDGE1",
    "--storage",
    "/srv/pacs",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const printed = parseConfig(r.stdout, "stdout");
  assert.equal(printed.server.port, 104);
  assert.equal(printed.server.aeTitle, "EDGE1");
  assert.equal(printed.storage.path, "/srv/pacs");
  const bad = await minipacs(["check-config", "--port", "http"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--port: must be an integer from 0 to 65535, got "http"/);
});

Deno.test("config lookup: $MINIPACS_CONFIG, then ./config.toml, then built-in defaults", async () => {
  const files = { "env.toml": "[server]\nport = 2222\n", "config.toml": "[server]\nport = 3333\n" };
  await withDir(files, async (dir) => {
    const fromEnv = await minipacs(["check-config"], {
      cwd: dir,
      env: { MINIPACS_CONFIG: join(dir, "env.toml") },
    });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.equal(parseConfig(fromEnv.stdout, "stdout").server.port, 2222);
    const fromCwd = await minipacs(["check-config"], { cwd: dir });
    assert.equal(fromCwd.code, 0, fromCwd.stderr);
    assert.equal(parseConfig(fromCwd.stdout, "stdout").server.port, 3333);
  });
  await withDir({}, async (dir) => {
    const none = await minipacs(["check-config"], { cwd: dir });
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /built-in defaults/);
    assert.equal(parseConfig(none.stdout, "stdout").server.port, 4242);
  });
});

Deno.test("a missing --config file exits 2 naming the file", async () => {
  const r = await minipacs(["check-config", "--config", "/nonexistent/minipacs.toml"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "/nonexistent/minipacs.toml: cannot read configuration: file not found");
});

Deno.test("check-config applies serve's checks: a network bind without users exits 2", async () => {
  await withDir({ "c.toml": '[http]\nbind = "0.0.0.0"\n' }, async (dir) => {
    const r = await minipacs(["check-config", "--config", join(dir, "c.toml")]);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, /http\.bind: "0\.0\.0\.0" is reachable from the network/);
    // The same on the command line.
    const flag = await minipacs([
      "check-config",
      "--config",
      join(dir, "c.toml"),
      "--http-bind",
      "127.0.0.1",
    ]);
    assert.equal(flag.code, 0, flag.stderr);
  });
});

Deno.test("check-config prints warnings, or that the configuration is OK", async () => {
  await withDir({
    "warn.toml": "[storage]\nmin_free_mb = 100\nretention_min_free_mb = 100\n",
    "ok.toml": "[server]\nport = 11112\n",
  }, async (dir) => {
    const w = await minipacs(["check-config", "--config", join(dir, "warn.toml")]);
    assert.equal(w.code, 0, w.stderr);
    assert.match(
      w.stderr,
      /^warning: storage\.retention_min_free_mb \(100\) is not above storage\.min_free_mb \(100\)/m,
    );
    const ok = await minipacs(["check-config", "--config", join(dir, "ok.toml")]);
    assert.equal(ok.code, 0);
    assert.match(ok.stderr, /^configuration OK$/m);
  });
});

Deno.test("--http-port and --http-bind override [http] like --port does [server]", async () => {
  await withDir({ "c.toml": "[http]\nport = 8080\n" }, async (dir) => {
    const r = await minipacs([
      "check-config",
      "--config",
      join(dir, "c.toml"),
      "--http-port",
      "18080",
      "--http-bind",
      "::1",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const http = parseConfig(r.stdout.replace(/^#.*$/m, ""), "out.toml").http;
    assert.equal(http.port, 18080);
    assert.equal(http.bind, "::1");
    const bad = await minipacs([
      "check-config",
      "--config",
      join(dir, "c.toml"),
      "--http-port",
      "x",
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--http-port: must be an integer from 0 to 65535/);
  });
});

Deno.test("an unknown key is refused with the nearest known one suggested", async () => {
  await withDir({ "c.toml": "[server]\nmax_asociations = 10\n" }, async (dir) => {
    const r = await minipacs(["check-config", "--config", join(dir, "c.toml")]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /:2: server\.max_asociations: unknown key; did you mean max_associations\?/,
    );
  });
});
