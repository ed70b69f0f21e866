// The assertion the config tests share: a text refused with one line naming file, line, key.
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../src/config.ts";

/** Asserts that parsing `text` is refused with a message naming `key` (and `line` if given). */
export function refused(text: string, key: string, line?: number, detail?: RegExp): ConfigError {
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
