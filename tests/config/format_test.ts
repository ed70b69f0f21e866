// formatConfig(): the effective configuration written back as TOML.
import assert from "node:assert/strict";
import { type Config, DEFAULT_CONFIG, formatConfig, parseConfig } from "../../src/config.ts";

const defaults = () => structuredClone(DEFAULT_CONFIG) as Config;

Deno.test("formatConfig() round-trips through parseConfig and masks password hashes", () => {
  const config = defaults();
  config.http.users = [{ name: "admin", passwordHash: "scrypt$secret", role: "viewer" }];
  config.knownAe = [{ aeTitle: "VIEWER", host: "127.0.0.1", port: 11112, maxAssociations: 3 }];
  config.storage.sopClasses = ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"];
  config.storage.path = 'C:\\PACS "data"';
  const text = formatConfig(config);
  assert.ok(!text.includes("secret"), "hash is hidden");
  assert.match(text, /password_hash = "\*\*\*"/);
  assert.match(text, /^ae_title = "MINIPACS"$/m);
  const back = parseConfig(text, "formatted");
  assert.deepEqual(back, {
    ...config,
    http: { ...config.http, users: [{ name: "admin", passwordHash: "***", role: "viewer" }] },
  });
  assert.deepEqual(parseConfig(formatConfig(defaults()), "formatted"), DEFAULT_CONFIG);
});
