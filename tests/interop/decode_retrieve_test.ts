// Every stored image reaches every viewer: objects compressed by the reference tools are stored
// in the real server as they are, then moved with DCMTK movescu to a storescp that takes
// Implicit VR Little Endian only (+xi) and fetched with getscu accepting only uncompressed
// syntaxes. What arrives is compared with the reference decoders' output (dcmdjpeg, dcmdjpls,
// dcmdrle, gdcmconv --raw, ojph_expand): identical for lossless syntaxes, within 2 levels for
// lossy ones. The 12-bit JPEG one is also rendered by WADO-RS.
import assert from "node:assert/strict";
import jpeg from "jpeg-js";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { freePort } from "../helpers/peers.ts";
import {
  attr,
  convert,
  encapsulate,
  haveTools,
  nativeObject,
  type NativePixels,
  type NativeSpec,
  netpbm,
  readNative,
  readNetpbm,
  REFERENCE_CODECS,
  testPixels,
} from "../helpers/codec_corpus.ts";
import { newUid } from "../helpers/corpus.ts";
import { type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";
import { minipacs } from "../cli/cli.ts";

const ILE = "1.2.840.10008.1.2";
const ELE = "1.2.840.10008.1.2.1";
const DEFLATED = "1.2.840.10008.1.2.1.99";
const HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201";

const dcmtk = haveTools(
  "movescu",
  "getscu",
  "storescp",
  "storescu",
  "echoscu",
  "dcmcjpeg",
  "dcmdjpeg",
  "dcmcjpls",
  "dcmdjpls",
  "dcmcrle",
  "dcmdrle",
  "dcmconv",
);
const gdcm = haveTools("gdcmconv");
const openjph = haveTools("ojph_compress", "ojph_expand");
if (!gdcm) console.log("SKIP: gdcmconv is not installed (apt-get install libgdcm-tools)");
if (!openjph) console.log("SKIP: ojph_compress is not installed (apt-get install openjph-tools)");

interface Case {
  name: string;
  ts: string;
  path: string;
  sopInstanceUid: string;
  /** The reference decoder's pixels and attributes. */
  reference: NativePixels;
  lossless: boolean;
  bits: number;
}

const MONO12: NativeSpec = {
  rows: 64,
  columns: 48,
  samplesPerPixel: 1,
  bitsAllocated: 16,
  bitsStored: 12,
};
const RGB8: NativeSpec = {
  rows: 64,
  columns: 48,
  samplesPerPixel: 3,
  bitsAllocated: 8,
  bitsStored: 8,
};

/** One object per syntax, all in one study, with their reference decodes. */
async function makeCases(dir: string, study: string): Promise<Case[]> {
  const cases: Case[] = [];
  const plan: [keyof typeof REFERENCE_CODECS, NativeSpec][] = [
    ["jpegBaseline", { ...RGB8, frames: 2 }],
    ["jpegExtended8", { ...RGB8, samplesPerPixel: 1 }],
    ["jpegExtended12", { ...MONO12, frames: 2 }],
    ["jpegLossless", MONO12],
    ["jpegLosslessSV1", RGB8],
    ["jpegLs", MONO12],
    ["jpegLsNear", MONO12],
    ["rle", { ...MONO12, frames: 3 }],
    ["j2k", RGB8],
    ["j2kLossy", MONO12],
  ];
  for (const [key, spec] of plan) {
    const codec = REFERENCE_CODECS[key];
    if (codec.encode[0] === "gdcmconv" && !gdcm) continue;
    const base = `${dir}/${key}`;
    await Deno.writeFile(`${base}.dcm`, nativeObject({ ...spec, studyInstanceUid: study }));
    await convert(codec.encode, `${base}.dcm`, `${base}.c.dcm`);
    await convert(codec.decode, `${base}.c.dcm`, `${base}.r.dcm`);
    const bytes = await Deno.readFile(`${base}.c.dcm`);
    cases.push({
      name: codec.name,
      ts: codec.ts,
      path: `${base}.c.dcm`,
      sopInstanceUid: decodeFileMetaInformation(bytes).meta.sopInstanceUid,
      reference: readNative(await Deno.readFile(`${base}.r.dcm`)),
      lossless: codec.lossless,
      bits: spec.bitsAllocated,
    });
  }
  if (openjph) {
    const original = testPixels(MONO12);
    await Deno.writeFile(`${dir}/ht.pgm`, netpbm(original, MONO12));
    const c = await run("ojph_compress", [
      "-i",
      `${dir}/ht.pgm`,
      "-o",
      `${dir}/ht.j2c`,
      "-reversible",
      "true",
    ]);
    assert.equal(c.code, 0, c.stderr);
    const e = await run("ojph_expand", ["-i", `${dir}/ht.j2c`, "-o", `${dir}/ht.back.pgm`]);
    assert.equal(e.code, 0, e.stderr);
    const native = nativeObject({ ...MONO12, studyInstanceUid: study }, original);
    const file = encapsulate(native, HTJ2K_LOSSLESS, [await Deno.readFile(`${dir}/ht.j2c`)]);
    await Deno.writeFile(`${dir}/ht.dcm`, file);
    const reference = readNative(native);
    reference.pixels = readNetpbm(await Deno.readFile(`${dir}/ht.back.pgm`));
    cases.push({
      name: "HTJ2K Lossless",
      ts: HTJ2K_LOSSLESS,
      path: `${dir}/ht.dcm`,
      sopInstanceUid: decodeFileMetaInformation(file).meta.sopInstanceUid,
      reference,
      lossless: true,
      bits: 16,
    });
  }
  {
    await Deno.writeFile(`${dir}/d.dcm`, nativeObject({ ...MONO12, studyInstanceUid: study }));
    await convert(["dcmconv", "+td"], `${dir}/d.dcm`, `${dir}/d.c.dcm`);
    await convert(["dcmconv", "+te"], `${dir}/d.c.dcm`, `${dir}/d.r.dcm`);
    const bytes = await Deno.readFile(`${dir}/d.c.dcm`);
    cases.push({
      name: "Deflated Explicit VR LE",
      ts: DEFLATED,
      path: `${dir}/d.c.dcm`,
      sopInstanceUid: decodeFileMetaInformation(bytes).meta.sopInstanceUid,
      reference: readNative(await Deno.readFile(`${dir}/d.r.dcm`)),
      lossless: true,
      bits: 16,
    });
  }
  return cases;
}

/** Stores files in their own syntax (`minipacs store` proposes each file's syntax alone). */
async function storeAsIs(port: number, paths: string[]): Promise<void> {
  const r = await minipacs(["store", `MINIPACS@127.0.0.1:${port}`, ...paths]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`stored ${paths.length}, failed 0`));
}

