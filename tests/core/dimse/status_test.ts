import assert from "node:assert/strict";
import { Status, statusCategory, statusText } from "../../../src/core/dimse/status.ts";

Deno.test("statusCategory() sorts codes as PS3.7 C.1 says", () => {
  assert.equal(statusCategory(Status.Success), "success");
  assert.equal(statusCategory(Status.Pending), "pending");
  assert.equal(statusCategory(Status.PendingWarning), "pending");
  assert.equal(statusCategory(Status.Cancel), "cancel");
  for (const s of [0x0001, 0x0107, 0x0116, 0xb000, 0xb006, 0xb007, 0xbfff]) {
    assert.equal(statusCategory(s), "warning", s.toString(16));
  }
  for (
    const s of [
      Status.RefusedOutOfResources,
      Status.RefusedMoveDestinationUnknown,
      Status.DataSetDoesNotMatchSopClass,
      Status.CannotUnderstand,
      Status.UnableToProcess,
      Status.DuplicateSopInstance,
      Status.SopClassNotSupported,
      0xa7ff,
      0xcfff,
      0xfe01,
    ]
  ) {
    assert.equal(statusCategory(s), "failure", s.toString(16));
  }
});

Deno.test("statusText() shows the code in hex with its category", () => {
  assert.equal(statusText(Status.RefusedMoveDestinationUnknown), "0xA801 failure");
  assert.equal(statusText(Status.Success), "0x0000 success");
});
