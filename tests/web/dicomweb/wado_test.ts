// WADO-RS against the running server: objects, metadata at three levels, frames, bulk data
// and rendered images of what storescu stored; 404, 400 and 406 where they belong.
import assert from "node:assert/strict";
import jpeg from "jpeg-js";
import { decodeFileMetaInformation } from "../../../src/core/dicom/part10.ts";
import { elementValues } from "../../helpers/dataset_values.ts";
import { CORPUS_CLASSES, makeObject } from "../../helpers/corpus.ts";
import {
  dicomWebFixture,
  dicomWebReady,
  get,
  json,
  parseMultipart,
  storeCorpus,
} from "./fixture.ts";

type Json = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string }>;
const MULTIPART_DICOM = 'multipart/related; type="application/dicom"';
const OCTETS = 'multipart/related; type="application/octet-stream"';

/** The dataset of a Part 10 file, without preamble and file meta. */
function datasetOf(bytes: Uint8Array): { ts: string; dataset: Uint8Array } {
  const { meta, datasetOffset } = decodeFileMetaInformation(bytes);
  return { ts: meta.transferSyntaxUid, dataset: bytes.subarray(datasetOffset) };
}

/** The zlib-inflated IDAT of a PNG, and its width and height. */
async function pngPixels(
  png: Uint8Array,
): Promise<{ width: number; height: number; raw: Uint8Array }> {
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "PNG signature");
  const dv = new DataView(png.buffer, png.byteOffset);
  const width = dv.getUint32(16);
  const height = dv.getUint32(20);
  let at = 8;
  const idat: Uint8Array<ArrayBuffer>[] = [];
  while (at < png.length) {
    const length = dv.getUint32(at);
    const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
    if (type === "IDAT") idat.push(png.slice(at + 8, at + 8 + length));
    at += 12 + length;
  }
  const stream = new Blob(idat).stream().pipeThrough(new DecompressionStream("deflate"));
  return { width, height, raw: new Uint8Array(await new Response(stream).arrayBuffer()) };
}

