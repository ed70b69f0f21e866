// Who may reach the web pages: loopback by default, a password or an explicit opt-in for
// anything else, refused at start-up before anything listens.
import assert from "node:assert/strict";
import { ConfigError, DEFAULT_CONFIG, type HttpConfig } from "../../src/config.ts";
import { checkHttpExposure, isLoopback } from "../../src/web/security.ts";
import { MAIN } from "../helpers/server.ts";

const http = (over: Partial<HttpConfig>): HttpConfig => ({ ...DEFAULT_CONFIG.http, ...over });

Deno.test("isLoopback() knows 127.0.0.0/8, ::1 and localhost, nothing else", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"]) {
    assert.equal(isLoopback(h), true, h);
  }
  for (const h of ["0.0.0.0", "::", "10.0.0.1", "192.168.1.5", "example.com", "127.0.0.1.evil"]) {
    assert.equal(isLoopback(h), false, h);
  }
});

Deno.test("checkHttpExposure() refuses a network bind without users unless told to allow it", () => {
  assert.throws(
    () => checkHttpExposure(http({ bind: "0.0.0.0" }), "conf.toml"),
    (e: unknown) =>
      e instanceof ConfigError && e.key === "http.bind" &&
      /allow_anonymous_remote/.test(e.message) &&
      !e.message.includes("\n"),
  );
  checkHttpExposure(http({ bind: "127.0.0.1" }));
  checkHttpExposure(http({ bind: "0.0.0.0", allowAnonymousRemote: true }));
  checkHttpExposure(http({ bind: "0.0.0.0", users: [{ name: "a", passwordHash: "x" }] }));
  checkHttpExposure(http({ bind: "0.0.0.0", enabled: false }));
});

Deno.test("serve exits 2 with one line when http.bind is public and no user is set", async () => {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-web-bind-" });
  try {
    await Deno.writeTextFile(
      `${dir}/config.toml`,
      `[server]\nport = 0\nbind = "127.0.0.1"\n[storage]\npath = "${dir}/data"\n` +
        `[http]\nbind = "0.0.0.0"\nport = 0\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "serve", "--config", `${dir}/config.toml`],
      stdout: "piped",
      stderr: "piped",
      cwd: dir,
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 2, stderr);
    const lines = stderr.trim().split("\n").filter((l) => !/configuration loaded/.test(l));
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], /http\.bind/);
    assert.match(lines[0], /\[\[http\.users\]\]/);
    assert.ok(!/listening/i.test(stderr + stdout), "nothing may listen");
    // Refused before the storage folder was even created.
    await assert.rejects(Deno.stat(`${dir}/data/index.sqlite`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
