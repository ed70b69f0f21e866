import assert from "node:assert/strict";
import {
  type DataElement,
  decodeDatasetPart,
  encodingOf,
} from "../../../src/core/dicom/dataset.ts";
import { base64, toDicomJson } from "../../../src/core/dicom/dicom_json.ts";
import { dictionaryVr, tagOfKeyword } from "../../../src/core/dicom/dictionary.ts";

const ascii = (t: string) => new TextEncoder().encode(t);
const bytes = (...b: number[]) => new Uint8Array(b);
const el = (tag: number, vr: string, value: Uint8Array | string): DataElement => ({
  tag,
  vr,
  value: typeof value === "string" ? ascii(value) : value,
});

Deno.test("toDicomJson() writes vr and Value with numbers for IS, DS and binary numbers", () => {
  const json = toDicomJson([
    el(0x00200013, "IS", "7 "),
    el(0x00281050, "DS", "40\\-1.5e2 "),
    el(0x00280010, "US", bytes(0x00, 0x02)),
    el(0x00180088, "DS", "abc"),
    el(0x00080060, "CS", "CT"),
    el(0x00080018, "UI", "1.2.3\0"),
    el(0x00200020, "CS", "A\\\\P "),
    el(0x00081030, "LO", ""),
  ], { specificCharacterSet: "" });
  assert.deepEqual(json["00200013"], { vr: "IS", Value: [7] });
  assert.deepEqual(json["00281050"], { vr: "DS", Value: [40, -150] });
  assert.deepEqual(json["00280010"], { vr: "US", Value: [512] });
  assert.deepEqual(json["00180088"], { vr: "DS", Value: ["abc"] }, "not a number: kept as text");
  assert.deepEqual(json["00080060"], { vr: "CS", Value: ["CT"] });
  assert.deepEqual(json["00080018"], { vr: "UI", Value: ["1.2.3"] });
  assert.deepEqual(json["00200020"], { vr: "CS", Value: ["A", null, "P"] }, "empty value: null");
  assert.deepEqual(json["00081030"], { vr: "LO" }, "no value: no Value");
  assert.deepEqual(Object.keys(json), Object.keys(json).toSorted(), "keys in tag order");
});

Deno.test("toDicomJson() splits person names into Alphabetic, Ideographic and Phonetic", () => {
  // PS3.5 H.3.1: a Japanese name with ISO 2022 escapes.
  const value = Uint8Array.from([
    ...ascii("Yamada^Tarou="),
    0x1b,
    0x24,
    0x42,
    0x3b,
    0x33,
    0x45,
    0x44,
    0x1b,
    0x28,
    0x42,
    0x5e,
    0x1b,
    0x24,
    0x42,
    0x42,
    0x40,
    0x4f,
    0x3a,
    0x1b,
    0x28,
    0x42,
    0x3d,
    0x1b,
    0x24,
    0x42,
    0x24,
    0x64,
    0x24,
    0x5e,
    0x24,
    0x40,
    0x1b,
    0x28,
    0x42,
    0x5e,
    0x1b,
    0x24,
    0x42,
    0x24,
    0x3f,
    0x24,
    0x6d,
    0x24,
    0x26,
    0x1b,
    0x28,
    0x42,
  ]);
  const json = toDicomJson([
    el(0x00080005, "CS", "\\ISO 2022 IR 87"),
    el(0x00100010, "PN", value),
    el(0x00080090, "PN", "Doe^John\\Roe^Jane "),
  ], { specificCharacterSet: "\\ISO 2022 IR 87" });
  assert.deepEqual(json["00100010"].Value, [{
    Alphabetic: "Yamada^Tarou",
    Ideographic: "山田^太郎",
    Phonetic: "やまだ^たろう",
  }]);
  assert.deepEqual(json["00080090"].Value, [{ Alphabetic: "Doe^John" }, {
    Alphabetic: "Roe^Jane",
  }]);
});

