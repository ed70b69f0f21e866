// The data dictionary table the server looks tags up in gives what dcmjs's PS3.6 dictionary
// (its source) gives: the same VR for every tag, repeating groups included, the same tag for
// every keyword; and the table is exactly what scripts/gen_dictionary.ts writes today.
import assert from "node:assert/strict";
import dcmjs from "dcmjs";
import {
  dictionaryEntry,
  dictionaryVr,
  dictionaryVrCode,
  tagOfKeyword,
} from "../../../src/core/dicom/dictionary.ts";
import { DICTIONARY_RECORDS } from "../../../src/core/dicom/dictionary_table.ts";
import { TABLE_PATH, tableSource } from "../../../scripts/gen_dictionary.ts";

const DCMJS = dcmjs.data.DicomMetaDictionary as unknown as {
  dictionary: Record<string, { tag: string; vr: string; name: string } | undefined>;
  nameMap: Record<string, { tag: string; vr: string; name: string } | undefined>;
};

const hex = (tag: number) => (tag >>> 0).toString(16).toUpperCase().padStart(8, "0");

Deno.test("the dictionary table is what scripts/gen_dictionary.ts writes from the pinned dcmjs", async () => {
  assert.equal(await Deno.readTextFile(TABLE_PATH), await tableSource());
});

Deno.test("every tag of the table, and every group of a repeating one, has dcmjs's VR and keyword", () => {
  let checked = 0;
  for (const record of DICTIONARY_RECORDS.join(" ").split(" ")) {
    const groups = record[2] === "x"
      ? Array.from({ length: 256 }, (_, i) => parseInt(record.slice(0, 2), 16) * 256 + i)
      : [parseInt(record.slice(0, 4), 16)];
    for (const group of groups) {
      const tag = (group * 0x10000 + parseInt(record.slice(4, 8), 16)) >>> 0;
      const theirs = DCMJS.dictionary[hex(tag)];
      assert.ok(theirs, `dcmjs knows ${hex(tag)}`);
      assert.equal(dictionaryVrCode(tag), theirs.vr, hex(tag));
      assert.equal(dictionaryEntry(tag)?.keyword, theirs.name, hex(tag));
      checked++;
    }
  }
  assert.ok(checked > 5000 + 70 * 255, `${checked} tags checked`);
});

Deno.test("VRs of Implicit VR data: ambiguous ones resolved, private and unknown tags as before", () => {
  assert.equal(dictionaryVr(0x00100010), "PN");
  assert.equal(dictionaryVr(0x7fe00010), "OW"); // Pixel Data: OB or OW
  assert.equal(dictionaryVr(0x00280106), "US"); // Smallest Image Pixel Value: US or SS
  assert.equal(dictionaryVr(0x60023000), "OW"); // Overlay Data of the second overlay
  assert.equal(dictionaryVr(0x50100005), "US"); // a curve group
  assert.equal(dictionaryVr(0x00090010), "LO"); // a private creator
  assert.equal(dictionaryVr(0x00091001), "UN"); // a private element
  assert.equal(dictionaryVr(0x00080000), "UL"); // a group length
  assert.equal(dictionaryVr(0x00450001), "UN"); // nobody's
  assert.equal(dictionaryEntry(0x00450001), undefined);
});

Deno.test("keywords give dcmjs's tags; a keyword in another case is found only when asked", () => {
  // A few retired keywords name more than one tag (RETIRED_undefined three): either may come.
  const keywords = DICTIONARY_RECORDS.join(" ").split(" ").map((r) => r.slice(10));
  const shared = new Set(keywords.filter((k, i) => keywords.indexOf(k) !== i));
  let checked = 0;
  for (const [keyword, theirs] of Object.entries(DCMJS.nameMap)) {
    if (!theirs || shared.has(keyword)) continue;
    assert.equal(hex(tagOfKeyword(keyword)!), theirs.tag.replace(/[(),]/g, ""), keyword);
    checked++;
  }
  assert.ok(checked > 5000, `${checked} keywords checked`);
  assert.equal(tagOfKeyword("OverlayData"), 0x60003000);
  assert.equal(tagOfKeyword("patientname"), undefined);
  assert.equal(tagOfKeyword("patientname", true), 0x00100010);
  assert.equal(tagOfKeyword("NoSuchKeyword", true), undefined);
});

Deno.test("dictionaryVr() gives a standard tag's VR, the usual choice for ambiguous ones", () => {
  assert.equal(dictionaryVr(0x00280010), "US"); // Rows
  assert.equal(dictionaryVr(0x00091010), "UN"); // private, no creator known
});

Deno.test("dictionaryVrCode() keeps the ambiguous codes for the transcoder to resolve", () => {
  assert.equal(dictionaryVrCode(0x00100010), "PN");
  assert.equal(dictionaryVrCode(0x7fe00010), "ox");
  assert.equal(dictionaryVrCode(0x00280106), "xs"); // Smallest Image Pixel Value: US or SS
  assert.equal(dictionaryVrCode(0x00990099), "UN");
});

Deno.test("tagOfKeyword() finds PS3.6 keywords, nothing for unknown ones", () => {
  assert.equal(tagOfKeyword("PatientName"), 0x00100010);
  assert.equal(tagOfKeyword("StudyInstanceUID"), 0x0020000d);
  assert.equal(tagOfKeyword("NoSuchKeyword"), undefined);
});
