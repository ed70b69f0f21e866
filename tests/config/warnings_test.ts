// configWarnings(): what is allowed but probably not meant, logged at start and printed by
// check-config.
import assert from "node:assert/strict";
import { configWarnings, parseConfig } from "../../src/config.ts";

Deno.test("configWarnings() names what is allowed but probably not meant", () => {
  const fine = parseConfig("", "x.toml");
  assert.deepEqual(configWarnings(fine), []);
  const w = configWarnings(parseConfig(
    `[storage]\nmin_free_mb = 100\nretention_min_free_mb = 50\ndurability = "none"\n` +
      `[server]\naccept = "known"\nport = 8080\n[http]\nport = 8080\n`,
    "x.toml",
  ));
  assert.equal(w.length, 4);
  assert.match(w[0], /retention_min_free_mb \(50\) is not above storage\.min_free_mb \(100\)/);
  assert.match(w[1], /durability = "none"/);
  assert.match(w[2], /both 8080/);
  assert.match(w[3], /no \[\[known_ae\]\]: every association is rejected/);
});
