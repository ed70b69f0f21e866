// Decoding on retrieve, checked against the reference decoders: each object is compressed by
// DCMTK, GDCM or OpenJPH, decoded by us (transcodeDataset, as the retrieve does) and by the
// same toolkit, and the pixels compared: identical for lossless syntaxes (and identical to the
// original), within 2 levels for lossy ones.
import assert from "node:assert/strict";
import { decodeFileMetaInformation } from "../../../src/core/dicom/part10.ts";
import {
  canTranscode,
  transcodeDataset,
  TranscodeError,
} from "../../../src/core/dicom/transcode.ts";
import {
  attr,
  convert,
  encapsulate,
  haveTools,
  nativeObject,
  type NativeSpec,
  netpbm,
  readNative,
  readNetpbm,
  REFERENCE_CODECS,
  type ReferenceCodec,
  testPixels,
} from "../../helpers/codec_corpus.ts";
import { run } from "../../helpers/server.ts";

const ILE = "1.2.840.10008.1.2";
const ELE = "1.2.840.10008.1.2.1";
const EBE = "1.2.840.10008.1.2.2";
const DEFLATED = "1.2.840.10008.1.2.1.99";
const HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201";
const HTJ2K = "1.2.840.10008.1.2.4.203";

const dcmtk = haveTools("dcmcjpeg", "dcmdjpeg", "dcmcjpls", "dcmdjpls", "dcmcrle", "dcmdrle");
const gdcm = haveTools("gdcmconv");
if (!gdcm) console.log("SKIP: gdcmconv is not installed (apt-get install libgdcm-tools)");
const openjph = haveTools("ojph_compress", "ojph_expand");
if (!openjph) console.log("SKIP: ojph_compress is not installed (apt-get install openjph-tools)");

const Tags = {
  photometric: 0x00280004,
  planar: 0x00280006,
  frames: 0x00280008,
  bitsStored: 0x00280101,
  highBit: 0x00280102,
  lossy: 0x00282110,
  lossyMethod: 0x00282114,
};

const MONO8: NativeSpec = {
  rows: 64,
  columns: 48,
  samplesPerPixel: 1,
  bitsAllocated: 8,
  bitsStored: 8,
};
const MONO12: NativeSpec = {
  rows: 64,
  columns: 48,
  samplesPerPixel: 1,
  bitsAllocated: 16,
  bitsStored: 12,
};
const SIGNED16: NativeSpec = { ...MONO12, bitsStored: 16, signed: true };
const RGB8: NativeSpec = {
  rows: 64,
  columns: 48,
  samplesPerPixel: 3,
  bitsAllocated: 8,
  bitsStored: 8,
};

/** Splits bytes into odd-sized chunks, as a file read or the network would. */
async function* chunks(bytes: Uint8Array, size = 777): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of source) parts.push(p.slice());
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

/** Our decode of a Part 10 file into `to`, read back. */
async function ourDecode(file: Uint8Array, to = ILE) {
  const { meta, datasetOffset } = decodeFileMetaInformation(file);
  assert.ok(canTranscode(meta.transferSyntaxUid, to), `${meta.transferSyntaxUid} -> ${to}`);
  const out = await collect(
    transcodeDataset(chunks(file.subarray(datasetOffset)), meta.transferSyntaxUid, to),
  );
  return readNative(out, to);
}

function maxDifference(a: Uint8Array, b: Uint8Array, bits: number): number {
  assert.equal(a.length, b.length, "pixel data lengths");
  let max = 0;
  if (bits === 8) {
    for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
    return max;
  }
  const da = new DataView(a.buffer, a.byteOffset, a.length);
  const db = new DataView(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i + 1 < a.length; i += 2) {
    max = Math.max(max, Math.abs(da.getUint16(i, true) - db.getUint16(i, true)));
  }
  return max;
}

/** Compresses a native object with the codec's tool and decodes it with its reference. */
async function viaReference(codec: ReferenceCodec, spec: NativeSpec, dir: string) {
  const base = `${dir}/${codec.ts}-${spec.samplesPerPixel}-${spec.bitsStored}-${spec.frames ?? 1}`;
  const original = testPixels(spec);
  await Deno.writeFile(`${base}.dcm`, nativeObject(spec, original));
  await convert(codec.encode, `${base}.dcm`, `${base}.c.dcm`);
  await convert(codec.decode, `${base}.c.dcm`, `${base}.r.dcm`);
  const compressed = await Deno.readFile(`${base}.c.dcm`);
  assert.equal(decodeFileMetaInformation(compressed).meta.transferSyntaxUid, codec.ts);
  return { original, compressed, reference: readNative(await Deno.readFile(`${base}.r.dcm`)) };
}

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-codec-" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const CASES: [keyof typeof REFERENCE_CODECS, NativeSpec, string][] = [
  ["jpegBaseline", RGB8, "RGB"],
  ["jpegBaseline", MONO8, "grayscale"],
  ["jpegBaseline", { ...RGB8, frames: 3 }, "RGB, 3 frames"],
  ["jpegExtended8", MONO8, "grayscale"],
  ["jpegExtended12", MONO12, "12-bit"],
  ["jpegExtended12", { ...MONO12, frames: 2 }, "12-bit, 2 frames"],
  ["jpegLossless", MONO12, "12-bit"],
  ["jpegLossless", RGB8, "RGB"],
  ["jpegLosslessSV1", SIGNED16, "signed 16-bit"],
  ["jpegLosslessSV1", MONO8, "8-bit"],
  ["jpegLosslessSV1", RGB8, "RGB"],
  ["jpegLs", MONO12, "12-bit"],
  ["jpegLs", SIGNED16, "signed 16-bit"],
  ["jpegLs", RGB8, "RGB"],
  ["jpegLsNear", MONO12, "12-bit"],
  ["rle", MONO12, "12-bit"],
  ["rle", RGB8, "RGB"],
  ["rle", { ...MONO12, frames: 5 }, "12-bit, 5 frames"],
  ["rle", { ...MONO8, rows: 7, columns: 5 }, "8-bit of odd length"],
  ["j2k", MONO12, "12-bit"],
  ["j2k", SIGNED16, "signed 16-bit"],
  ["j2k", RGB8, "RGB"],
  ["j2kLossy", RGB8, "RGB"],
  ["j2kLossy", MONO12, "12-bit"],
];

