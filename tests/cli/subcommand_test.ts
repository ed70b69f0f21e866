// What every subcommand shares: its options read and checked, and where the configuration
// comes from (the last --config wins).
import assert from "node:assert/strict";
import { findConfig, numberOption, stringOption, UsageError } from "../../src/cli/subcommand.ts";

Deno.test("numberOption() takes positive numbers, falls back when absent, refuses the rest", () => {
  assert.equal(numberOption({}, "timeout", 30), 30);
  assert.equal(numberOption({ timeout: "2.5" }, "timeout", 30), 2.5);
  for (const bad of ["0", "-1", "ten", "1e3", ""]) {
    assert.throws(() => numberOption({ timeout: bad }, "timeout", 30), UsageError, bad);
  }
  assert.throws(() => numberOption({ timeout: "x" }, "timeout", 30), /--timeout: must be a/);
});

Deno.test("stringOption() is the option's text, undefined for a flag or nothing", () => {
  assert.equal(stringOption({ aet: "SCU" }, "aet"), "SCU");
  assert.equal(stringOption({ aet: true }, "aet"), undefined);
  assert.equal(stringOption({}, "aet"), undefined);
});

Deno.test("findConfig() takes the last --config given", async () => {
  assert.deepEqual(await findConfig({ config: ["a.toml", "b.toml"] }), {
    kind: "file",
    path: "b.toml",
  });
});
