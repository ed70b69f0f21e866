import assert from "node:assert/strict";
import {
  type DataElement,
  DatasetError,
  decodeDataset,
  decodeDatasetPart,
  encodeDataset,
  encodingOf,
  numbersOf,
  textElement,
  textOf,
  vrOf,
} from "../../../src/core/dicom/dataset.ts";

const IMPLICIT = encodingOf("1.2.840.10008.1.2");
const EXPLICIT = encodingOf("1.2.840.10008.1.2.1");
const BIG = encodingOf("1.2.840.10008.1.2.2");
const ascii = (t: string) => new TextEncoder().encode(t);
const b = (...bytes: number[]) => new Uint8Array(bytes);

/** An identifier with a string, a number and a nested sequence. */
function sample(): DataElement[] {
  return [
    { tag: 0x00080052, vr: "CS", value: ascii("STUDY ") },
    { tag: 0x00100010, vr: "PN", value: ascii("Doe^John") },
    { tag: 0x00280010, vr: "US", value: b(0x00, 0x02) }, // 512, little endian
    {
      tag: 0x00400275,
      vr: "SQ",
      value: new Uint8Array(0),
      items: [[
        {
          tag: 0x00321064,
          vr: "SQ",
          value: new Uint8Array(0),
          items: [[{ tag: 0x00080100, vr: "SH", value: ascii("CODE") }]],
        },
        { tag: 0x00401001, vr: "SH", value: ascii("RP1 ") },
      ]],
    },
  ];
}

function strip(elements: DataElement[]): unknown {
  return elements.map((e) => ({
    tag: e.tag,
    vr: e.vr,
    value: [...e.value],
    items: e.items?.map(strip),
  }));
}

Deno.test("encodeDataset() and decodeDataset() round-trip sequences in every encoding", () => {
  for (const encoding of [IMPLICIT, EXPLICIT, BIG]) {
    const bytes = encodeDataset(sample(), encoding);
    assert.deepEqual(strip(decodeDataset(bytes, encoding)), strip(sample()));
  }
});

Deno.test("Explicit VR Big Endian swaps binary values on the wire and back", () => {
  const bytes = encodeDataset([{ tag: 0x00280010, vr: "US", value: b(0x00, 0x02) }], BIG);
  // (0028,0010) US, length 2, value 0x0200 big endian.
  assert.deepEqual([...bytes], [0x00, 0x28, 0x00, 0x10, 0x55, 0x53, 0x00, 0x02, 0x02, 0x00]);
  const [el] = decodeDataset(bytes, BIG);
  assert.deepEqual(numbersOf(el), [512]);
});

Deno.test("decodeDataset() reads undefined-length sequences and items (Implicit VR)", () => {
  // deno-fmt-ignore
  const bytes = b(
    // (0008,1140) SQ, undefined length
    0x08, 0x00, 0x40, 0x11, 0xff, 0xff, 0xff, 0xff,
    // item, undefined length
    0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff,
    // (0008,1155) UI "1.2"+NUL
    0x08, 0x00, 0x55, 0x11, 0x04, 0x00, 0x00, 0x00, 0x31, 0x2e, 0x32, 0x00,
    // item delimiter, sequence delimiter
    0xfe, 0xff, 0x0d, 0xe0, 0x00, 0x00, 0x00, 0x00,
    0xfe, 0xff, 0xdd, 0xe0, 0x00, 0x00, 0x00, 0x00,
    // (0010,0020) LO "P1"
    0x10, 0x00, 0x20, 0x00, 0x02, 0x00, 0x00, 0x00, 0x50, 0x31,
  );
  const [sq, id] = decodeDataset(bytes, IMPLICIT);
  assert.equal(sq.vr, "SQ");
  assert.equal(textOf(sq.items![0][0], ""), "1.2");
  assert.equal(textOf(id, ""), "P1");
});

Deno.test("vrOf() knows the query keys; unknown tags read as UN, private creators as LO", () => {
  assert.equal(vrOf(0x00100010), "PN");
  assert.equal(vrOf(0x00080020), "DA");
  assert.equal(vrOf(0x0020000d), "UI");
  assert.equal(vrOf(0x00400275), "SQ");
  assert.equal(vrOf(0x00191234), "UN");
  assert.equal(vrOf(0x00190010), "LO");
  assert.equal(vrOf(0x00100000), "UL");
});

Deno.test("encodeDataset() pads odd values: UI with NUL, text with a space", () => {
  const bytes = encodeDataset([
    { tag: 0x00080018, vr: "UI", value: ascii("1.2.3") },
    { tag: 0x00100020, vr: "LO", value: ascii("ABC") },
  ], IMPLICIT);
  assert.equal(bytes[8 + 5], 0x00);
  assert.equal(bytes[16 + 6 + 3], 0x20);
});

Deno.test("decodeDataset() throws DatasetError on a truncated value; decodeDatasetPart() may stop there", () => {
  const bytes = encodeDataset(sample(), EXPLICIT);
  assert.throws(() => decodeDataset(bytes.subarray(0, bytes.length - 1), EXPLICIT), DatasetError);
  const part = decodeDatasetPart(bytes.subarray(0, bytes.length - 1), EXPLICIT, {
    allowTruncated: true,
  });
  assert.equal(part.truncated, true);
  assert.deepEqual(part.elements.map((e) => e.tag), [0x00080052, 0x00100010, 0x00280010]);
});

Deno.test("decodeDatasetPart() stops before a tag past stopAfterTag and at Pixel Data", () => {
  const elements = [...sample(), { tag: 0x7fe00010, vr: "OW", value: b(1, 2) }];
  const bytes = encodeDataset(elements, EXPLICIT);
  const part = decodeDatasetPart(bytes, EXPLICIT, { stopAfterTag: 0x00100010 });
  assert.equal(part.stopped, true);
  assert.deepEqual(part.elements.map((e) => e.tag), [0x00080052, 0x00100010]);
  const all = decodeDatasetPart(bytes, EXPLICIT);
  assert.equal(all.stopped, true);
  assert.equal(all.elements.length, 4);
});

Deno.test("decodeDataset() refuses an unknown explicit VR and sequences nested too deep", () => {
  assert.throws(
    () => decodeDataset(b(0x10, 0x00, 0x10, 0x00, 0x5a, 0x5a, 0x00, 0x00), EXPLICIT),
    /unknown VR/,
  );
  let el: DataElement = { tag: 0x00400275, vr: "SQ", value: new Uint8Array(0), items: [[]] };
  for (let i = 0; i < 80; i++) {
    el = { tag: 0x00400275, vr: "SQ", value: new Uint8Array(0), items: [[el]] };
  }
  assert.throws(() => decodeDataset(encodeDataset([el], IMPLICIT), IMPLICIT), /nested deeper/);
});

Deno.test("textElement() encodes in the character set or says it cannot; textOf() decodes", () => {
  const latin = textElement(0x00100010, "PN", "Müller^Jürgen", "ISO_IR 100")!;
  assert.equal(latin.value.length, 13);
  assert.equal(textOf(latin, "ISO_IR 100"), "Müller^Jürgen");
  assert.equal(textElement(0x00100010, "PN", "山田^太郎", "ISO_IR 100"), null);
  const utf8 = textElement(0x00100010, "PN", "山田^太郎", "ISO_IR 192")!;
  assert.equal(textOf(utf8, "ISO_IR 192"), "山田^太郎");
});

Deno.test("encodingOf() refuses a deflated transfer syntax", () => {
  assert.throws(() => encodingOf("1.2.840.10008.1.2.1.99"), DatasetError);
});
