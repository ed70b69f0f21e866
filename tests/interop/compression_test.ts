// Lossless compression at rest ([storage] compression): uncompressed CT (16-bit), MR
// (multi-frame) and RGB images stored in the real server get compressed home files, which
// DCMTK (dcmdjpls, dcmdrle) and GDCM (gdcmconv --raw) read back to the pixels that were sent;
// a C-MOVE to a storescp that takes Implicit VR LE only delivers those very pixels, and one
// that takes every syntax, like WADO-RS "as stored", gets the syntax each was sent in; a kill -9
// while the materializer compresses loses nothing and leaves no half-written file; with
// compression = "none" the home file holds the dataset exactly as it arrived.
import assert from "node:assert/strict";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { freePort } from "../helpers/peers.ts";
import {
  convert,
  haveTools,
  nativeObject,
  type NativeSpec,
  readNative,
  testPixels,
} from "../helpers/codec_corpus.ts";
import { newUid } from "../helpers/corpus.ts";
import { type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";
import { minipacs } from "../cli/cli.ts";
import { parseMultipart } from "../web/dicomweb/fixture.ts";

const ILE = "1.2.840.10008.1.2";
const SYNTAX: Record<string, string> = {
  "jpeg-ls": "1.2.840.10008.1.2.4.80",
  jpeg2000: "1.2.840.10008.1.2.4.90",
  rle: "1.2.840.10008.1.2.5",
};
/** The reference decoders of each syntax that must read our home files. */
const READERS: Record<string, string[][]> = {
  "jpeg-ls": [["dcmdjpls", "+te"], ["gdcmconv", "--raw"]],
  jpeg2000: [["gdcmconv", "--raw"]],
  rle: [["dcmdrle", "+te"], ["gdcmconv", "--raw"]],
};

const dcmtk = haveTools(
  "movescu",
  "storescp",
  "echoscu",
  "dcmconv",
  "dcmdjpls",
  "dcmdrle",
  "gdcmconv",
);

const CT: NativeSpec = {
  rows: 128,
  columns: 128,
  samplesPerPixel: 1,
  bitsAllocated: 16,
  bitsStored: 12,
  sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
};
const MR: NativeSpec = {
  rows: 96,
  columns: 80,
  samplesPerPixel: 1,
  bitsAllocated: 16,
  bitsStored: 16,
  frames: 4,
  sopClassUid: "1.2.840.10008.5.1.4.1.1.4.1",
};
const RGB: NativeSpec = {
  rows: 80,
  columns: 96,
  samplesPerPixel: 3,
  bitsAllocated: 8,
  bitsStored: 8,
  sopClassUid: "1.2.840.10008.5.1.4.1.1.7",
};

interface Sent {
  name: string;
  path: string;
  uid: string;
  ts: string;
  pixels: Uint8Array;
  size: number;
}

/**
 * Pixels like a patient's: noisy tissue in an ellipse, an empty background around it (what
 * makes RLE worth anything on real CT and MR).
 */
function patientPixels(s: NativeSpec): Uint8Array {
  const pixels = testPixels(s);
  const size = s.bitsAllocated / 8;
  const per = s.samplesPerPixel * size;
  for (let p = 0; p < pixels.length / per; p++) {
    const x = (p % s.columns) / s.columns - 0.5;
    const y = (Math.floor(p / s.columns) % s.rows) / s.rows - 0.5;
    if (x * x / 0.16 + y * y / 0.12 > 1) pixels.fill(0, p * per, (p + 1) * per);
  }
  return pixels;
}

/** CT (sent in Implicit VR LE), MR and RGB (Explicit VR LE), all in one study. */
async function makeObjects(dir: string, study: string, copies = 1): Promise<Sent[]> {
  const out: Sent[] = [];
  for (let k = 0; k < copies; k++) {
    for (const [name, spec] of [["CT", CT], ["MR", MR], ["RGB", RGB]] as const) {
      const path = `${dir}/${name}-${k}.dcm`;
      await Deno.writeFile(
        path,
        nativeObject({ ...spec, studyInstanceUid: study }, patientPixels(spec)),
      );
      let sent = path;
      if (name === "CT") {
        sent = `${dir}/${name}-${k}.ile.dcm`;
        await convert(["dcmconv", "+ti"], path, sent);
      }
      const bytes = await Deno.readFile(sent);
      const { meta } = decodeFileMetaInformation(bytes);
      out.push({
        name,
        path: sent,
        uid: meta.sopInstanceUid,
        ts: meta.transferSyntaxUid,
        pixels: readNative(bytes).pixels,
        size: bytes.length,
      });
    }
  }
  return out;
}

async function storeAsIs(port: number, paths: string[]): Promise<void> {
  const r = await minipacs(["store", `MINIPACS@127.0.0.1:${port}`, ...paths]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`stored ${paths.length}, failed 0`));
}

