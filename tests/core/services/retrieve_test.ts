// What C-MOVE and C-GET share: the final status of a retrieve and its Failed SOP Instance UID
// List (PS3.4 C.4.2.1.5, C.4.3.1.3).
import assert from "node:assert/strict";
import { decodeDataset, encodingOf } from "../../../src/core/dicom/dataset.ts";
import { failedListIdentifier, finalStatus } from "../../../src/core/services/retrieve.ts";
import { ELE, ILE } from "./retrieve_fixtures.ts";

Deno.test("finalStatus() and the Failed SOP Instance UID List follow PS3.4 C.4.2.1.5", () => {
  const c = (completed: number, failed: number, warning: number) => ({
    remaining: 0,
    completed,
    failed,
    warning,
  });
  assert.equal(finalStatus(c(3, 0, 0), false), 0x0000);
  assert.equal(finalStatus(c(2, 1, 0), false), 0xb000);
  assert.equal(finalStatus(c(2, 0, 1), false), 0xb000);
  assert.equal(finalStatus(c(0, 3, 0), false), 0xa702);
  assert.equal(finalStatus(c(1, 0, 0), true), 0xfe00);
  const uids = Array.from({ length: 2000 }, (_, i) => `1.2.826.0.1.3680043.9.7433.1.${i}`);
  const explicit = failedListIdentifier(uids, ELE);
  assert.ok(explicit.length <= 0xffff + 8, "cut to fit a 2-byte length");
  const implicit = decodeDataset(failedListIdentifier(uids, ILE), encodingOf(ILE));
  assert.equal(new TextDecoder().decode(implicit[0].value).split("\\").length, 2000);
});
