// The PS3.6 data dictionary: VRs for Implicit VR data, the codes of VRs that depend on other
// attributes, keywords for queries.
import assert from "node:assert/strict";
import {
  dictionaryVr,
  dictionaryVrCode,
  tagOfKeyword,
} from "../../../src/core/dicom/dictionary.ts";

Deno.test("dictionaryVr() gives a standard tag's VR, the usual choice for ambiguous ones", () => {
  assert.equal(dictionaryVr(0x00100010), "PN");
  assert.equal(dictionaryVr(0x00280010), "US"); // Rows
  assert.equal(dictionaryVr(0x7fe00010), "OW"); // Pixel Data: OB or OW
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
