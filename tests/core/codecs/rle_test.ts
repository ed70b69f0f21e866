import assert from "node:assert/strict";
import { CodecError, type ImageDescription } from "../../../src/core/codecs/codec.ts";
import { decodeRleFrame, encodeRleFrame } from "../../../src/core/codecs/rle.ts";

function image(o: Partial<ImageDescription>): ImageDescription {
  return {
    rows: 1,
    columns: 4,
    samplesPerPixel: 1,
    bitsAllocated: 8,
    bitsStored: 8,
    pixelRepresentation: 0,
    photometricInterpretation: "MONOCHROME2",
    planarConfiguration: 0,
    ...o,
  };
}

/** An RLE frame (PS3.5 G.5) of the given PackBits segments. */
function frame(segments: number[][]): Uint8Array {
  const header = new Uint8Array(64);
  const dv = new DataView(header.buffer);
  dv.setUint32(0, segments.length, true);
  let at = 64;
  segments.forEach((s, i) => {
    dv.setUint32(4 + 4 * i, at, true);
    at += s.length;
  });
  return new Uint8Array([...header, ...segments.flat()]);
}

Deno.test("decodeRleFrame(): literal and replicate runs, and the 128 no-op (PS3.5 G.3.1)", () => {
  // 1 literal (2 bytes), no-op, replicate 0x09 twice.
  const out = decodeRleFrame(frame([[1, 5, 6, 128, 255, 9]]), image({}));
  assert.deepEqual(out, new Uint8Array([5, 6, 9, 9]));
});

Deno.test("decodeRleFrame(): 16-bit samples are high byte segment first, written little endian", () => {
  const out = decodeRleFrame(
    frame([[1, 0x12, 0x34], [1, 0x56, 0x78]]),
    image({ columns: 2, bitsAllocated: 16, bitsStored: 16 }),
  );
  assert.deepEqual(out, new Uint8Array([0x56, 0x12, 0x78, 0x34]));
});

Deno.test("decodeRleFrame(): RGB segments (one per sample) come out pixel by pixel", () => {
  const out = decodeRleFrame(
    frame([[255, 1], [255, 2], [1, 3, 4]]),
    image({ columns: 2, samplesPerPixel: 3, photometricInterpretation: "RGB" }),
  );
  assert.deepEqual(out, new Uint8Array([1, 2, 3, 1, 2, 4]));
});

Deno.test("decodeRleFrame(): short, overlong or mis-numbered segments are CodecErrors", () => {
  const img = image({});
  assert.throws(() => decodeRleFrame(new Uint8Array(10), img), CodecError);
  assert.throws(() => decodeRleFrame(frame([[0, 1]]), img), /decodes to 1 bytes, expected 4/);
  assert.throws(() => decodeRleFrame(frame([[252, 1]]), img), CodecError, "5 > 4 bytes");
  assert.throws(() => decodeRleFrame(frame([[255, 1], [255, 1]]), img), /2 segments/);
  const bad = frame([[255, 1, 255, 1]]);
  new DataView(bad.buffer).setUint32(4, 9999, true);
  assert.throws(() => decodeRleFrame(bad, img), /bad offsets/);
});

Deno.test("encodeRleFrame(): runs become replicate runs, rows are packed apart (PS3.5 G.3.1)", () => {
  const img = image({ rows: 2, columns: 4 });
  const encoded = encodeRleFrame(new Uint8Array([7, 7, 7, 7, 1, 2, 3, 4]), img);
  const dv = new DataView(encoded.buffer);
  assert.equal(dv.getUint32(0, true), 1);
  assert.equal(dv.getUint32(4, true), 64);
  // Row 1: replicate 7 four times; row 2: four literal bytes; padded to even length.
  assert.deepEqual([...encoded.subarray(64)], [253, 7, 3, 1, 2, 3, 4, 0]);
});

Deno.test("encodeRleFrame(): 16-bit RGB and long rows decode back to the same bytes", () => {
  for (const [bits, spp] of [[8, 1], [16, 1], [8, 3], [16, 3]]) {
    const img = image({ rows: 3, columns: 300, bitsAllocated: bits, samplesPerPixel: spp });
    const n = 3 * 300 * spp * (bits / 8);
    const pixels = new Uint8Array(n);
    for (let i = 0; i < n; i++) pixels[i] = i % 7 === 0 ? 5 : (i * 31) % 256;
    for (let i = 200; i < 600; i++) pixels[i] = 9; // a run longer than 128
    assert.deepEqual(decodeRleFrame(encodeRleFrame(pixels, img), img), pixels);
  }
});
