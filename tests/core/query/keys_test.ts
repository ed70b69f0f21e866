// The Query/Retrieve information models (PS3.4 C.6): which model a SOP class is, its levels,
// what is known of a match at each level, each level's unique key.
import assert from "node:assert/strict";
import {
  entityVisibleAt,
  levelsOf,
  modelOf,
  QR_SOP_CLASSES,
  UNIQUE_KEY,
} from "../../../src/core/query/keys.ts";
import { T } from "./helpers.ts";

Deno.test("modelOf() tells Patient Root from Study Root for FIND, MOVE and GET alike", () => {
  assert.equal(modelOf(QR_SOP_CLASSES.PatientRootFind), "PATIENT");
  assert.equal(modelOf(QR_SOP_CLASSES.PatientRootGet), "PATIENT");
  assert.equal(modelOf(QR_SOP_CLASSES.StudyRootMove), "STUDY");
  assert.equal(modelOf("1.2.840.10008.1.1"), undefined);
});

Deno.test("levelsOf(): Study Root has no PATIENT level", () => {
  assert.deepEqual(levelsOf("PATIENT"), ["PATIENT", "STUDY", "SERIES", "IMAGE"]);
  assert.deepEqual(levelsOf("STUDY"), ["STUDY", "SERIES", "IMAGE"]);
});

Deno.test("entityVisibleAt(): a match knows its own level and those above, not below", () => {
  assert.ok(entityVisibleAt("patient", "IMAGE"));
  assert.ok(entityVisibleAt("series", "SERIES"));
  assert.ok(!entityVisibleAt("instance", "SERIES"));
  assert.ok(!entityVisibleAt("study", "PATIENT"));
});

Deno.test("UNIQUE_KEY: Patient ID, Study, Series and SOP Instance UIDs (PS3.4 C.6.1.1)", () => {
  assert.equal(UNIQUE_KEY.PATIENT, T.PatientID);
  assert.equal(UNIQUE_KEY.STUDY, T.StudyInstanceUID);
  assert.equal(UNIQUE_KEY.SERIES, T.SeriesInstanceUID);
  assert.equal(UNIQUE_KEY.IMAGE, T.SOPInstanceUID);
});
