// The 12-bit JPEG decoder (Process 4) behind the codec port: what DCMTK's dcmcjpeg +ee writes
// decodes within 2 levels of dcmdjpeg (the reference), and a frame cut short or mangled is a
// CodecError with a reason, after which the decoder still decodes good frames.
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
const SPEC: NativeSpec = {
  rows: 40,
  columns: 56,
  samplesPerPixel: 1,
  bitsAllocated: 16,
  bitsStored: 12,
};
const IMAGE = {
  rows: 40,
  columns: 56,
  samplesPerPixel: 1,
  bitsAllocated: 16,
  bitsStored: 12,
  pixelRepresentation: 0,
  photometricInterpretation: "MONOCHROME2",
  planarConfiguration: 0,
};

/** The one JPEG frame of a single-fragment encapsulated file (from SOI to EOI). */
function firstFrame(file: Uint8Array): Uint8Array {
  const { datasetOffset } = decodeFileMetaInformation(file);
  for (let i = datasetOffset; i + 1 < file.length; i++) {
    if (file[i] === 0xff && file[i + 1] === 0xd8) {
      const length = new DataView(file.buffer, file.byteOffset).getUint32(i - 4, true);
      return file.slice(i, i + length);
    }
  }
  throw new Error("no JPEG frame");
}

Deno.test({
  name: "12-bit JPEG: dcmcjpeg +ee frames decode within 2 levels of dcmdjpeg; corrupt ones throw",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-jpeg12-" });
    try {
      await Deno.writeFile(`${dir}/n.dcm`, nativeObject(SPEC));
      await convert(REFERENCE_CODECS.jpegExtended12.encode, `${dir}/n.dcm`, `${dir}/c.dcm`);
      await convert(REFERENCE_CODECS.jpegExtended12.decode, `${dir}/c.dcm`, `${dir}/r.dcm`);
      const frame = firstFrame(await Deno.readFile(`${dir}/c.dcm`));
      const reference = readNative(await Deno.readFile(`${dir}/r.dcm`)).pixels;
      const decoder = await frameDecoder(REFERENCE_CODECS.jpegExtended12.ts);
      const check = () => {
        const ours = decoder.decode(frame, IMAGE);
        assert.equal(ours.length, reference.length);
        let max = 0;
        for (let i = 0; i < ours.length; i += 2) {
          const a = ours[i] | (ours[i + 1] << 8);
          const b = reference[i] | (reference[i + 1] << 8);
          max = Math.max(max, Math.abs(a - b));
        }
        assert.ok(max <= 2, `${max} levels from dcmdjpeg`);
      };
      check();
      // Headers only (no scan), then a mangled frame header: a CodecError, not a crash.
      assert.throws(() => decoder.decode(frame.subarray(0, 120), IMAGE), CodecError);
      const mangled = frame.slice();
      for (let i = 2; i < 40; i++) mangled[i] = 0xff;
      assert.throws(() => decoder.decode(mangled, IMAGE), CodecError);
      check(); // the module still works
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