for (const [key, spec, what] of CASES) {
  const codec = REFERENCE_CODECS[key];
  const tool = codec.encode[0];
  Deno.test({
    name: `${codec.name} (${codec.ts}), ${what}: decoded as ${
      tool === "gdcmconv" ? "GDCM" : "DCMTK"
    } decodes it`,
    ignore: tool === "gdcmconv" ? !gdcm : !dcmtk,
    async fn() {
      await withDir(async (dir) => {
        const { original, compressed, reference } = await viaReference(codec, spec, dir);
        const ours = await ourDecode(compressed);
        if (original.length % 2) {
          // Pixel Data has even length (PS3.5 7.1.1): one NUL byte after the last pixel.
          assert.equal(ours.pixels.length, original.length + 1);
          assert.equal(ours.pixels.at(-1), 0);
          ours.pixels = ours.pixels.subarray(0, original.length);
          reference.pixels = reference.pixels.subarray(0, original.length);
        }
        if (codec.lossless) {
          assert.deepEqual(ours.pixels, reference.pixels, "identical to the reference decode");
          assert.deepEqual(ours.pixels, original, "identical to the original");
        } else {
          const d = maxDifference(ours.pixels, reference.pixels, spec.bitsAllocated);
          assert.ok(d <= 2, `lossy: ${d} levels from the reference decode`);
          assert.equal(attr(ours, Tags.lossy), "01", "Lossy Image Compression");
          assert.ok(attr(ours, Tags.lossyMethod), "Lossy Image Compression Method");
        }
        assert.equal(attr(ours, Tags.photometric), attr(reference, Tags.photometric));
        assert.equal(attr(ours, Tags.bitsStored), String(spec.bitsStored));
        assert.equal(attr(ours, Tags.highBit), String(spec.bitsStored - 1));
        if (spec.samplesPerPixel === 3) assert.equal(attr(ours, Tags.planar), "0");
        if (spec.frames) assert.equal(attr(ours, Tags.frames), String(spec.frames));
      });
    },
  });
}

Deno.test({
  name:
    "JPEG Baseline from a real JPEG file (img2dcm): YBR_FULL_422 becomes RGB, as dcmdjpeg decodes it",
  ignore: !dcmtk || !haveTools("img2dcm"),
  async fn() {
    await withDir(async (dir) => {
      // A JPEG file as a camera or converter writes it: the stream dcmcjpeg made, with JFIF.
      const { compressed } = await viaReference(REFERENCE_CODECS.jpegBaseline, RGB8, dir);
      const start = compressed.findIndex((b, i) => b === 0xff && compressed[i + 1] === 0xd8);
      let end = compressed.length - 1;
      while (!(compressed[end - 1] === 0xff && compressed[end] === 0xd9)) end--;
      await Deno.writeFile(`${dir}/photo.jpg`, compressed.slice(start, end + 1));
      const r = await run("img2dcm", ["-i", "JPEG", `${dir}/photo.jpg`, `${dir}/photo.dcm`]);
      assert.equal(r.code, 0, r.stderr);
      await convert(["dcmdjpeg", "+te"], `${dir}/photo.dcm`, `${dir}/photo.r.dcm`);
      const file = await Deno.readFile(`${dir}/photo.dcm`);
      assert.equal(
        decodeFileMetaInformation(file).meta.transferSyntaxUid,
        REFERENCE_CODECS.jpegBaseline.ts,
      );
      const reference = readNative(await Deno.readFile(`${dir}/photo.r.dcm`));
      const ours = await ourDecode(file, ELE);
      assert.equal(attr(ours, Tags.photometric), "RGB");
      assert.equal(attr(reference, Tags.photometric), "RGB");
      assert.ok(maxDifference(ours.pixels, reference.pixels, 8) <= 2);
      assert.equal(attr(ours, Tags.lossy), "01");
    });
  },
});

