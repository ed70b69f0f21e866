// transcodeWhole() writes a decoded object into the buffer it is given (the retrieve's buffers
// go round between the decoding threads and the sender), frames decoded in place, and gives
// the same bytes as with a buffer of its own.
import assert from "node:assert/strict";
import { encodeRleFrame } from "../../../src/core/codecs/rle.ts";
import { decodeFileMetaInformation } from "../../../src/core/dicom/part10.ts";
import { transcodeWhole } from "../../../src/core/dicom/transcode_whole.ts";
import {
  encapsulate,
  nativeObject,
  type NativeSpec,
  readNative,
  testPixels,
} from "../../helpers/codec_corpus.ts";

const ILE = "1.2.840.10008.1.2";
const RLE = "1.2.840.10008.1.2.5";

const SPEC: NativeSpec = {
  rows: 32,
  columns: 24,
  samplesPerPixel: 3,
  bitsAllocated: 8,
  bitsStored: 8,
  frames: 3,
};

/** A 3-frame RLE object (one fragment per frame) and its original pixels. */
function rleObject(): { dataset: Uint8Array; pixels: Uint8Array } {
  const pixels = testPixels(SPEC);
  const native = nativeObject(SPEC, pixels);
  const frameLength = SPEC.rows * SPEC.columns * 3;
  const image = {
    rows: SPEC.rows,
    columns: SPEC.columns,
    samplesPerPixel: 3,
    bitsAllocated: 8,
    bitsStored: 8,
    pixelRepresentation: 0,
    photometricInterpretation: "RGB",
    planarConfiguration: 0,
  };
  const frames = [0, 1, 2].map((f) =>
    encodeRleFrame(pixels.subarray(f * frameLength, (f + 1) * frameLength), image)
  );
  const file = encapsulate(native, RLE, frames);
  return { dataset: file.subarray(decodeFileMetaInformation(file).datasetOffset), pixels };
}

const pixelsOf = (dataset: Uint8Array, ts: string) => readNative(dataset, ts).pixels;

Deno.test("transcodeWhole() decodes every frame into the buffer it is given, same bytes as without", async () => {
  const { dataset, pixels } = rleObject();
  const own = await transcodeWhole(dataset, RLE, ILE, 1 << 20);
  assert.ok(own);
  assert.deepEqual(pixelsOf(own, ILE), pixels, "the frames arrive decoded, in order");

  const given = new ArrayBuffer(own.length + 4096);
  new Uint8Array(given).fill(0xee); // what an earlier object left there
  const into = await transcodeWhole(dataset, RLE, ILE, 1 << 20, given);
  assert.ok(into);
  assert.equal(into.buffer, given, "written into the given buffer, not a new one");
  assert.equal(into.byteOffset, 0);
  assert.deepEqual(into, own);

  // A buffer too small is left alone: the result is whole all the same.
  const small = new ArrayBuffer(100);
  const grown = await transcodeWhole(dataset, RLE, ILE, 1 << 20, small);
  assert.ok(grown);
  assert.notEqual(grown.buffer, small);
  assert.deepEqual(grown, own);
});

Deno.test("transcodeWhole() says null over the limit, after decoding to the end", async () => {
  const { dataset } = rleObject();
  const size = (await transcodeWhole(dataset, RLE, ILE, 1 << 20))!.length;
  assert.equal(await transcodeWhole(dataset, RLE, ILE, size - 1), null);
  assert.equal(await transcodeWhole(dataset, RLE, ILE, size - 1, new ArrayBuffer(size)), null);
  assert.equal((await transcodeWhole(dataset, RLE, ILE, size))!.length, size);
  // A corrupt last frame is known, even past the limit.
  const broken = dataset.slice();
  broken.fill(0x81, broken.length - 60, broken.length - 8);
  await assert.rejects(transcodeWhole(broken, RLE, ILE, 10));
});
