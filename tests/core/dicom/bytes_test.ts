// concatBytes: the parts in order in one buffer; a single part is handed back as it is.
import assert from "node:assert/strict";
import { concatBytes } from "../../../src/core/dicom/bytes.ts";

Deno.test("concatBytes() joins the parts in order, empty parts included", () => {
  const out = concatBytes([Uint8Array.of(1, 2), new Uint8Array(0), Uint8Array.of(3)]);
  assert.deepEqual([...out], [1, 2, 3]);
  assert.equal(concatBytes([]).length, 0);
});

Deno.test("concatBytes() of one part is that part, without a copy", () => {
  const only = Uint8Array.of(9, 8, 7);
  assert.equal(concatBytes([only]), only);
});