Deno.test({
  name: "WADO-RS serves stored objects, metadata, frames and rendered images",
  ignore: !dicomWebReady,
  async fn(t) {
    const f = await dicomWebFixture();
    const [ct] = f.ct;
    const study = `${f.root}/studies/${ct.studyInstanceUid}`;
    const series = `${study}/series/${ct.seriesInstanceUid}`;
    const instance = `${series}/instances/${ct.sopInstanceUid}`;
    try {
      await t.step("an instance as stored: the same dataset bytes", async () => {
        const r = await get(instance, `${MULTIPART_DICOM}; transfer-syntax=*`);
        assert.equal(r.status, 200);
        assert.match(r.type, /^multipart\/related; type="application\/dicom"/);
        const parts = parseMultipart(r.type, r.body);
        assert.equal(parts.length, 1);
        assert.match(parts[0].headers["content-type"], /transfer-syntax=1\.2\.840\.10008\.1\.2\.1/);
        const original = datasetOf(await Deno.readFile(ct.path));
        const got = datasetOf(parts[0].body);
        assert.deepEqual(got.dataset, original.dataset);
      });
      await t.step("a series and a study: one part per instance", async () => {
        for (const url of [series, study]) {
          const r = await get(url, MULTIPART_DICOM);
          assert.equal(r.status, 200);
          assert.equal(parseMultipart(r.type, r.body).length, 3);
        }
      });
      await t.step("another uncompressed syntax is produced; values unchanged", async () => {
        const r = await get(instance, `${MULTIPART_DICOM}; transfer-syntax=1.2.840.10008.1.2`);
        assert.equal(r.status, 200);
        const [part] = parseMultipart(r.type, r.body);
        const got = datasetOf(part.body);
        assert.equal(got.ts, "1.2.840.10008.1.2");
        const original = datasetOf(await Deno.readFile(ct.path));
        assert.deepEqual(
          elementValues(got.dataset, got.ts),
          elementValues(original.dataset, original.ts),
        );
      });
      await t.step("a syntax we can produce is 200 in it; one we cannot is 406", async () => {
        const jpegInstance =
          `${f.root}/studies/${f.jpeg.studyInstanceUid}/series/${f.jpeg.seriesInstanceUid}/instances/${f.jpeg.sopInstanceUid}`;
        // JPEG Baseline is decoded: the object comes in Explicit VR Little Endian.
        const decoded = await get(
          jpegInstance,
          `${MULTIPART_DICOM}; transfer-syntax=1.2.840.10008.1.2.1`,
        );
        assert.equal(decoded.status, 200);
        const [part] = parseMultipart(decoded.type, decoded.body);
        assert.match(part.headers["content-type"], /transfer-syntax=1\.2\.840\.10008\.1\.2\.1$/);
        assert.equal(datasetOf(part.body).ts, "1.2.840.10008.1.2.1");
        // Nothing is encoded into JPEG 2000 here: 406, with the reason.
        const refused = await get(
          instance,
          `${MULTIPART_DICOM}; transfer-syntax=1.2.840.10008.1.2.4.90`,
        );
        assert.equal(refused.status, 406);
        assert.match(new TextDecoder().decode(refused.body), /1\.2\.840\.10008\.1\.2\.4\.90/);
        assert.equal((await get(instance, "image/gif")).status, 406);
      });
      await t.step(
        "series metadata: every instance, numbers, names, Pixel Data as bulk data",
        async () => {
          const r = await get(`${series}/metadata`, "application/dicom+json");
          assert.equal(r.status, 200);
          const list = json(r.body) as Json[];
          assert.equal(list.length, 3);
          assert.deepEqual(
            list.map((i) => i["00200013"].Value![0]),
            [1, 2, 3],
            "by Instance Number",
          );
          const first = list[0];
          assert.deepEqual(first["00100010"], { vr: "PN", Value: [{ Alphabetic: "Doe^John" }] });
          assert.deepEqual(first["00280010"], { vr: "US", Value: [32] });
          assert.deepEqual(first["00281052"], { vr: "DS", Value: [-1024] });
          assert.equal(first["7FE00010"].Value, undefined, "never inline");
          const bulk = first["7FE00010"].BulkDataURI!;
          assert.ok(bulk.startsWith(`${f.root}/studies/`), bulk);
          const b = await get(bulk, OCTETS);
          assert.equal(b.status, 200);
          const [part] = parseMultipart(b.type, b.body);
          assert.equal(part.body.length, 32 * 32 * 2);
          // The second request is served from the metadata cache, identically.
          const again = await get(`${series}/metadata`, "application/dicom+json");
          assert.deepEqual(json(again.body), list);
        },
      );
      await t.step("study and instance metadata; Implicit VR gets dictionary VRs", async () => {
        assert.equal((json((await get(`${study}/metadata`)).body) as Json[]).length, 3);
        const [one] = json((await get(`${instance}/metadata`)).body) as Json[];
        assert.equal(one["00080018"].Value![0], ct.sopInstanceUid);
        const mr =
          `${f.root}/studies/${f.mr.studyInstanceUid}/series/${f.mr.seriesInstanceUid}/instances/${f.mr.sopInstanceUid}`;
        const [m] = json((await get(`${mr}/metadata`)).body) as Json[];
        assert.deepEqual(m["00100010"], { vr: "PN", Value: [{ Alphabetic: "Roe^Jane" }] });
        assert.equal(m["00080060"].vr, "CS");
        assert.equal(m["7FE00010"].vr, "OW");
        assert.deepEqual(m["00280030"], { vr: "DS", Value: [0.5, 0.5] });
        assert.deepEqual(m["00280009"], { vr: "AT", Value: ["00181063"] });
        assert.deepEqual(m["00081032"], {
          vr: "SQ",
          Value: [{
            "00080100": { vr: "SH", Value: ["CODE1"] },
            "00080102": { vr: "SH", Value: ["DCM"] },
          }],
        });
        assert.deepEqual(m["00090010"], { vr: "LO", Value: ["MINIPACS TEST"] });
        assert.deepEqual(m["00091001"], { vr: "UN", InlineBinary: btoa("private value ") });
      });
      await t.step("native frames; Big Endian frames come little endian", async () => {
        const r = await get(`${instance}/frames/1`, OCTETS);
        assert.equal(r.status, 200);
        const [frame] = parseMultipart(r.type, r.body);
        assert.match(
          frame.headers["content-type"],
          /application\/octet-stream; transfer-syntax=1\.2\.840\.10008\.1\.2\.1/,
        );
        const file = await Deno.readFile(ct.path);
        assert.deepEqual(
          frame.body,
          file.subarray(file.length - 32 * 32 * 2),
          "Pixel Data is last",
        );
        const be =
          `${f.root}/studies/${f.bigEndian.studyInstanceUid}/series/${f.bigEndian.seriesInstanceUid}/instances/${f.bigEndian.sopInstanceUid}`;
        const b = await get(`${be}/frames/1`, OCTETS);
        const [bf] = parseMultipart(b.type, b.body);
        const source = await Deno.readFile(f.bigEndianSource);
        assert.deepEqual(bf.body, source.subarray(source.length - 16 * 16 * 2));
      });
      await t.step("compressed frames as stored with transfer-syntax=*", async () => {
        const us =
          `${f.root}/studies/${f.jpeg.studyInstanceUid}/series/${f.jpeg.seriesInstanceUid}/instances/${f.jpeg.sopInstanceUid}`;
        const r = await get(`${us}/frames/1`, `${OCTETS}; transfer-syntax=*`);
        assert.equal(r.status, 200);
        const [frame] = parseMultipart(r.type, r.body);
        assert.match(
          frame.headers["content-type"],
          /^image\/jpeg; transfer-syntax=1\.2\.840\.10008\.1\.2\.4\.50/,
        );
        assert.deepEqual([...frame.body.subarray(0, 2)], [0xff, 0xd8], "a JPEG stream");
        const decoded = jpeg.decode(frame.body, { useTArray: true });
        assert.equal(decoded.width, 64);
        const [meta] = json((await get(`${us}/metadata`)).body) as Json[];
        assert.equal(meta["7FE00010"].vr, "OB");
        const bulk = await get(meta["7FE00010"].BulkDataURI!, OCTETS);
        assert.equal(bulk.status, 200, "the encapsulated Pixel Data's URI resolves");
        const [whole] = parseMultipart(bulk.type, bulk.body);
        assert.deepEqual(whole.body, frame.body, "to its frames");
        const native = await get(`${us}/frames/1`, OCTETS);
        assert.equal(native.status, 200, "JPEG Baseline frames are decoded to native ones");
        const [pixels] = parseMultipart(native.type, native.body);
        const [rows, columns, samples] = ["00280010", "00280011", "00280002"]
          .map((tag) => Number(meta[tag].Value![0]));
        assert.equal(pixels.body.length, rows * columns * samples, "one native 8-bit frame");
      });
      await t.step("rendered PNG and JPEG: the object's window, viewport, quality", async () => {
        const png = await get(`${instance}/rendered`, "image/png");
        assert.equal(png.status, 200);
        assert.equal(png.type, "image/png");
        const p = await pngPixels(png.body);
        assert.equal(p.width, 32);
        assert.equal(p.raw.length, (32 + 1) * 32);
        const values = new Set(p.raw.filter((_, i) => i % 33 !== 0));
        assert.ok(values.size > 2, "not blank");
        const small = await pngPixels(
          (await get(`${instance}/rendered?viewport=16,16`, "image/png")).body,
        );
        assert.equal(small.width, 16);
        const j = await get(`${instance}/rendered?quality=50&window=0,4000`, "image/jpeg");
        assert.equal(j.type, "image/jpeg");
        const decoded = jpeg.decode(j.body, { useTArray: true });
        assert.equal(decoded.height, 32);
        const thumb = await get(`${series}/thumbnail`);
        assert.equal(thumb.status, 200);
        assert.equal(thumb.type, "image/jpeg");
        assert.equal((await get(`${instance}/frames/1/rendered`, "image/png")).status, 200);
        assert.equal((await get(`${instance}/rendered?viewport=0,0`)).status, 400);
        assert.equal((await get(`${instance}/rendered`, "image/gif")).status, 406);
      });
      await t.step(
        "metadata follows a replaced instance and a new one (no stale answer)",
        async () => {
          const before = json((await get(`${series}/metadata`)).body) as Json[];
          assert.equal(before.length, 3);
          const replaced = await makeObject({
            spec: CORPUS_CLASSES.find((c) => c.name === "CT Image")!,
            dir: f.dir,
            sopInstanceUid: ct.sopInstanceUid,
            studyInstanceUid: ct.studyInstanceUid,
            seriesInstanceUid: ct.seriesInstanceUid,
            instanceNumber: 3,
            patientId: "PAT-CT",
            patientName: "Doe^John",
            rows: 32,
            more: "(0018,0050) DS [7.5]\n",
          });
          const added = await makeObject({
            spec: CORPUS_CLASSES.find((c) => c.name === "CT Image")!,
            dir: f.dir,
            studyInstanceUid: ct.studyInstanceUid,
            seriesInstanceUid: ct.seriesInstanceUid,
            instanceNumber: 4,
            patientId: "PAT-CT",
            patientName: "Doe^John",
            rows: 32,
          });
          await storeCorpus(f.pacs.port, "MINIPACS", [replaced, added]);
          const after = json((await get(`${series}/metadata`)).body) as Json[];
          assert.equal(after.length, 4);
          const mine = after.find((i) => i["00080018"].Value![0] === ct.sopInstanceUid)!;
          assert.deepEqual(mine["00180050"], { vr: "DS", Value: [7.5] });
        },
      );
      await t.step("unknown UIDs 404, malformed ones and frame lists 400", async () => {
        assert.equal((await get(`${f.root}/studies/1.2.3.999`)).status, 404);
        assert.equal((await get(`${f.root}/studies/1.2.3.999/metadata`)).status, 404);
        assert.equal((await get(`${f.root}/studies/1.2.x/metadata`)).status, 400);
        assert.equal((await get(`${instance}/frames/2`, OCTETS)).status, 404);
        assert.equal((await get(`${instance}/frames/0,a`, OCTETS)).status, 400);
        assert.equal((await get(`${instance}/bulk/zz`)).status, 400);
      });
    } finally {
      await f.close();
    }
  },
});