/** What a receiver wrote, by SOP Instance UID. */
async function received(dir: string): Promise<Map<string, { ts: string; bytes: Uint8Array }>> {
  const out = new Map<string, { ts: string; bytes: Uint8Array }>();
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile) continue;
    const bytes = await Deno.readFile(`${dir}/${e.name}`);
    const { meta } = decodeFileMetaInformation(bytes);
    out.set(meta.sopInstanceUid, { ts: meta.transferSyntaxUid, bytes });
  }
  return out;
}

function maxDifference(a: Uint8Array, b: Uint8Array, bits: number): number {
  assert.equal(a.length, b.length, "pixel data lengths");
  let max = 0;
  const step = bits / 8;
  for (let i = 0; i < a.length; i += step) {
    const va = step === 1 ? a[i] : a[i] | (a[i + 1] << 8);
    const vb = step === 1 ? b[i] : b[i] | (b[i + 1] << 8);
    max = Math.max(max, Math.abs(va - vb));
  }
  return max;
}

/** Checks each case arrived, in `ts`, with the reference decoder's pixels. */
function checkArrived(
  cases: Case[],
  got: Map<string, { ts: string; bytes: Uint8Array }>,
  ts: string[],
): void {
  for (const c of cases) {
    const r = got.get(c.sopInstanceUid);
    assert.ok(r, `${c.name} arrived`);
    assert.ok(ts.includes(r.ts), `${c.name} arrived in ${r.ts}`);
    const ours = readNative(r.bytes);
    if (c.lossless) {
      assert.deepEqual(ours.pixels, c.reference.pixels, `${c.name}: identical pixels`);
    } else {
      const d = maxDifference(ours.pixels, c.reference.pixels, c.bits);
      assert.ok(d <= 2, `${c.name}: ${d} levels from the reference decode`);
      assert.equal(attr(ours, 0x00282110), "01", `${c.name}: Lossy Image Compression`);
    }
    assert.equal(attr(ours, 0x00280004), attr(c.reference, 0x00280004), `${c.name}: photometric`);
  }
}

