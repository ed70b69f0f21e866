// DEFAULT_CONFIG: the built-in defaults, the same as the shipped config.toml.
import assert from "node:assert/strict";
import { type Config, DEFAULT_CONFIG, loadConfig, parseConfig } from "../../src/config.ts";

const defaults = () => structuredClone(DEFAULT_CONFIG) as Config;

Deno.test("parseConfig() of an empty file gives the defaults", () => {
  assert.deepEqual(parseConfig("", "x.toml"), DEFAULT_CONFIG);
});

Deno.test("the shipped config.toml is the defaults plus the example VIEWER known AE", async () => {
  const config = await loadConfig(new URL("../../config.toml", import.meta.url).pathname);
  const expected = defaults();
  expected.knownAe = [{ aeTitle: "VIEWER", host: "127.0.0.1", port: 11112, maxAssociations: 2 }];
  assert.deepEqual(config, expected);
});

Deno.test("DEFAULT_CONFIG cannot be modified by accident", () => {
  assert.throws(() => {
    (DEFAULT_CONFIG.server as { port: number }).port = 1;
  });
  assert.equal(DEFAULT_CONFIG.server.port, 4242);
});
