// WADO-RS of compressed objects (PS3.18 8.7.3.5): objects compressed by the reference tools are
// stored as they are (STOW-RS), then retrieved decoded: whole objects in Explicit VR Little
// Endian at instance and series level, frames with no transfer syntax asked (the default,
// Explicit VR LE) and rendered images and thumbnails. Pixels are compared with the reference
// decoders' output (dcmdjpeg, dcmdjpls, dcmdrle, gdcmconv --raw): identical for lossless
// syntaxes, within 2 levels for lossy ones. A compressed syntax that is not the stored one
// cannot be produced (no encoders): 406.
import assert from "node:assert/strict";
import { decodeFileMetaInformation } from "../../../src/core/dicom/part10.ts";
import { imagePixelInfo } from "../../../src/core/dicom/instance_header.ts";
import { encodeRendered, renderFrame } from "../../../src/core/dicom/rendered.ts";
import {
  convert,
  haveTools,
  nativeObject,
  type NativePixels,
  type NativeSpec,
  readNative,
  REFERENCE_CODECS,
} from "../../helpers/codec_corpus.ts";
import { newUid } from "../../helpers/corpus.ts";
import { startMiniPacs } from "../../helpers/server.ts";
import { get, parseMultipart } from "./fixture.ts";

const ELE = "1.2.840.10008.1.2.1";
const MULTIPART_DICOM = 'multipart/related; type="application/dicom"';
const OCTETS = 'multipart/related; type="application/octet-stream"';

const ready = haveTools("dcmcjpeg", "dcmdjpeg", "dcmcjpls", "dcmdjpls", "dcmcrle", "dcmdrle");
const gdcm = haveTools("gdcmconv");

interface Case {
  name: string;
  ts: string;
  bytes: Uint8Array;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  reference: NativePixels;
  lossless: boolean;
  frames: number;
}

const MONO12: NativeSpec = {
  rows: 64,
  columns: 48,
  samplesPerPixel: 1,
  bitsAllocated: 16,
  bitsStored: 12,
};
const RGB8: NativeSpec = { ...MONO12, samplesPerPixel: 3, bitsAllocated: 8, bitsStored: 8 };

async function makeCases(dir: string, study: string): Promise<Case[]> {
  const plan: [keyof typeof REFERENCE_CODECS, NativeSpec][] = [
    ["jpegBaseline", { ...RGB8, frames: 2 }],
    ["jpegLossless", MONO12],
    ["jpegLs", MONO12],
    ["jpegLsNear", MONO12],
    ["rle", { ...MONO12, frames: 3 }],
    ["j2k", MONO12],
    ["j2kLossy", RGB8],
  ];
  const cases: Case[] = [];
  for (const [key, spec] of plan) {
    const codec = REFERENCE_CODECS[key];
    if (codec.encode[0] === "gdcmconv" && !gdcm) continue;
    const base = `${dir}/${key}`;
    await Deno.writeFile(`${base}.dcm`, nativeObject({ ...spec, studyInstanceUid: study }));
    await convert(codec.encode, `${base}.dcm`, `${base}.c.dcm`);
    await convert(codec.decode, `${base}.c.dcm`, `${base}.r.dcm`);
    const bytes = await Deno.readFile(`${base}.c.dcm`);
    const reference = readNative(await Deno.readFile(`${base}.r.dcm`));
    const series = reference.elements.find((e) => e.tag === 0x0020000e)!;
    cases.push({
      name: codec.name,
      ts: codec.ts,
      bytes,
      sopInstanceUid: decodeFileMetaInformation(bytes).meta.sopInstanceUid,
      seriesInstanceUid: new TextDecoder().decode(series.value).replace(/\0$/, "").trim(),
      reference,
      lossless: codec.lossless,
      frames: spec.frames ?? 1,
    });
  }
  return cases;
}

/** Equal for lossless syntaxes, within `tolerance` levels per sample for lossy ones. */
function assertPixels(
  got: Uint8Array,
  want: Uint8Array,
  bytesPerSample: number,
  lossless: boolean,
  what: string,
) {
  assert.equal(got.length, want.length, `${what}: length`);
  if (lossless) {
    assert.ok(got.every((b, i) => b === want[i]), `${what}: pixels differ`);
    return;
  }
  const read = (a: Uint8Array, i: number) =>
    bytesPerSample === 2 ? a[2 * i] | (a[2 * i + 1] << 8) : a[i];
  let worst = 0;
  for (let i = 0; i < got.length / bytesPerSample; i++) {
    worst = Math.max(worst, Math.abs(read(got, i) - read(want, i)));
  }
  assert.ok(worst <= 2, `${what}: differs by ${worst} levels`);
}

/** The zlib-inflated IDAT of a PNG, and its size. */
async function pngRaw(png: Uint8Array): Promise<{ w: number; h: number; raw: Uint8Array }> {
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "PNG signature");
  const dv = new DataView(png.buffer, png.byteOffset);
  let at = 8;
  const idat: Uint8Array<ArrayBuffer>[] = [];
  while (at < png.length) {
    const length = dv.getUint32(at);
    if (new TextDecoder().decode(png.subarray(at + 4, at + 8)) === "IDAT") {
      idat.push(png.slice(at + 8, at + 8 + length));
    }
    at += 12 + length;
  }
  const stream = new Blob(idat).stream().pipeThrough(new DecompressionStream("deflate"));
  const raw = new Uint8Array(await new Response(stream).arrayBuffer());
  return { w: dv.getUint32(16), h: dv.getUint32(20), raw };
}