Deno.test("toDicomJson() decodes text in the Specific Character Set", () => {
  const json = toDicomJson([
    el(0x00100010, "PN", bytes(0x4d, 0xfc, 0x6c, 0x6c, 0x65, 0x72)), // Müller in Latin-1
    el(0x00081030, "LO", bytes(0xc4, 0x72, 0x7a, 0x74, 0x65)),
  ], { specificCharacterSet: "ISO_IR 100" });
  assert.deepEqual(json["00100010"].Value, [{ Alphabetic: "Müller" }]);
  assert.deepEqual(json["00081030"].Value, ["Ärzte"]);
});

Deno.test("toDicomJson() sends Pixel Data and large binaries as BulkDataURI, small ones inline", () => {
  const uri = (path: readonly number[]) =>
    `bulk/${path.map((p) => p > 0xffff ? p.toString(16).padStart(8, "0") : p).join("/")}`;
  const json = toDicomJson([
    el(0x00282000, "OB", new Uint8Array(2000)),
    el(0x00091010, "UN", bytes(1, 2, 3, 4, 5)),
    el(0x7fe00010, "OW", bytes(0, 0)),
    {
      tag: 0x00540016,
      vr: "SQ",
      value: new Uint8Array(0),
      items: [[el(0x00181072, "TM", "070000"), el(0x00091011, "OB", new Uint8Array(4096))]],
    },
    { tag: 0x00081115, vr: "SQ", value: new Uint8Array(0), items: [] },
  ], { specificCharacterSet: "", bulkDataUri: uri });
  assert.deepEqual(json["00282000"], { vr: "OB", BulkDataURI: "bulk/00282000" });
  assert.deepEqual(json["00091010"], { vr: "UN", InlineBinary: "AQIDBAU=" });
  assert.deepEqual(json["7FE00010"], { vr: "OW", BulkDataURI: "bulk/7fe00010" });
  const item = (json["00540016"].Value as Record<string, unknown>[])[0];
  assert.deepEqual(item["00181072"], { vr: "TM", Value: ["070000"] });
  assert.deepEqual(item["00091011"], { vr: "OB", BulkDataURI: "bulk/00540016/0/00091011" });
  assert.deepEqual(json["00081115"], { vr: "SQ" }, "empty sequence");
});

Deno.test("toDicomJson() writes AT as tag strings and leaves out group lengths", () => {
  const json = toDicomJson([
    el(0x00080000, "UL", bytes(4, 0, 0, 0)),
    el(0x00209165, "AT", bytes(0x20, 0x00, 0x32, 0x00, 0x18, 0x00, 0x50, 0x00)),
  ], { specificCharacterSet: "" });
  assert.equal(json["00080000"], undefined);
  assert.deepEqual(json["00209165"], { vr: "AT", Value: ["00200032", "00180050"] });
});

Deno.test("base64() matches the platform's encoder", () => {
  for (let n = 0; n < 10; n++) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 77 + n) & 255);
    assert.equal(base64(b), btoa(String.fromCharCode(...b)));
  }
});

Deno.test("dictionaryVr() gives Implicit VR elements their dictionary VR; sequences decode", () => {
  assert.equal(dictionaryVr(0x00181072), "TM");
  assert.equal(dictionaryVr(0x7fe00010), "OW");
  assert.equal(dictionaryVr(0x00090010), "LO", "private creator");
  assert.equal(dictionaryVr(0x00091010), "UN", "private element");
  assert.equal(tagOfKeyword("PatientName"), 0x00100010);
  assert.equal(tagOfKeyword("NoSuchKeyword"), undefined);
  // (0054,0016) Radiopharmaceutical Information Sequence, defined length, Implicit VR.
  const item = [0x18, 0x00, 0x72, 0x10, 6, 0, 0, 0, ...ascii("070000")];
  const seq = [0xfe, 0xff, 0x00, 0xe0, item.length, 0, 0, 0, ...item];
  const data = Uint8Array.from([0x54, 0x00, 0x16, 0x00, seq.length, 0, 0, 0, ...seq]);
  const { elements } = decodeDatasetPart(data, encodingOf("1.2.840.10008.1.2"), {
    vrOf: dictionaryVr,
  });
  const json = toDicomJson(elements, { specificCharacterSet: "" });
  assert.deepEqual(json["00540016"], {
    vr: "SQ",
    Value: [{ "00181072": { vr: "TM", Value: ["070000"] } }],
  });
});
