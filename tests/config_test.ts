// loadConfig(): the entry point reads a file; the rest of config.toml handling has its tests
// under tests/config/.
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../src/config.ts";

Deno.test("loadConfig() of a missing file is a ConfigError naming the file", async () => {
  await assert.rejects(loadConfig("/nonexistent/minipacs.toml"), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(
      e.message,
      /^\/nonexistent\/minipacs\.toml: cannot read configuration: file not found$/,
    );
    return true;
  });
});
