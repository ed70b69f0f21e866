import assert from "node:assert/strict";
import {
  type DataElement,
  decodeDataset,
  encodingOf,
  textElement,
  textOf,
} from "../../../src/core/dicom/dataset.ts";
import { parseQuery, type Query } from "../../../src/core/query/query.ts";
import { ResponseBuilder } from "../../../src/core/query/response.ts";
import { EXPLICIT_LE, identifier, IMPLICIT_LE, type Key, T } from "./helpers.ts";

function query(keys: Key[], charset = "", ts = EXPLICIT_LE): Query {
  const r = parseQuery(identifier(keys, charset, ts), ts, {
    model: "STUDY",
    caseInsensitivePn: true,
  });
  assert.ok(r.ok, r.ok ? "" : r.comment);
  return r.query;
}

function text(elements: DataElement[], tag: number, charset: string): string | undefined {
  const el = elements.find((e) => e.tag === tag);
  return el ? textOf(el, charset) : undefined;
}

Deno.test("ResponseBuilder echoes every key, zero length when unknown, and fills the service keys", () => {
  const q = query([
    [T.QueryRetrieveLevel, "CS", "STUDY"],
    [T.PatientName, "PN", ""],
    [T.StudyInstanceUID, "UI", ""],
    [T.InstitutionName, "LO", ""],
    [T.NumberOfStudyRelatedInstances, "IS", ""],
    { tag: T.RequestAttributesSequence, vr: "SQ", value: new Uint8Array(0), items: [] },
  ]);
  const bytes = new ResponseBuilder(q, { aeTitle: "MINIPACS", transferSyntaxUid: EXPLICIT_LE })
    .build({
      patientName: "Doe^John",
      studyInstanceUid: "1.2.3",
      numberOfStudyRelatedInstances: "7",
    });
  const els = decodeDataset(bytes, encodingOf(EXPLICIT_LE));
  assert.deepEqual(els.map((e) => e.tag), [
    T.SpecificCharacterSet,
    T.QueryRetrieveLevel,
    T.RetrieveAETitle,
    T.InstitutionName,
    T.PatientName,
    T.StudyInstanceUID,
    T.NumberOfStudyRelatedInstances,
    T.RequestAttributesSequence,
  ]);
  assert.equal(text(els, T.QueryRetrieveLevel, ""), "STUDY");
  assert.equal(text(els, T.RetrieveAETitle, ""), "MINIPACS");
  assert.equal(text(els, T.SpecificCharacterSet, ""), "ISO_IR 192");
  assert.equal(text(els, T.InstitutionName, ""), "");
  assert.equal(text(els, T.StudyInstanceUID, ""), "1.2.3");
  assert.equal(els.find((e) => e.tag === T.StudyInstanceUID)!.value.at(-1), 0, "UI pads NUL");
  assert.equal(text(els, T.NumberOfStudyRelatedInstances, ""), "7");
  assert.deepEqual(els.at(-1)!.items, [], "an unknown sequence comes back empty");
});

Deno.test("ResponseBuilder answers in the query's character set when it holds the values", () => {
  const q = query(
    [[T.QueryRetrieveLevel, "CS", "STUDY"], [T.PatientName, "PN", "M*"]],
    "ISO_IR 100",
  );
  const builder = new ResponseBuilder(q, { aeTitle: "MINIPACS", transferSyntaxUid: EXPLICIT_LE });
  const latin = decodeDataset(
    builder.build({ patientName: "Müller^Jürgen" }),
    encodingOf(EXPLICIT_LE),
  );
  assert.equal(text(latin, T.SpecificCharacterSet, ""), "ISO_IR 100");
  const name = latin.find((e) => e.tag === T.PatientName)!;
  assert.equal(name.value.length, 14, "one byte per character, padded");
  assert.equal(textOf(name, "ISO_IR 100"), "Müller^Jürgen");
  const other = decodeDataset(builder.build({ patientName: "山田^太郎" }), encodingOf(EXPLICIT_LE));
  assert.equal(text(other, T.SpecificCharacterSet, ""), "ISO_IR 192");
  assert.equal(text(other, T.PatientName, "ISO_IR 192"), "山田^太郎");
});

Deno.test("ResponseBuilder re-encodes values read from the stored file, sequences cut to the asked keys", () => {
  const q = query(
    [
      [T.QueryRetrieveLevel, "CS", "IMAGE"],
      [T.StudyInstanceUID, "UI", "1.2"],
      [T.SeriesInstanceUID, "UI", "1.2.1"],
      [T.InstitutionName, "LO", ""],
      [T.Rows, "US", ""],
      {
        tag: T.RequestAttributesSequence,
        vr: "SQ",
        value: new Uint8Array(0),
        items: [[{ tag: T.RequestedProcedureID, vr: "SH", value: new Uint8Array(0) }]],
      },
    ],
    "",
    IMPLICIT_LE,
  );
  const file: DataElement[] = [
    textElement(T.InstitutionName, "LO", "Klinik Köln", "ISO_IR 100")!,
    { tag: T.Rows, vr: "US", value: new Uint8Array([0, 1]) },
    {
      tag: T.RequestAttributesSequence,
      vr: "SQ",
      value: new Uint8Array(0),
      items: [[
        textElement(0x00321060, "LO", "Knie", "ISO_IR 100")!,
        textElement(T.RequestedProcedureID, "SH", "RP1", "ISO_IR 100")!,
      ]],
    },
  ];
  const bytes = new ResponseBuilder(q, { aeTitle: "PACS", transferSyntaxUid: IMPLICIT_LE })
    .build({ studyInstanceUid: "1.2", seriesInstanceUid: "1.2.1", sopInstanceUid: "1.2.1.1" }, {
      elements: file,
      specificCharacterSet: "ISO_IR 100",
    });
  const els = decodeDataset(bytes, encodingOf(IMPLICIT_LE));
  assert.equal(text(els, T.SpecificCharacterSet, ""), "ISO_IR 192");
  assert.equal(text(els, T.InstitutionName, "ISO_IR 192"), "Klinik Köln");
  assert.deepEqual([...els.find((e) => e.tag === T.Rows)!.value], [0, 1]);
  const seq = els.find((e) => e.tag === T.RequestAttributesSequence)!;
  assert.deepEqual(seq.items!.map((i) => i.map((e) => textOf(e, ""))), [["RP1"]]);
});
