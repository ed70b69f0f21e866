import assert from "node:assert/strict";
import { Status } from "../../../src/core/dimse/status.ts";
import { type ParseOptions, parseQuery, type Query } from "../../../src/core/query/query.ts";
import { identifier, IMPLICIT_LE, type Key, T } from "./helpers.ts";

const STUDY_ROOT: ParseOptions = { model: "STUDY", caseInsensitivePn: true };
const PATIENT_ROOT: ParseOptions = { model: "PATIENT", caseInsensitivePn: true };

function parse(keys: Key[], options = STUDY_ROOT, charset = "") {
  return parseQuery(identifier(keys, charset), "1.2.840.10008.1.2.1", options);
}

function ok(keys: Key[], options = STUDY_ROOT): Query {
  const r = parse(keys, options);
  assert.ok(r.ok, r.ok ? "" : r.comment);
  return r.query;
}

function refused(keys: Key[], options = STUDY_ROOT) {
  const r = parse(keys, options);
  assert.ok(!r.ok, "refused");
  return r;
}

Deno.test("parseQuery() refuses a missing or unknown Query/Retrieve Level with 0xA900", () => {
  const missing = refused([[T.PatientID, "LO", "P1"]]);
  assert.equal(missing.status, Status.IdentifierDoesNotMatchSopClass);
  assert.match(missing.comment, /Query\/Retrieve Level/);
  assert.deepEqual(missing.offendingElement, [T.QueryRetrieveLevel]);
  assert.match(refused([[T.QueryRetrieveLevel, "CS", "FOO"]]).comment, /unknown/);
  assert.match(
    refused([[T.QueryRetrieveLevel, "CS", "PATIENT"]]).comment,
    /not in the STUDY Root model/,
  );
  assert.equal(ok([[T.QueryRetrieveLevel, "CS", "PATIENT"]], PATIENT_ROOT).level, "PATIENT");
});

Deno.test("parseQuery() refuses hierarchical queries without one value for each key above", () => {
  const series = refused([[T.QueryRetrieveLevel, "CS", "SERIES"], [T.Modality, "CS", "CT"]]);
  assert.match(series.comment, /Study Instance UID needs one value at SERIES level/);
  assert.deepEqual(series.offendingElement, [T.StudyInstanceUID]);
  refused([
    [T.QueryRetrieveLevel, "CS", "SERIES"],
    [T.StudyInstanceUID, "UI", "1.2\\1.3"],
  ]);
  refused([
    [T.QueryRetrieveLevel, "CS", "IMAGE"],
    [T.StudyInstanceUID, "UI", "1.2"],
  ]);
  const patientRoot = refused(
    [[T.QueryRetrieveLevel, "CS", "STUDY"], [T.PatientID, "LO", "P*"]],
    PATIENT_ROOT,
  );
  assert.match(patientRoot.comment, /Patient ID needs one value/);
  const image = ok([
    [T.QueryRetrieveLevel, "CS", "IMAGE"],
    [T.StudyInstanceUID, "UI", "1.2"],
    [T.SeriesInstanceUID, "UI", "1.2.1"],
  ]);
  assert.equal(image.level, "IMAGE");
});

Deno.test("parseQuery() sorts keys: index matches, file keys at IMAGE level, unmatched others", () => {
  const study = ok([
    [T.QueryRetrieveLevel, "CS", "STUDY"],
    [T.PatientName, "PN", "Doe*"],
    [T.StudyDate, "DA", "20240101-"],
    [T.StudyInstanceUID, "UI", ""],
    [T.InstitutionName, "LO", "Clinic"],
    [T.Modality, "CS", "CT"],
  ]);
  assert.deepEqual(study.matches.map((m) => m.field), ["studyDate", "patientName"]);
  assert.deepEqual(study.fields.sort(), ["patientName", "studyDate", "studyInstanceUid"]);
  assert.deepEqual(study.unmatchedKeys, [T.Modality, T.InstitutionName].sort((a, b) => a - b));
  const image = ok([
    [T.QueryRetrieveLevel, "CS", "IMAGE"],
    [T.StudyInstanceUID, "UI", "1.2"],
    [T.SeriesInstanceUID, "UI", "1.2.1"],
    [T.InstitutionName, "LO", ""],
    { tag: T.Rows, vr: "US", value: new Uint8Array([0, 2]) },
  ]);
  assert.deepEqual(image.fileTags, [T.InstitutionName, T.Rows]);
  assert.deepEqual(image.fileMatches.map((m) => m.terms), [[{ type: "number", value: 512 }]]);
  assert.ok(image.fields.includes("sopInstanceUid"), "the file is found by its instance");
});

