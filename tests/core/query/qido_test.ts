import assert from "node:assert/strict";
import { attributeTag, isValidUid, parseQido, QidoError } from "../../../src/core/query/qido.ts";

const parse = (resource: "studies" | "series" | "instances", query: string, extra = {}) =>
  parseQido({ resource, params: new URLSearchParams(query).entries(), ...extra }, {
    caseInsensitivePn: false,
  });

Deno.test("parseQido() turns keywords and tags into the C-FIND query of the level", () => {
  const q = parse("studies", "PatientName=DOE*&00100020=123&StudyDate=20240101-20241231");
  assert.equal(q.query.level, "STUDY");
  assert.deepEqual(q.query.matches.map((m) => m.field).sort(), [
    "patientId",
    "patientName",
    "studyDate",
  ]);
  assert.ok(q.returnTags.includes(0x00201208), "study defaults returned");
  assert.equal(q.offset, 0);
  assert.equal(q.limit, undefined);
});

Deno.test("parseQido() scopes by the path's UIDs without needing them (relational)", () => {
  const q = parse("instances", "", { studyInstanceUid: "1.2.3", seriesInstanceUid: "1.2.3.4" });
  assert.equal(q.query.level, "IMAGE");
  assert.deepEqual(q.query.matches.map((m) => m.field).sort(), [
    "seriesInstanceUid",
    "studyInstanceUid",
  ]);
  assert.ok(q.query.fileTags.includes(0x00280010), "Rows read from the file");
  const all = parse("series", "Modality=CT");
  assert.equal(all.query.level, "SERIES", "series of every study");
  assert.ok(all.returnTags.includes(0x00100010), "with the study attributes");
});

Deno.test("parseQido() reads includefield lists, limit, offset and UID lists", () => {
  const q = parse(
    "series",
    "includefield=SeriesDate,00180015&includefield=all&limit=5&offset=10&SeriesInstanceUID=1.2,1.3",
  );
  assert.ok(q.returnTags.includes(0x00080021));
  assert.ok(q.returnTags.includes(0x00180015));
  assert.equal(q.limit, 5);
  assert.equal(q.offset, 10);
  const uid = q.query.matches.find((m) => m.field === "seriesInstanceUid")!;
  assert.deepEqual(uid.terms.map((t) => t.type === "exact" && t.value), ["1.2", "1.3"]);
});

Deno.test("parseQido() with fuzzymatching matches names case-insensitively as a prefix", () => {
  const q = parse("studies", "PatientName=doe&fuzzymatching=true");
  const m = q.query.matches[0];
  assert.equal(m.terms[0].type, "pn");
  assert.equal(q.query.caseInsensitivePn, true);
  const plain = parse("studies", "PatientName=doe");
  assert.equal(plain.query.caseInsensitivePn, false);
});

Deno.test("parseQido() refuses what it cannot run", () => {
  for (
    const bad of [
      "limit=x",
      "offset=-1",
      "NoSuchAttribute=1",
      "includefield=Nope",
      "StudyDate=2024-1",
      "fuzzymatching=yes",
      "PatientName.Foo=1",
      "ReferencedStudySequence=1",
    ]
  ) {
    assert.throws(() => parse("studies", bad), QidoError, bad);
  }
  assert.throws(() => parse("series", "", { studyInstanceUid: "1.2.x" }), QidoError);
});

Deno.test("attributeTag() and isValidUid()", () => {
  assert.equal(attributeTag("StudyInstanceUID"), 0x0020000d);
  assert.equal(attributeTag("0020000d"), 0x0020000d);
  assert.equal(attributeTag("Nope"), undefined);
  assert.ok(isValidUid("1.2.840.10008"));
  assert.ok(!isValidUid("1.2.") && !isValidUid("") && !isValidUid("1".repeat(65)));
});
