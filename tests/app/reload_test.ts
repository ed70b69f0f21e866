// A SIGHUP reload applies [[known_ae]] and log.level at once; every other changed key is
// named as needing a restart.
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config.ts";
import { changedKeys, planReload } from "../../src/app/reload.ts";

const BASE = '[server]\nport = 4242\n[log]\nlevel = "info"\n';
const config = (extra: string) => parseConfig(BASE + extra, "test.toml");

Deno.test("changedKeys() names the config.toml keys that differ, in file order", () => {
  const before = config("");
  assert.deepEqual(changedKeys(before, config("")), []);
  const after = parseConfig(
    '[server]\nport = 104\nae_title = "EDGE"\n[log]\nlevel = "debug"\n' +
      '[[known_ae]]\nae_title = "VIEWER"\nhost = "127.0.0.1"\nport = 104\n',
    "test.toml",
  );
  assert.deepEqual(changedKeys(before, after), [
    "server.ae_title",
    "server.port",
    "log.level",
    "known_ae",
  ]);
});

Deno.test("planReload() applies known_ae and log.level, and asks a restart for the rest", () => {
  const before = config("");
  const after = parseConfig(
    '[server]\nport = 104\n[log]\nlevel = "debug"\n' +
      '[[known_ae]]\nae_title = "VIEWER"\nhost = "127.0.0.1"\nport = 104\n',
    "test.toml",
  );
  const plan = planReload(before, after);
  assert.deepEqual(plan.apply.sort(), ["known_ae", "log.level"]);
  assert.deepEqual(plan.needsRestart, ["server.port"]);
});