Deno.test("parseQuery() decodes values in the query's character set", () => {
  const r = parse([[T.QueryRetrieveLevel, "CS", "STUDY"], [T.PatientName, "PN", "Müller*"]], {
    ...STUDY_ROOT,
  }, "ISO_IR 100");
  assert.ok(r.ok);
  assert.equal(r.query.specificCharacterSet, "ISO_IR 100");
  const term = r.query.matches[0].terms[0];
  assert.equal(term.type, "pn");
  assert.deepEqual(term.type === "pn" && term.pattern.hint.first, { prefix: "MÜLLER", pieces: [] });
});

Deno.test("parseQuery() answers 0xC000 for bad values and undecodable identifiers", () => {
  const bad = refused([[T.QueryRetrieveLevel, "CS", "STUDY"], [T.StudyDate, "DA", "2024-1-1"]]);
  assert.equal(bad.status, Status.CannotUnderstand);
  const r = parseQuery(new Uint8Array([0x08, 0x00, 0x52, 0x00, 0x43, 0x53, 0x10]), IMPLICIT_LE, {
    ...STUDY_ROOT,
  });
  assert.ok(!r.ok && r.status === Status.CannotUnderstand);
});

Deno.test("parseQuery() for retrieve keeps only unique keys and needs the level's own", () => {
  const options = { ...STUDY_ROOT, retrieve: true };
  assert.match(refused([[T.QueryRetrieveLevel, "CS", "STUDY"]], options).comment, /retrieve/);
  const q = ok([
    [T.QueryRetrieveLevel, "CS", "STUDY"],
    [T.StudyInstanceUID, "UI", "1.2\\1.3"],
    [T.PatientName, "PN", "Doe"],
  ], options);
  assert.deepEqual(q.matches.map((m) => m.field), ["studyInstanceUid"]);
});

Deno.test("parseQuery() for retrieve refuses wildcards in unique keys with 0xA900 and a comment", () => {
  for (const options of [{ ...STUDY_ROOT, retrieve: true }, { ...PATIENT_ROOT, retrieve: true }]) {
    const study = refused([
      [T.QueryRetrieveLevel, "CS", "STUDY"],
      [T.PatientID, "LO", "IOP00"],
      [T.StudyInstanceUID, "UI", "1.2.3*"],
    ], options);
    assert.equal(study.status, Status.IdentifierDoesNotMatchSopClass);
    assert.equal(study.comment, "no wildcards in Study Instance UID to retrieve");
    assert.deepEqual(study.offendingElement, [T.StudyInstanceUID]);
  }
  const patient = refused(
    [[T.QueryRetrieveLevel, "CS", "PATIENT"], [T.PatientID, "LO", "IOP00*"]],
    { ...PATIENT_ROOT, retrieve: true },
  );
  assert.equal(patient.status, Status.IdentifierDoesNotMatchSopClass);
  assert.equal(patient.comment, "no wildcards in Patient ID to retrieve");
  refused([[T.QueryRetrieveLevel, "CS", "PATIENT"], [T.PatientID, "LO", "IOP0?1"]], {
    ...PATIENT_ROOT,
    retrieve: true,
  });
  // C-FIND keeps its wildcards.
  ok([[T.QueryRetrieveLevel, "CS", "PATIENT"], [T.PatientID, "LO", "IOP00*"]], PATIENT_ROOT);
});

Deno.test("parseQuery() for retrieve takes PATIENT level with a Patient ID in the Study Root model", () => {
  const q = ok(
    [[T.QueryRetrieveLevel, "CS", "PATIENT"], [T.PatientID, "LO", "PAT002"]],
    { ...STUDY_ROOT, retrieve: true },
  );
  assert.equal(q.level, "PATIENT");
  assert.deepEqual(q.matches.map((m) => m.field), ["patientId"]);
  const none = refused([[T.QueryRetrieveLevel, "CS", "PATIENT"]], {
    ...STUDY_ROOT,
    retrieve: true,
  });
  assert.match(none.comment, /Patient ID needs a value to retrieve/);
  // C-FIND in the Study Root model still has no PATIENT level.
  assert.match(
    refused([[T.QueryRetrieveLevel, "CS", "PATIENT"], [T.PatientID, "LO", "PAT002"]]).comment,
    /not in the STUDY Root model/,
  );
});

Deno.test("parseQuery() joins Study Date and Study Time ranges when combined matching is agreed", () => {
  const keys: Key[] = [
    [T.QueryRetrieveLevel, "CS", "STUDY"],
    [T.StudyDate, "DA", "20240110-20240120"],
    [T.StudyTime, "TM", "0900-1800"],
  ];
  assert.equal(ok(keys).matches.length, 2, "matched on their own by default");
  const combined = ok(keys, { ...STUDY_ROOT, combinedDateTime: true });
  assert.equal(combined.matches.length, 1);
  assert.equal(combined.matches[0].time?.field, "studyTime");
});
