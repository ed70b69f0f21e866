// What the audit records say of a query and of an outcome (PS3.15 A.5): the identifier's keys
// by keyword, and the DIMSE status as EventOutcomeIndicator.
import assert from "node:assert/strict";
import { outcomeOf, queryKeys } from "../../src/core/audit.ts";
import { Status } from "../../src/core/dimse/status.ts";
import { parseQuery } from "../../src/core/query/query.ts";
import { EXPLICIT_LE, identifier, T } from "./query/helpers.ts";

Deno.test("outcomeOf(): success and warnings 0, cancel 4, every failure 8", () => {
  assert.equal(outcomeOf(Status.Success), 0);
  assert.equal(outcomeOf(Status.SubOpsCompleteWithFailures), 0);
  assert.equal(outcomeOf(Status.AttributeNotSupported), 0);
  assert.equal(outcomeOf(Status.Cancel), 4);
  assert.equal(outcomeOf(Status.RefusedMoveDestinationUnknown), 8);
  assert.equal(outcomeOf(Status.UnableToProcess), 8);
  assert.equal(outcomeOf(Status.OutOfResourcesSubOps), 8);
});

Deno.test("queryKeys() names the keys that carry a value by keyword, return keys left out", () => {
  const parsed = parseQuery(
    identifier([
      [T.QueryRetrieveLevel, "CS", "STUDY"],
      [T.PatientName, "PN", "DOE*"],
      [T.StudyInstanceUID, "UI", ""],
      [T.ModalitiesInStudy, "CS", "CT"],
      [0x00091010, "LO", "private"],
    ]),
    EXPLICIT_LE,
    { model: "STUDY", caseInsensitivePn: true },
  );
  assert.ok(parsed.ok, JSON.stringify(parsed));
  const keys = queryKeys(parsed.query);
  assert.equal(keys.QueryRetrieveLevel, "STUDY");
  assert.equal(keys.PatientName, "DOE*");
  assert.equal(keys.ModalitiesInStudy, "CT");
  assert.ok(!("StudyInstanceUID" in keys), "a return key is not a query value");
});
