// A dataset's elements as comparable values (tag, value bytes, nested items), whatever the
// transfer syntax: for checking that a re-encoding kept every value.
import { decodeDataset, encodingOf } from "../../src/core/dicom/dataset.ts";

export function elementValues(bytes: Uint8Array, transferSyntaxUid: string): unknown[] {
  return decodeDataset(bytes, encodingOf(transferSyntaxUid)).map((e) => [
    e.tag,
    [...e.value],
    e.items?.map((i) => i.map((x) => [x.tag, [...x.value]])),
  ]);
}
