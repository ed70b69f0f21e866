// The 8-bit JPEG decoder reads each frame where libjpeg-turbo left it in WebAssembly memory:
// frames of different sizes, one after another and across a growth of that memory, decode as
// DCMTK's dcmdjpeg does (within 2 levels), and a corrupt frame in between changes nothing.
import assert from "node:assert/strict";
import { CodecError } from "../../../src/core/codecs/codec.ts";
import { frameDecoder } from "../../../src/core/codecs/registry.ts";
import { decodeFileMetaInformation } from "../../../src/core/dicom/part10.ts";
import {
  convert,
  haveTools,
  nativeObject,
  type NativeSpec,
  readNative,
  REFERENCE_CODECS,
} from "../../helpers/codec_corpus.ts";

const dcmtk = haveTools("dcmcjpeg", "dcmdjpeg");
const JPEG_BASELINE = "1.2.840.10008.1.2.4.50";

/** The one JPEG frame of a single-fragment encapsulated file (from SOI to EOI). */
function firstFrame(file: Uint8Array): Uint8Array {
  const { datasetOffset } = decodeFileMetaInformation(file);
  const start = file.findIndex((b, i) => i >= datasetOffset && b === 0xff && file[i + 1] === 0xd8);
  let end = file.length;
  while (end > start && !(file[end - 2] === 0xff && file[end - 1] === 0xd9)) end--;
  return file.subarray(start, end);
}

/** A JPEG Baseline frame of DCMTK's, the image it describes, and dcmdjpeg's pixels. */
async function sample(dir: string, rows: number, columns: number) {
  const spec: NativeSpec = { rows, columns, samplesPerPixel: 3, bitsAllocated: 8, bitsStored: 8 };
  const name = `${dir}/${rows}x${columns}`;
  await Deno.writeFile(`${name}.dcm`, nativeObject(spec));
  await convert(REFERENCE_CODECS.jpegBaseline.encode, `${name}.dcm`, `${name}.jpg.dcm`);
  await convert(REFERENCE_CODECS.jpegBaseline.decode, `${name}.jpg.dcm`, `${name}.ref.dcm`);
  const image = {
    rows,
    columns,
    samplesPerPixel: 3,
    bitsAllocated: 8,
    bitsStored: 8,
    pixelRepresentation: 0,
    photometricInterpretation: "YBR_FULL_422",
    planarConfiguration: 0,
  };
  return {
    frame: firstFrame(await Deno.readFile(`${name}.jpg.dcm`)).slice(),
    image,
    reference: readNative(await Deno.readFile(`${name}.ref.dcm`)).pixels,
  };
}

function assertClose(pixels: Uint8Array, reference: Uint8Array): void {
  assert.equal(pixels.length, reference.length);
  let worst = 0;
  for (let i = 0; i < pixels.length; i++) {
    worst = Math.max(worst, Math.abs(pixels[i] - reference[i]));
  }
  assert.ok(worst <= 2, `a sample is ${worst} levels from dcmdjpeg's`);
}

Deno.test({
  name: "JPEG Baseline frames of every size decode as dcmdjpeg's, before and after memory grows",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const small = await sample(dir, 64, 48);
      const large = await sample(dir, 2400, 1800); // 13 MB decoded: the codec's memory grows
      const decoder = await frameDecoder(JPEG_BASELINE);
      for (const s of [small, large, small, large]) {
        assertClose(decoder.decode(s.frame, s.image), s.reference);
      }
      const broken = small.frame.slice(0, small.frame.length / 2);
      assert.throws(() => decoder.decode(broken, small.image), CodecError);
      const into = new Uint8Array(small.reference.length);
      assert.equal(decoder.decode(small.frame, small.image, into), into);
      assertClose(into, small.reference);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
