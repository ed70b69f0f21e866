// The value checks of config.toml as parseConfig() applies them: types, ranges, enums,
// UIDs, AE titles.
import assert from "node:assert/strict";
import { refused } from "./refused.ts";
import { parseConfig } from "../../src/config.ts";

Deno.test("parseConfig() accepts the range limits and trims AE titles", () => {
  const config = parseConfig(
    `[server]\nport = 65535\nmax_pdu_length = 4096\nae_title = " ABCDEFGHIJKLMNOP "\n`,
    "x.toml",
  );
  assert.equal(config.server.port, 65535);
  assert.equal(config.server.maxPduLength, 4096);
  assert.equal(config.server.aeTitle, "ABCDEFGHIJKLMNOP");
});

Deno.test("parseConfig() refuses a wrong type", () => {
  refused(`[server]\nport = "4242"\n`, "server.port", 2, /must be an integer.*got "4242"/);
  refused(`[server]\nport = 4242.0\n`, "server.port", 2, /must be an integer/);
  refused(`[server]\ncheck_called_ae = "yes"\n`, "server.check_called_ae", 2, /true or false/);
  refused(`[storage]\npath = 5\n`, "storage.path", 2, /string/);
  refused(`server = 5\n`, "server", 1, /must be a table/);
  refused(`[known_ae]\nae_title = "X"\n`, "known_ae", 1, /array of tables/);
});

Deno.test("parseConfig() refuses an out-of-range value with the allowed range", () => {
  const e = refused(`\n[server]\n\nport = 70000\n`, "server.port", 4);
  assert.equal(
    e.message,
    "test.toml:4: server.port: must be an integer from 0 to 65535, got 70000",
  );
  refused(`[server]\nmax_associations = 0\n`, "server.max_associations", 2, /1 to 1000/);
  refused(`[server]\nmax_pdu_length = 131073\n`, "server.max_pdu_length", 2);
  refused(`[storage]\nmin_free_mb = -1\n`, "storage.min_free_mb", 2, />= 0/);
  refused(`[http]\nport = -1\n`, "http.port", 2);
});

Deno.test("parseConfig() refuses a bad enum value, listing the allowed ones", () => {
  refused(`[log]\nlevel = "verbose"\n`, "log.level", 2, /"error", "warn", "info", "debug"/);
  refused(`[storage]\nduplicates = "keep"\n`, "storage.duplicates", 2, /"overwrite"/);
  refused(`[server]\naccept = "all"\n`, "server.accept", 2);
});

Deno.test("parseConfig() refuses a bad UID", () => {
  refused(`[server]\nimplementation_class_uid = "1.2.x"\n`, "server.implementation_class_uid", 2);
  refused(`[storage]\nsop_classes = ["1.2.3", "abc"]\n`, "storage.sop_classes", 2, /entry 1/);
  refused(`[storage]\nsop_classes = "some"\n`, "storage.sop_classes", 2);
});

Deno.test("parseConfig() refuses an AE title over 16 characters, empty or with a backslash", () => {
  refused(`[server]\nae_title = "ABCDEFGHIJKLMNOPQ"\n`, "server.ae_title", 2, /1 to 16/);
  refused(`[server]\nae_title = "   "\n`, "server.ae_title", 2);
  refused(`[server]\nae_title = "A\\\\B"\n`, "server.ae_title", 2);
  refused(
    `[[known_ae]]\nae_title = "X"\nhost = "h"\nport = 1\n[[known_ae]]\nae_title = "WORKSTATION_NUMBER_1"\n`,
    "known_ae[1].ae_title",
    6,
  );
});
