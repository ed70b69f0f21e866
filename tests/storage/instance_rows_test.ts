import assert from "node:assert/strict";
import {
  INSTANCE_FIELDS,
  patientKey,
  STUDY_FIELDS,
  toStored,
  values,
} from "../../src/storage/instance_rows.ts";
import { makeRecord } from "./fixtures.ts";

Deno.test("patientKey() tells patients apart by Patient ID, by name when the ID is empty", () => {
  assert.equal(patientKey(makeRecord("1.1", { patientId: "P7" })), "I:P7");
  assert.equal(
    patientKey(makeRecord("1.1", { patientId: "", patientName: "Doe^John" })),
    "N:Doe^John",
  );
});

Deno.test("values() gives the attributes in column order", () => {
  const record = makeRecord("1.2.3", { instanceNumber: "4" });
  assert.deepEqual(values(record, INSTANCE_FIELDS), [
    "1.2.3",
    record.sopClassUid,
    "4",
    record.transferSyntaxUid,
    "ISO_IR 192",
  ]);
  assert.equal(values(record, STUDY_FIELDS)[0], record.studyInstanceUid);
});

Deno.test("toStored() reads a joined row back into the record, location and meta stored", () => {
  const record = makeRecord("1.9.9", { modality: "MR", patientName: "Roe^Ann" });
  const columns: Record<string, unknown> = {
    loc_kind: "home",
    loc_path: "a/b/c.dcm",
    loc_offset: 0,
    loc_length: 1234,
    home_path: "a/b/c.dcm",
    size: 2048,
    received_at: "2024-01-02T03:04:05.000Z",
    calling_ae: "MODALITY",
    seq: 77,
  };
  for (const [key, column] of [["modality", "modality"], ["patientName", "patient_name"]]) {
    columns[column] = record[key as keyof typeof record];
  }
  for (const [key, column] of INSTANCE_FIELDS) columns[column] = record[key];
  for (const [key, column] of STUDY_FIELDS) columns[column] = record[key];
  const stored = toStored(columns);
  assert.equal(stored.record.sopInstanceUid, "1.9.9");
  assert.equal(stored.record.modality, "MR");
  assert.equal(stored.record.patientName, "Roe^Ann");
  assert.equal(stored.record.studyDescription, record.studyDescription);
  // A column the row lacks reads as empty, never "undefined".
  assert.equal(stored.record.seriesDescription, "");
  assert.deepEqual(stored.location, { kind: "home", path: "a/b/c.dcm", offset: 0, length: 1234 });
  assert.deepEqual(stored.meta, {
    homePath: "a/b/c.dcm",
    size: 2048,
    receivedAt: "2024-01-02T03:04:05.000Z",
    callingAe: "MODALITY",
    seq: 77,
  });
  assert.equal(toStored({ ...columns, loc_kind: "journal" }).location.kind, "journal");
});
