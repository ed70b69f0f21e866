// "Did you mean": an unknown key or section is refused with the nearest known name.
import assert from "node:assert/strict";
import { refused } from "./refused.ts";

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