/** Home files under the storage root, by SOP Instance UID. */
async function homeFiles(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string, depth: number) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (depth === 0 && (e.name === "journal" || e.name === "tmp")) continue;
      if (e.isDirectory && depth < 3) await walk(path, depth + 1);
      else if (e.isFile && e.name.endsWith(".dcm")) {
        const { meta } = decodeFileMetaInformation(await Deno.readFile(path));
        out.set(meta.sopInstanceUid, path);
      }
    }
  };
  await walk(root, 0);
  return out;
}

/** Waits (bounded) until `n` images were compressed at rest since the server started. */
async function waitCompressed(pacs: MiniPacs, n: number, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) { // bounded by time
    if ((pacs.logs().match(/compressed at rest/g) ?? []).length >= n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`fewer than ${n} images compressed in ${timeoutMs} ms:\n${pacs.logs()}`);
}

async function startStorescp(dir: string, extra: string[], ae = "VIEWER") {
  const port = freePort();
  const child = new Deno.Command("storescp", {
    args: ["-aet", ae, "-od", dir, "+B", ...extra, String(port)],
    env: { TCP_NODELAY: "1" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 100; i++) { // bounded: about 10 s
    const r = await run("echoscu", ["-aec", ae, "127.0.0.1", String(port)]);
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

async function move(port: number, study: string, destination = "VIEWER"): Promise<void> {
  const m = await run("movescu", [
    "-aec",
    "MINIPACS",
    "-aem",
    destination,
    "-S",
    "-k",
    "QueryRetrieveLevel=STUDY",
    "-k",
    `StudyInstanceUID=${study}`,
    "127.0.0.1",
    String(port),
  ]);
  assert.equal(m.code, 0, m.stderr);
}

/** What the receiver wrote, by SOP Instance UID: syntax and pixels. */
async function received(dir: string): Promise<Map<string, { ts: string; pixels: Uint8Array }>> {
  const out = new Map<string, { ts: string; pixels: Uint8Array }>();
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile) continue;
    const bytes = await Deno.readFile(`${dir}/${e.name}`);
    const { meta } = decodeFileMetaInformation(bytes);
    out.set(meta.sopInstanceUid, { ts: meta.transferSyntaxUid, pixels: readNative(bytes).pixels });
  }
  return out;
}

for (const mode of ["jpeg-ls", "jpeg2000", "rle"]) {
  Deno.test({
    name: `compression = "${mode}": CT, MR and RGB home files are compressed, read by ` +
      "DCMTK/GDCM, and moved to an Implicit-only peer with the pixels that were sent",
    ignore: !dcmtk,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "minipacs-compress-" });
      await Deno.mkdir(`${dir}/in`);
      await Deno.mkdir(`${dir}/move`);
      await Deno.mkdir(`${dir}/all`);
      const scp = await startStorescp(`${dir}/move`, ["+xi"]);
      const all = await startStorescp(`${dir}/all`, ["+xa"], "ALL");
      let pacs: MiniPacs | undefined;
      try {
        pacs = await startMiniPacs({
          storage: { compression: mode },
          http: { enabled: true, port: 0 },
          extraToml: [["VIEWER", scp.port], ["ALL", all.port]].map(([ae, port]) =>
            `[[known_ae]]\nae_title = "${ae}"\nhost = "127.0.0.1"\nport = ${port}\n`
          ).join(""),
        });
        const study = newUid();
        const sent = await makeObjects(`${dir}/in`, study);
        await storeAsIs(pacs.port, sent.map((s) => s.path));
        await waitCompressed(pacs, sent.length);

        const homes = await homeFiles(pacs.storage);
        for (const s of sent) {
          const home = homes.get(s.uid);
          assert.ok(home, `${s.name} has a home file`);
          const bytes = await Deno.readFile(home);
          const { meta } = decodeFileMetaInformation(bytes);
          assert.equal(meta.transferSyntaxUid, SYNTAX[mode], `${s.name} home file syntax`);
          assert.equal(meta.sopInstanceUid, s.uid);
          assert.ok(bytes.length < s.size * 0.9, `${s.name}: ${bytes.length} of ${s.size} bytes`);
          for (const reader of READERS[mode]) {
            const out: string = `${dir}/read-${s.name}-${reader[0]}.dcm`;
            await convert(reader, home, out);
            assert.deepEqual(readNative(await Deno.readFile(out)).pixels, s.pixels, reader[0]);
          }
        }

        await move(pacs.port, study);
        const got = await received(`${dir}/move`);
        for (const s of sent) {
          const r = got.get(s.uid);
          assert.ok(r, `${s.name} arrived`);
          assert.equal(r.ts, ILE);
          assert.deepEqual(r.pixels, s.pixels, `${s.name}: the pixels that were sent`);
        }
        // A receiver that takes every syntax gets each object in the syntax it was received
        // in: the compressed home file is a storage detail.
        await move(pacs.port, study, "ALL");
        const atAll = await received(`${dir}/all`);
        assert.equal(atAll.size, sent.length);
        for (const s of sent) {
          const r = atAll.get(s.uid);
          assert.ok(r, `${s.name} arrived at ALL`);
          assert.equal(r.ts, s.ts, `${s.name} arrives in the syntax it was sent in`);
          assert.deepEqual(r.pixels, s.pixels, `${s.name}: the pixels that were sent`);
        }
        // WADO-RS "as stored" (transfer-syntax=*) is also what was received.
        const web = `http://127.0.0.1:${pacs.httpPort}/dicom-web/studies/${study}`;
        const res = await fetch(web, {
          headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
        });
        assert.equal(res.status, 200);
        const parts = parseMultipart(
          res.headers.get("Content-Type") ?? "",
          new Uint8Array(await res.arrayBuffer()),
        );
        assert.equal(parts.length, sent.length);
        for (const part of parts) {
          const { meta } = decodeFileMetaInformation(part.body);
          const s = sent.find((s) => s.uid === meta.sopInstanceUid)!;
          assert.equal(meta.transferSyntaxUid, s.ts, `${s.name} over WADO-RS`);
          assert.ok(part.headers["content-type"].endsWith(`transfer-syntax=${s.ts}`));
          assert.deepEqual(readNative(part.body).pixels, s.pixels, `${s.name} over WADO-RS`);
        }

        const status = await (await fetch(`http://127.0.0.1:${pacs.httpPort}/api/status`)).json();
        assert.ok(status.storage.bytes >= sent.reduce((n, s) => n + s.size, 0));
        assert.ok(status.storage.storedBytes < status.storage.bytes * 0.9, "space saved");
        const page = await (await fetch(`http://127.0.0.1:${pacs.httpPort}/`)).text();
        assert.match(page, /compression saves/);
      } finally {
        await pacs?.cleanup();
        await scp.stop();
        await all.stop();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: 'compression = "none": the home file holds the dataset exactly as it arrived',
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-compress-" });
    let pacs: MiniPacs | undefined;
    try {
      pacs = await startMiniPacs({});
      const sent = await makeObjects(dir, newUid());
      await storeAsIs(pacs.port, sent.map((s) => s.path));
      await pacs.stop(); // materializes what is in the journal
      const homes = await homeFiles(pacs.storage);
      for (const s of sent) {
        const original = await Deno.readFile(s.path);
        const home = await Deno.readFile(homes.get(s.uid)!);
        const a = decodeFileMetaInformation(original);
        const b = decodeFileMetaInformation(home);
        assert.equal(b.meta.transferSyntaxUid, s.ts);
        assert.deepEqual(home.subarray(b.datasetOffset), original.subarray(a.datasetOffset));
      }
      assert.doesNotMatch(pacs.logs(), /compressed at rest/);
    } finally {
      await pacs?.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "kill -9 while the materializer compresses loses nothing and leaves no half file",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-compress-" });
    await Deno.mkdir(`${dir}/in`);
    await Deno.mkdir(`${dir}/move`);
    const scp = await startStorescp(`${dir}/move`, ["+xi"]);
    const storage = `${dir}/data`;
    const known = `[[known_ae]]\nae_title = "VIEWER"\nhost = "127.0.0.1"\nport = ${scp.port}\n`;
    let pacs: MiniPacs | undefined;
    try {
      const study = newUid();
      const sent: Sent[] = [];
      for (const [round, killAfter] of [[0, 1], [1, 4], [2, 9]]) {
        await Deno.mkdir(`${dir}/in/${round}`);
        const batch = await makeObjects(`${dir}/in/${round}`, study, 5);
        sent.push(...batch);
        pacs = await startMiniPacs({
          storagePath: storage,
          storage: { compression: "jpeg-ls" },
          extraToml: known,
        });
        await storeAsIs(pacs.port, batch.map((s) => s.path));
        await waitCompressed(pacs, killAfter);
        assert.equal(await pacs.stop("SIGKILL"), 137);
        await pacs.cleanup();
        pacs = undefined;
      }
      pacs = await startMiniPacs({
        storagePath: storage,
        storage: { compression: "jpeg-ls" },
        extraToml: known,
      });
      await move(pacs.port, study);
      const got = await received(`${dir}/move`);
      assert.equal(got.size, sent.length, "every object stored survived");
      for (const s of sent) assert.deepEqual(got.get(s.uid)?.pixels, s.pixels, s.name);
      await pacs.stop();
      // No half file: nothing left in tmp/, and every home file is whole (GDCM reads it).
      const tmp = [...Deno.readDirSync(`${storage}/tmp`)];
      assert.equal(tmp.length, 0, `left in tmp: ${tmp.map((e) => e.name)}`);
      const homes = await homeFiles(storage);
      assert.equal(homes.size, sent.length);
      for (const [uid, home] of homes) {
        const { meta } = decodeFileMetaInformation(await Deno.readFile(home));
        assert.equal(meta.transferSyntaxUid, SYNTAX["jpeg-ls"], uid);
        await convert(["gdcmconv", "--raw"], home, `${dir}/check.dcm`);
      }
    } finally {
      await pacs?.cleanup();
      await scp.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