function multipartBody(boundary: string, files: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const enc = new TextEncoder();
  const pieces: Uint8Array<ArrayBuffer>[] = [];
  for (const f of files) {
    pieces.push(enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`));
    pieces.push(f as Uint8Array<ArrayBuffer>, enc.encode("\r\n"));
  }
  pieces.push(enc.encode(`--${boundary}--\r\n`));
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) out.set(p, (at += p.length) - p.length);
  return out;
}

Deno.test({
  name: "WADO-RS decodes compressed objects: whole objects, frames, rendered, thumbnails",
  ignore: !ready,
  async fn(t) {
    if (!gdcm) console.log("SKIP: gdcmconv is not installed (JPEG 2000 cases left out)");
    const dir = await Deno.makeTempDir({ prefix: "minipacs-wado-decoded-" });
    const study = newUid();
    const pacs = await startMiniPacs({ http: { enabled: true, port: 0, bind: "127.0.0.1" } });
    try {
      const cases = await makeCases(dir, study);
      const root = `http://127.0.0.1:${pacs.httpPort}/dicom-web`;
      const boundary = "decoded-test-boundary";
      const stored = await fetch(`${root}/studies`, {
        method: "POST",
        headers: {
          "Content-Type": `multipart/related; type="application/dicom"; boundary=${boundary}`,
        },
        body: multipartBody(boundary, cases.map((c) => c.bytes)),
      });
      assert.equal(stored.status, 200, await stored.text());
      const url = (c: Case) =>
        `${root}/studies/${study}/series/${c.seriesInstanceUid}/instances/${c.sopInstanceUid}`;

      for (const c of cases) {
        const bytesPerSample = c.reference.pixels.length /
          (c.frames * 64 * 48 *
            (c.name.startsWith("JPEG Baseline") || c.name === "JPEG 2000" ? 3 : 1));
        await t.step(`${c.name}: the instance in Explicit VR LE`, async () => {
          const r = await get(url(c), `${MULTIPART_DICOM}; transfer-syntax=${ELE}`);
          assert.equal(r.status, 200, new TextDecoder().decode(r.body));
          const [part] = parseMultipart(r.type, r.body);
          assert.match(part.headers["content-type"], /transfer-syntax=1\.2\.840\.10008\.1\.2\.1$/);
          const got = readNative(part.body);
          assert.equal(got.transferSyntaxUid, ELE);
          assertPixels(got.pixels, c.reference.pixels, bytesPerSample, c.lossless, c.name);
        });
        await t.step(`${c.name}: each frame, no transfer syntax asked`, async () => {
          const numbers = Array.from({ length: c.frames }, (_, i) => i + 1);
          const r = await get(`${url(c)}/frames/${numbers.join(",")}`, OCTETS);
          assert.equal(r.status, 200, new TextDecoder().decode(r.body));
          assert.match(r.type, /transfer-syntax=1\.2\.840\.10008\.1\.2\.1/);
          const parts = parseMultipart(r.type, r.body);
          assert.equal(parts.length, c.frames);
          const size = c.reference.pixels.length / c.frames;
          parts.forEach((p, i) => {
            assert.equal(
              p.headers["content-type"],
              `application/octet-stream; transfer-syntax=${ELE}`,
            );
            const want = c.reference.pixels.subarray(i * size, (i + 1) * size);
            assertPixels(p.body, want, bytesPerSample, c.lossless, `${c.name} frame ${i + 1}`);
          });
        });
        await t.step(`${c.name}: rendered as the reference decode renders`, async () => {
          const frame = c.frames;
          const path = c.frames > 1 ? `/frames/${frame}/rendered` : "/rendered";
          const r = await get(`${url(c)}${path}?window=2000,4000`, "image/png");
          assert.equal(r.status, 200, new TextDecoder().decode(r.body));
          assert.equal(r.type, "image/png");
          const info = imagePixelInfo(c.reference.elements)!;
          const size = c.reference.pixels.length / c.frames;
          const want = await encodeRendered(
            renderFrame(
              c.reference.pixels.subarray((frame - 1) * size, frame * size),
              info,
              c.reference.elements,
              { window: { center: 2000, width: 4000 } },
            ),
            "image/png",
          );
          const [g, w] = [await pngRaw(r.body), await pngRaw(want)];
          assert.deepEqual([g.w, g.h], [48, 64]);
          assertPixels(g.raw, w.raw, 1, c.lossless, `${c.name} rendered`);
        });
        await t.step(`${c.name}: a JPEG thumbnail`, async () => {
          const r = await get(`${url(c)}/thumbnail?viewport=24,32`, "image/jpeg");
          assert.equal(r.status, 200, new TextDecoder().decode(r.body));
          assert.equal(r.type, "image/jpeg");
          assert.deepEqual([...r.body.subarray(0, 2)], [0xff, 0xd8], "JPEG SOI");
        });
      }
      await t.step("the whole series and study decoded: every part in Explicit VR LE", async () => {
        const r = await get(
          `${root}/studies/${study}`,
          `${MULTIPART_DICOM}; transfer-syntax=${ELE}`,
        );
        assert.equal(r.status, 200);
        const parts = parseMultipart(r.type, r.body);
        assert.equal(parts.length, cases.length);
        for (const p of parts) {
          const got = readNative(p.body);
          const c = cases.find((x) =>
            p.headers["content-location"].endsWith(`/instances/${x.sopInstanceUid}`)
          )!;
          assert.equal(got.pixels.length, c.reference.pixels.length, c.name);
        }
      });
      await t.step("a compressed syntax other than the stored one is 406", async () => {
        const c = cases[0];
        const r = await get(url(c), `${MULTIPART_DICOM}; transfer-syntax=1.2.840.10008.1.2.4.80`);
        assert.equal(r.status, 406);
        const f = await get(
          `${url(c)}/frames/1`,
          `${OCTETS}; transfer-syntax=1.2.840.10008.1.2.4.80`,
        );
        assert.equal(f.status, 406);
      });
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
