// applyOverrides(): command-line overrides checked like the file.
import assert from "node:assert/strict";
import { applyOverrides, type Config, DEFAULT_CONFIG } from "../../src/config.ts";

const defaults = () => structuredClone(DEFAULT_CONFIG) as Config;

Deno.test("applyOverrides() replaces port, AE title and storage without touching the input", () => {
  const base = defaults();
  const out = applyOverrides(base, { port: 11112, aeTitle: "EDGE1", storage: "/srv/pacs" });
  assert.equal(out.server.port, 11112);
  assert.equal(out.server.aeTitle, "EDGE1");
  assert.equal(out.storage.path, "/srv/pacs");
  assert.deepEqual(base, DEFAULT_CONFIG);
  assert.deepEqual(applyOverrides(base, {}), base);
});

Deno.test("applyOverrides() refuses invalid values naming the option", () => {
  assert.throws(
    () => applyOverrides(defaults(), { port: 70000 }),
    /^ConfigError: command line: --port: must be an integer from 0 to 65535, got 70000$/,
  );
  assert.throws(
    () => applyOverrides(defaults(), { aeTitle: "X".repeat(17) }),
    /--ae-title: must be an AE title/,
  );
  assert.throws(() => applyOverrides(defaults(), { storage: "" }), /--storage/);
});