async function startStorescp(dir: string, extra: string[]) {
  const port = freePort();
  const child = new Deno.Command("storescp", {
    args: ["-aet", "VIEWER", "-od", dir, "+B", ...extra, String(port)],
    env: { TCP_NODELAY: "1" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 100; i++) { // bounded: about 10 s
    const r = await run("echoscu", ["-aec", "VIEWER", "127.0.0.1", String(port)]);
    if (r.code === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

Deno.test({
  name: "compressed and deflated objects reach a storescp +xi (C-MOVE) and getscu (C-GET) decoded",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-decode-" });
    await Deno.mkdir(`${dir}/in`);
    await Deno.mkdir(`${dir}/move`);
    await Deno.mkdir(`${dir}/get`);
    const scp = await startStorescp(`${dir}/move`, ["+xi"]);
    let pacs: MiniPacs | undefined;
    try {
      pacs = await startMiniPacs({
        http: { enabled: true, port: 0 },
        extraToml: `[[known_ae]]\nae_title = "VIEWER"\nhost = "127.0.0.1"\nport = ${scp.port}\n`,
      });
      const study = newUid();
      const cases = await makeCases(`${dir}/in`, study);
      await storeAsIs(pacs.port, cases.map((c) => c.path));
      const key = ["-S", "-k", "QueryRetrieveLevel=STUDY", "-k", `StudyInstanceUID=${study}`];

      const m = await run("movescu", [
        "-aec",
        "MINIPACS",
        "-aem",
        "VIEWER",
        ...key,
        "127.0.0.1",
        String(pacs.port),
      ]);
      assert.equal(
        m.code,
        0,
        m.stderr + pacs.logs().split("\n").filter((l) => /fail/.test(l)).join("\n"),
      );
      checkArrived(cases, await received(`${dir}/move`), [ILE]);

      // getscu (3.6.7) proposes the uncompressed syntaxes only for every storage class.
      const g = await run("getscu", [
        "+B",
        "-od",
        `${dir}/get`,
        "-aec",
        "MINIPACS",
        ...key,
        "127.0.0.1",
        String(pacs.port),
      ]);
      assert.equal(g.code, 0, g.stderr);
      checkArrived(cases, await received(`${dir}/get`), [ELE, ILE]);
      assert.doesNotMatch(pacs.logs(), /sub-operation failed/);

      // WADO-RS renders the 12-bit JPEG image: a JPEG of its size, not one flat grey.
      const twelve = cases.find((c) => c.name === REFERENCE_CODECS.jpegExtended12.name)!;
      const series = attr(twelve.reference, 0x0020000e);
      const url = `http://127.0.0.1:${pacs.httpPort}/dicom-web/studies/${study}/series/` +
        `${series}/instances/${twelve.sopInstanceUid}/frames/2/rendered`;
      const res = await fetch(url, { headers: { Accept: "image/jpeg" } });
      assert.equal(res.status, 200, await res.clone().text());
      const image = jpeg.decode(new Uint8Array(await res.arrayBuffer()), { useTArray: true });
      assert.deepEqual([image.width, image.height], [MONO12.columns, MONO12.rows]);
      assert.ok(new Set(image.data).size > 16, "the rendered image has its shades");
    } finally {
      await pacs?.cleanup();
      await scp.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a corrupt compressed object is a failed sub-operation with a log line; the rest of the move arrives",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-decode-" });
    await Deno.mkdir(`${dir}/move`);
    const scp = await startStorescp(`${dir}/move`, ["+xi"]);
    let pacs: MiniPacs | undefined;
    try {
      pacs = await startMiniPacs({
        extraToml: `[[known_ae]]\nae_title = "VIEWER"\nhost = "127.0.0.1"\nport = ${scp.port}\n`,
      });
      const study = newUid();
      const paths: string[] = [];
      for (const name of ["good", "bad"]) {
        await Deno.writeFile(
          `${dir}/${name}.dcm`,
          nativeObject({ ...MONO12, studyInstanceUid: study }),
        );
        await convert(REFERENCE_CODECS.jpegLs.encode, `${dir}/${name}.dcm`, `${dir}/${name}.c.dcm`);
        paths.push(`${dir}/${name}.c.dcm`);
      }
      const bad = await Deno.readFile(paths[1]);
      for (let i = bad.length - 600; i < bad.length - 20; i++) bad[i] = (i * 37) & 0xff;
      await Deno.writeFile(paths[1], bad);
      const badUid = decodeFileMetaInformation(bad).meta.sopInstanceUid;
      await storeAsIs(pacs.port, paths);
      const m = await run("movescu", [
        "-d",
        "-aec",
        "MINIPACS",
        "-aem",
        "VIEWER",
        "-S",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        `StudyInstanceUID=${study}`,
        "127.0.0.1",
        String(pacs.port),
      ]);
      const out = m.stdout + m.stderr;
      const final = out.slice(out.lastIndexOf("C-MOVE RSP"));
      assert.match(final, /Completed Suboperations\s*:\s*1/);
      assert.match(final, /Failed Suboperations\s*:\s*1/);
      assert.ok(final.includes(badUid), "the failed SOP Instance is listed");
      const got = await received(`${dir}/move`);
      assert.equal(got.size, 1);
      assert.ok(!got.has(badUid));
      assert.match(
        pacs.logs(),
        /sub-operation failed.*cannot decode 1\.2\.840\.10008\.1\.2\.4\.80/,
      );
    } finally {
      await pacs?.cleanup();
      await scp.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