for (
  const [ts, reversible, what] of [
    [HTJ2K_LOSSLESS, true, "lossless"],
    [HTJ2K, false, "lossy"],
  ] as const
) {
  for (const spec of [MONO12, RGB8]) {
    Deno.test({
      name: `HTJ2K ${what} (${ts}), ${
        spec.samplesPerPixel === 3 ? "RGB" : "12-bit"
      }: decoded as ojph_expand decodes it`,
      ignore: !openjph,
      async fn() {
        await withDir(async (dir) => {
          const original = testPixels(spec);
          const ext = spec.samplesPerPixel === 3 ? "ppm" : "pgm";
          await Deno.writeFile(`${dir}/in.${ext}`, netpbm(original, spec));
          const args = [
            "-i",
            `${dir}/in.${ext}`,
            "-o",
            `${dir}/out.j2c`,
            "-reversible",
            String(reversible),
          ];
          if (!reversible) args.push("-qstep", "0.01");
          const c = await run("ojph_compress", args);
          assert.equal(c.code, 0, c.stderr + c.stdout);
          const e = await run("ojph_expand", ["-i", `${dir}/out.j2c`, "-o", `${dir}/back.${ext}`]);
          assert.equal(e.code, 0, e.stderr + e.stdout);
          const reference = readNetpbm(await Deno.readFile(`${dir}/back.${ext}`));
          const file = encapsulate(nativeObject(spec, original), ts, [
            await Deno.readFile(`${dir}/out.j2c`),
          ]);
          const ours = await ourDecode(file);
          if (reversible) {
            assert.deepEqual(ours.pixels, reference);
            assert.deepEqual(ours.pixels, original);
          } else {
            assert.ok(maxDifference(ours.pixels, reference, spec.bitsAllocated) <= 2);
            assert.equal(attr(ours, Tags.lossy), "01");
          }
          assert.equal(
            attr(ours, Tags.photometric),
            spec.samplesPerPixel === 3 ? "RGB" : "MONOCHROME2",
          );
        });
      },
    });
  }
}

Deno.test({
  name:
    "Deflated Explicit VR LE (dcmconv +td) is inflated: Implicit and Explicit VR LE, as dcmconv +te reads it",
  ignore: !haveTools("dcmconv"),
  async fn() {
    await withDir(async (dir) => {
      const spec = { ...MONO12, frames: 2 };
      const original = testPixels(spec);
      await Deno.writeFile(`${dir}/in.dcm`, nativeObject(spec, original));
      await convert(["dcmconv", "+td"], `${dir}/in.dcm`, `${dir}/deflated.dcm`);
      await convert(["dcmconv", "+te"], `${dir}/deflated.dcm`, `${dir}/back.dcm`);
      const file = await Deno.readFile(`${dir}/deflated.dcm`);
      assert.equal(decodeFileMetaInformation(file).meta.transferSyntaxUid, DEFLATED);
      const back = await Deno.readFile(`${dir}/back.dcm`);
      const reference = back.subarray(decodeFileMetaInformation(back).datasetOffset);
      const { datasetOffset } = decodeFileMetaInformation(file);
      const explicit = await collect(
        transcodeDataset(chunks(file.subarray(datasetOffset), 101), DEFLATED, ELE),
      );
      assert.deepEqual(explicit, reference, "the dataset DCMTK inflates, byte for byte");
      const implicit = await ourDecode(file, ILE);
      assert.deepEqual(implicit.pixels, original);
      assert.equal(attr(implicit, Tags.frames), "2");
    });
  },
});

Deno.test({
  name: "a decoded object in Explicit VR Big Endian has its 16-bit pixels swapped",
  ignore: !dcmtk,
  async fn() {
    await withDir(async (dir) => {
      const { original, compressed } = await viaReference(REFERENCE_CODECS.rle, MONO12, dir);
      const ours = await ourDecode(compressed, EBE); // readNative swaps back
      assert.deepEqual(ours.pixels, original);
    });
  },
});

Deno.test({
  name: "a corrupt compressed frame fails with a TranscodeError that says why",
  ignore: !dcmtk,
  async fn() {
    await withDir(async (dir) => {
      for (const key of ["jpegBaseline", "jpegLs", "rle"] as const) {
        const spec = key === "jpegBaseline" ? RGB8 : MONO12;
        const { compressed } = await viaReference(REFERENCE_CODECS[key], spec, dir);
        const broken = compressed.slice();
        // Garble the second half of the only fragment (entropy-coded data, segment bytes).
        const start = broken.length - Math.floor(broken.length / 4);
        for (let i = start; i < broken.length - 12; i++) broken[i] = (i * 37) & 0xff;
        const { meta, datasetOffset } = decodeFileMetaInformation(broken);
        await assert.rejects(
          collect(
            transcodeDataset(chunks(broken.subarray(datasetOffset)), meta.transferSyntaxUid, ILE),
          ),
          (e: Error) => {
            assert.ok(e instanceof TranscodeError, `${key}: ${e}`);
            assert.match(e.message, /cannot decode/);
            return true;
          },
          key,
        );
      }
    });
  },
});
