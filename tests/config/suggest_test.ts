// "Did you mean": an unknown key or section is refused with the nearest known name.
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../src/config.ts";

/** Asserts that parsing `text` is refused with a message naming `key` (and `line` if given). */
function refused(text: string, key: string, line?: number, detail?: RegExp): ConfigError {
  try {
    parseConfig(text, "test.toml");
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    assert.equal(e.key, key);
    assert.equal(e.file, "test.toml");
    if (line !== undefined) assert.equal(e.line, line);
    assert.ok(!e.message.includes("\n"), "message is one line");
    assert.ok(e.message.startsWith(`test.toml${line ? `:${line}` : ""}`), e.message);
    assert.ok(e.message.includes(key), e.message);
    if (detail) assert.match(e.message, detail);
    return e;
  }
  assert.fail(`config was accepted:\n${text}`);
}

Deno.test("an unknown key or section suggests the nearest known one", () => {
  refused(
    `[server]\nmax_asociations = 10\n`,
    "server.max_asociations",
    2,
    /did you mean max_associations\?/,
  );
  refused(
    `[storage]\nretention-days = 3\n`,
    "storage.retention-days",
    2,
    /did you mean retention_days\?/,
  );
  refused(`[sever]\nport = 1\n`, "sever", 1, /unknown section; did you mean server\?/);
  // Nothing close: no guess, the known keys only.
  const e = refused(
    `[server]\nzzzzzzzz = 1\n`,
    "server.zzzzzzzz",
    2,
    /unknown key \(known keys: ae_title/,
  );
  assert.doesNotMatch(e.message, /did you mean/);
});
