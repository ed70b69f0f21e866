// Media types of DICOMweb requests (PS3.18 8.7): Accept ranges by preference, parameters with
// quoted values, wildcards.
import assert from "node:assert/strict";
import { parseAccept, parseMediaType, rangeAdmits } from "../../../src/web/dicomweb/media_type.ts";

Deno.test("parseMediaType() reads parameters, quoted values and separators inside quotes", () => {
  const m = parseMediaType('Multipart/Related; type="application/dicom; x=1"; boundary=abc');
  assert.equal(m.type, "multipart/related");
  assert.deepEqual(m.params, { type: "application/dicom; x=1", boundary: "abc" });
  assert.equal(m.q, 1);
});

Deno.test("parseAccept() orders by q, keeps the header's order on ties, drops q=0", () => {
  const ranges = parseAccept("application/json;q=0.5, application/dicom+json, text/html;q=0");
  assert.deepEqual(ranges.map((r) => r.type), ["application/dicom+json", "application/json"]);
  assert.deepEqual(parseAccept(null).map((r) => r.type), ["*/*"]);
  assert.deepEqual(parseAccept("  ").map((r) => r.type), ["*/*"]);
});

Deno.test("rangeAdmits() takes exact types, type/* and */*", () => {
  const range = (type: string) => ({ type, params: {}, q: 1 });
  assert.ok(rangeAdmits(range("image/*"), "image/jpeg"));
  assert.ok(rangeAdmits(range("*/*"), "application/dicom"));
  assert.ok(rangeAdmits(range("application/dicom"), "application/dicom"));
  assert.ok(!rangeAdmits(range("image/*"), "application/dicom"));
});
