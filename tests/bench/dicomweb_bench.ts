// DICOMweb benchmark: MiniPACS beside Orthanc with its DICOMweb plugin, on the same data
// stored into both, in one run. Scenarios:
//   1. series metadata of the large series, cold: the first request after the server started
//      (the data was loaded before, so the OS file cache is warm; no cache is dropped)
//   2. QIDO-RS studies by Patient's Name wildcard + a Study Date range (median ms)
//   3. series metadata again, warm (median)
//   4. WADO-RS retrieval of a 100-instance series of 512x512 CT images (MB/s)
//   5. STOW-RS of CT images in requests of 50 sent by curl (images/s), beside the same
//      server's C-STORE of as many images on one association; both are deleted afterwards
//
//   deno task bench --suite dicomweb [--dw-studies N] [--dw-per-study N] [--dw-big-series N]
//                   [--dw-wado-series N] [--dw-stow N] [--dw-runs R] [--dw-only minipacs,orthanc]
//                   [--dw-data DIR] [--dw-load-parallel N] [--dw-orthanc-load dimse|rest]
//
// Defaults: 1,000 studies x 10 instances, a 1,000-instance series, a 100-instance series,
// 1,000 STOW images, 30 runs. The 100,000-instance index is --dw-studies 9890
// (98,900 + 1,000 + 100). Loading is done once per --dw-data DIR and reused by later runs
// with the same sizes (DIR/minipacs, DIR/orthanc; without it, temporary folders): both by
// C-STORE on 6 associations, Orthanc with its file fsyncs off while it loads (parallel REST
// uploads, --dw-orthanc-load rest, were no faster: 237-451 against 344-434 images/s in
// three pairs of 6,100-instance loads); both are then restarted with their normal settings.
// Loopback only.
import { V8_FLAGS } from "../../scripts/v8_flags.ts";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { encodeDataset, encodingOf, textElement } from "../../src/core/dicom/dataset.ts";
import { encodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { CommandField, DATASET_PRESENT } from "../../src/core/dimse/command.ts";
import { Status } from "../../src/core/dimse/status.ts";
import { openAssociation } from "../helpers/scu.ts";
import { MAIN } from "../helpers/server.ts";
import { echo, freePort, orthancVersion, type Peer, startOrthanc } from "../helpers/peers.ts";

export const DICOMWEB_OPTIONS = {
  "dw-studies": { type: "string", default: "1000" },
  "dw-per-study": { type: "string", default: "10" },
  "dw-big-series": { type: "string", default: "1000" },
  "dw-wado-series": { type: "string", default: "100" },
  "dw-stow": { type: "string", default: "1000" },
  "dw-runs": { type: "string", default: "30" },
  "dw-only": { type: "string", default: "minipacs,orthanc" },
  "dw-data": { type: "string", default: "" },
  "dw-load-parallel": { type: "string", default: "6" },
  "dw-orthanc-load": { type: "string", default: "dimse" },
} as const;

const CT = "1.2.840.10008.5.1.4.1.1.2";
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const ROOT = "1.2.826.0.1.3680043.9.7433.11";
const PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";
const FAMILY = "SMITH JONES BROWN TAYLOR WILSON DAVIES EVANS THOMAS ROBERTS WALKER".split(" ");
const STOW_BATCH = 50;

interface Spec {
  study: string;
  series: string;
  sop: string;
  patientId: string;
  patientName: string;
  studyDate: string;
  instanceNumber: number;
  size: number;
}

/** A CT image with `size` x `size` 16-bit pixels, Explicit VR LE dataset (no file meta). */
function ctDataset(s: Spec): Uint8Array {
  const t = (tag: number, vr: string, text: string) => textElement(tag, vr, text, "")!;
  const us = (tag: number, n: number) => ({
    tag,
    vr: "US",
    value: new Uint8Array([n & 0xff, n >> 8]),
  });
  const pixels = new Uint8Array(s.size * s.size * 2);
  for (let i = 0; i < pixels.length; i += 2) pixels[i] = (i >> 3) & 0xff;
  return encodeDataset([
    t(0x00080016, "UI", CT),
    t(0x00080018, "UI", s.sop),
    t(0x00080020, "DA", s.studyDate),
    t(0x00080030, "TM", "101500"),
    t(0x00080060, "CS", "CT"),
    t(0x00081030, "LO", "BENCH STUDY"),
    t(0x00100010, "PN", s.patientName),
    t(0x00100020, "LO", s.patientId),
    t(0x0020000d, "UI", s.study),
    t(0x0020000e, "UI", s.series),
    t(0x00200011, "IS", "1"),
    t(0x00200013, "IS", String(s.instanceNumber)),
    t(0x00200032, "DS", `0\\0\\${s.instanceNumber}`),
    us(0x00280002, 1),
    t(0x00280004, "CS", "MONOCHROME2"),
    us(0x00280010, s.size),
    us(0x00280011, s.size),
    us(0x00280100, 16),
    us(0x00280101, 12),
    us(0x00280102, 11),
    us(0x00280103, 0),
    { tag: 0x7fe00010, vr: "OW", value: pixels },
  ], encodingOf(EXPLICIT_LE));
}

function part10(s: Spec): Uint8Array {
  const meta = encodeFileMetaInformation({
    sopClassUid: CT,
    sopInstanceUid: s.sop,
    transferSyntaxUid: EXPLICIT_LE,
    implementationClassUid: "1.2.3.4",
    implementationVersionName: "BENCH",
  });
  const data = ctDataset(s);
  const out = new Uint8Array(meta.length + data.length);
  out.set(meta);
  out.set(data, meta.length);
  return out;
}

/** Stores specs with C-STORE on `parallel` associations; returns images/s. */
async function cstore(peer: Peer, specs: Spec[], parallel: number): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    const assoc = await openAssociation(peer.port, {
      called: peer.aeTitle,
      calling: "BENCH",
      contexts: [{ id: 1, abstractSyntax: CT, transferSyntaxes: [EXPLICIT_LE] }],
      maxPduLength: 65536,
    });
    try {
      while (next < specs.length) {
        const s = specs[next++];
        const rsp = await assoc.request(1, {
          commandField: CommandField.CStoreRq,
          commandDataSetType: DATASET_PRESENT,
          affectedSopClassUid: CT,
          affectedSopInstanceUid: s.sop,
          priority: 0,
        }, ctDataset(s));
        if (rsp.command.status !== Status.Success) {
          throw new Error(`C-STORE status 0x${rsp.command.status?.toString(16)}`);
        }
      }
    } finally {
      await assoc.release();
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return specs.length / ((performance.now() - t0) / 1000);
}

/**
 * STOW-RS of specs in requests of STOW_BATCH, one after another, sent by curl (as C-STORE is
 * by a client outside the server); the request bodies are written to files before the clock
 * starts. Returns images/s.
 */
async function stow(root: string, specs: Spec[]): Promise<number> {
  const boundary = "bench-boundary-7d1f";
  const enc = new TextEncoder();
  const dir = await Deno.makeTempDir({ prefix: "minipacs-bench-stow-" });
  try {
    const files: string[] = [];
    for (let at = 0; at < specs.length; at += STOW_BATCH) {
      const parts: Uint8Array[] = [];
      for (const s of specs.slice(at, at + STOW_BATCH)) {
        parts.push(enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`));
        parts.push(part10(s), enc.encode("\r\n"));
      }
      parts.push(enc.encode(`--${boundary}--\r\n`));
      const file = `${dir}/batch-${at}.bin`;
      await Deno.writeFile(
        file,
        new Uint8Array(await new Blob(parts as Uint8Array<ArrayBuffer>[]).arrayBuffer()),
      );
      files.push(file);
    }
    const type = `multipart/related; type="application/dicom"; boundary=${boundary}`;
    const t0 = performance.now();
    for (const file of files) {
      const out = await new Deno.Command("curl", {
        args: [
          "-s",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          "-H",
          `Content-Type: ${type}`,
          "-H",
          "Accept: application/dicom+json",
          "--data-binary",
          `@${file}`,
          `${root}/studies`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const code = new TextDecoder().decode(out.stdout).trim();
      if (code !== "200") throw new Error(`STOW-RS answered ${code}`);
    }
    return specs.length / ((performance.now() - t0) / 1000);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** MiniPACS with its web server on the storage folder `data`; ready once it answers C-ECHO. */
async function startMiniPacsWeb(data: string): Promise<Peer & { root: string; base: string }> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-bench-dicomweb-" });
  const port = freePort();
  const httpPort = freePort();
  const toml = [
    "[server]",
    'ae_title = "MINIPACS"',
    'bind = "127.0.0.1"',
    `port = ${port}`,
    "[storage]",
    `path = ${JSON.stringify(data)}`,
    "min_free_mb = 1",
    "[http]",
    `port = ${httpPort}`,
    "[log]",
    'level = "warn"',
  ].join("\n");
  await Deno.writeTextFile(`${dir}/config.toml`, toml + "\n");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", V8_FLAGS, "-A", MAIN, "serve", "--config", `${dir}/config.toml`],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  for (let i = 0; i < 6000 && !(await echo(port, "MINIPACS")); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const base = `http://127.0.0.1:${httpPort}`;
  return {
    aeTitle: "MINIPACS",
    port,
    base,
    root: `${base}/dicom-web`,
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
    },
    count: () => Promise.resolve(-1),
    countsAfterStop: false,
    cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
    output: () => "",
  };
}

/** Orthanc + DICOMweb plugin on the folders under `data`; file fsyncs off when `loading`. */
async function startOrthancWeb(
  data: string,
  loading: boolean,
): Promise<Peer & { root: string; base: string }> {
  const o = await startOrthanc("/usr/sbin/Orthanc", {
    plugins: [PLUGIN],
    extra: {
      DicomWeb: { Enable: true, Root: "/dicom-web/" },
      StorageDirectory: `${data}/storage`,
      IndexDirectory: `${data}/index`,
      ...(loading ? { SyncStorageArea: false } : {}),
    },
  });
  return { ...o, base: o.httpUrl!, root: `${o.httpUrl}/dicom-web` };
}

/** Uploads specs as Part 10 files by POST /instances on `parallel` connections; images/s. */
async function restUpload(base: string, specs: Spec[], parallel: number): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < specs.length) {
      const s = specs[next++];
      const r = await fetch(`${base}/instances`, {
        method: "POST",
        headers: { "Content-Type": "application/dicom" },
        body: part10(s) as Uint8Array<ArrayBuffer>,
      });
      await r.body?.cancel();
      if (!r.ok) throw new Error(`POST /instances answered ${r.status}`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return specs.length / ((performance.now() - t0) / 1000);
}

/** Instances whose DICOMweb metadata MiniPACS keeps (-1 before the file exists). */
function keptMetadata(data: string): number {
  try {
    const db = new DatabaseSync(`${data}/dicomweb.sqlite`, { readOnly: true });
    try {
      return Number(
        (db.prepare("SELECT count(*) AS n FROM instance_json").get() as { n: number }).n,
      );
    } finally {
      db.close();
    }
  } catch {
    return -1;
  }
}

/** Waits (up to 30 minutes) until MiniPACS keeps the metadata of `count` instances. */
async function metadataKept(data: string, count: number, since: number): Promise<void> {
  if (keptMetadata(data) >= count) return;
  const until = Date.now() + 30 * 60_000;
  while (keptMetadata(data) < count && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 1000));
  }
  console.log(
    `  ${keptMetadata(data)} instances' metadata kept after ` +
      `${((performance.now() - since) / 1000).toFixed(0)} s`,
  );
}

/** Deletes the studies a run added (STOW-RS, C-STORE), so that the loaded data is reusable. */
async function deleteStudies(server: string, base: string, studies: string[]): Promise<void> {
  for (const uid of studies) {
    if (server === "minipacs") {
      const r = await fetch(`${base}/api/studies/${uid}`, { method: "DELETE" });
      await r.body?.cancel();
      continue;
    }
    const found = await fetch(`${base}/tools/lookup`, { method: "POST", body: uid });
    const list = (await found.json()) as { ID: string; Type: string }[];
    for (const hit of list.filter((h) => h.Type === "Study")) {
      const r = await fetch(`${base}/studies/${hit.ID}`, { method: "DELETE" });
      await r.body?.cancel();
    }
  }
}

async function timed(
  url: string,
  accept: string,
): Promise<{ ms: number; bytes: number; status: number }> {
  const t0 = performance.now();
  const res = await fetch(url, { headers: { Accept: accept } });
  const body = await res.arrayBuffer();
  return { ms: performance.now() - t0, bytes: body.byteLength, status: res.status };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

interface Result {
  server: string;
  qidoMs: number;
  metadataFirstMs: number;
  metadataMs: number;
  wadoMBps: number;
  stowPerSecond: number;
  cstorePerSecond: number;
}

export async function runDicomWebBench(values: Record<string, string | boolean | undefined>) {
  const n = (k: keyof typeof DICOMWEB_OPTIONS) => Number(values[k] ?? DICOMWEB_OPTIONS[k].default);
  const studies = n("dw-studies");
  const perStudy = n("dw-per-study");
  const big = n("dw-big-series");
  const wado = n("dw-wado-series");
  const stowCount = n("dw-stow");
  const runs = n("dw-runs");
  const only = String(values["dw-only"] ?? "minipacs,orthanc").split(",");

  const spec = (study: number, i: number, size: number, tag = ""): Spec => {
    const p = Math.floor(study / 2);
    const day = new Date(Date.UTC(2020, 0, 1) + ((study * 37) % 1826) * 86_400_000);
    return {
      study: `${ROOT}${tag}.${study + 1}`,
      series: `${ROOT}${tag}.${study + 1}.1`,
      sop: `${ROOT}${tag}.${study + 1}.1.${i + 1}`,
      patientId: `DW${String(p).padStart(6, "0")}`,
      patientName: `${FAMILY[p % FAMILY.length]}^P${p}`,
      studyDate: day.toISOString().slice(0, 10).replaceAll("-", ""),
      instanceNumber: i + 1,
      size,
    };
  };
  const index: Spec[] = [];
  for (let s = 0; s < studies; s++) for (let i = 0; i < perStudy; i++) index.push(spec(s, i, 64));
  const bigSeries = Array.from({ length: big }, (_, i) => spec(studies, i, 64, ".8"));
  const wadoSeries = Array.from({ length: wado }, (_, i) => spec(studies + 1, i, 512, ".8"));
  const stowSpecs = (tag: string) =>
    Array.from({ length: stowCount }, (_, i) => spec(studies + 2, i, 512, tag));

  const dataRoot = String(values["dw-data"] ?? "");
  const loadParallel = n("dw-load-parallel");
  const orthancLoad = String(values["dw-orthanc-load"] ?? "dimse");
  const loaded = JSON.stringify({ studies, perStudy, big, wado, format: 1 });
  const all = [...index, ...bigSeries, ...wadoSeries];
  const run = Date.now() % 1_000_000_000;
  const results: Result[] = [];
  for (const server of only) {
    if (server === "orthanc") {
      try {
        Deno.statSync(PLUGIN);
      } catch {
        console.log(`SKIP: ${PLUGIN} is not installed (apt-get install orthanc-dicomweb)`);
        continue;
      }
    }
    const temp = dataRoot ? null : await Deno.makeTempDir({ prefix: "minipacs-bench-dw-" });
    const data = `${dataRoot || temp}/${server}`;
    const start = (loading: boolean) =>
      server === "orthanc" ? startOrthancWeb(data, loading) : startMiniPacsWeb(`${data}/data`);
    try {
      const marker = await Deno.readTextFile(`${data}/loaded.json`).catch(() => "");
      if (marker.trim() === loaded) {
        console.log(`${server}: ${all.length} instances already loaded in ${data}`);
      } else {
        // Only what this benchmark made there is removed.
        for (const sub of ["data", "storage", "index", "loaded.json"]) {
          await Deno.remove(`${data}/${sub}`, { recursive: true }).catch(() => {});
        }
        await Deno.mkdir(data, { recursive: true });
        const how = server === "orthanc" && orthancLoad === "rest"
          ? `REST uploads on ${loadParallel} connections`
          : `C-STORE on ${loadParallel} associations`;
        console.log(`${server}: loading ${all.length} instances by ${how}`);
        const peer = await start(true);
        try {
          const t0 = performance.now();
          const rate = server === "orthanc" && orthancLoad === "rest"
            ? await restUpload(peer.base, all, loadParallel)
            : await cstore(peer, all, loadParallel);
          console.log(`  loaded at ${rate.toFixed(0)} images/s`);
          if (server === "minipacs") await metadataKept(`${data}/data`, all.length, t0);
        } finally {
          await peer.stop();
          await peer.cleanup();
        }
        await Deno.writeTextFile(`${data}/loaded.json`, loaded + "\n");
      }
      const peer = await start(false);
      const root = peer.root;
      // An older layout of the kept metadata is computed again at start: before measuring.
      if (server === "minipacs") await metadataKept(`${data}/data`, all.length, performance.now());
      const added = [`${ROOT}.9.${run}.${studies + 3}`, `${ROOT}.10.${run}.${studies + 3}`];
      try {
        // 1. Series metadata of the large series: the first request after start.
        const metaUrl = `${root}/studies/${bigSeries[0].study}/series/${
          bigSeries[0].series
        }/metadata`;
        const first = await timed(metaUrl, "application/dicom+json");
        if (first.status !== 200) throw new Error(`metadata answered ${first.status}`);
        // 2. QIDO by name wildcard + date range (targets rotate).
        const qido: number[] = [];
        for (let k = 0; k < runs + 3; k++) {
          const year = 2020 + (k % 5);
          const url = `${root}/studies?PatientName=${FAMILY[k % FAMILY.length]}*` +
            `&StudyDate=${year}0101-${year}1231`;
          const r = await timed(url, "application/dicom+json");
          // 204: no match (small runs).
          if (r.status !== 200 && r.status !== 204) throw new Error(`QIDO answered ${r.status}`);
          if (k >= 3) qido.push(r.ms);
        }
        // 3. Series metadata, warm.
        const meta: number[] = [];
        for (let k = 0; k < runs; k++) {
          meta.push((await timed(metaUrl, "application/dicom+json")).ms);
        }
        // 4. WADO-RS of the 100-instance series.
        const wadoUrl = `${root}/studies/${wadoSeries[0].study}/series/${wadoSeries[0].series}`;
        const rates: number[] = [];
        for (let k = 0; k < Math.max(3, Math.min(runs, 5)); k++) {
          const r = await timed(
            wadoUrl,
            'multipart/related; type="application/dicom"; transfer-syntax=*',
          );
          if (r.status !== 200) throw new Error(`WADO-RS answered ${r.status}`);
          rates.push(r.bytes / 1048576 / (r.ms / 1000));
        }
        // 5. STOW-RS in requests of 50, then C-STORE of as many other images, one association.
        const stowRate = await stow(root, stowSpecs(`.9.${run}`));
        const cstoreRate = await cstore(peer, stowSpecs(`.10.${run}`), 1);
        results.push({
          server,
          qidoMs: median(qido),
          metadataFirstMs: first.ms,
          metadataMs: median(meta),
          wadoMBps: median(rates),
          stowPerSecond: stowRate,
          cstorePerSecond: cstoreRate,
        });
      } finally {
        await deleteStudies(server, peer.base, added).catch((e) =>
          console.log(`  the studies this run added were not deleted: ${e}`)
        );
        await peer.stop();
        await peer.cleanup();
      }
    } finally {
      if (temp) await Deno.remove(temp, { recursive: true }).catch(() => {});
    }
  }
  const version = only.includes("orthanc") ? await orthancVersion().catch(() => "?") : "";
  console.log(
    `\nDICOMweb (${studies * perStudy + big + wado} instances; series metadata of ${big}; ` +
      `WADO-RS of ${wado} x 512x512; STOW-RS of ${stowCount} in requests of ${STOW_BATCH})` +
      (version ? `, Orthanc ${version} + DICOMweb plugin` : ""),
  );
  const ours = results.find((r) => r.server === "minipacs");
  const theirs = results.find((r) => r.server === "orthanc");
  const cell = (r: Result | undefined, f: (r: Result) => number, unit: string, digits = 1) =>
    r ? `${f(r).toFixed(digits)} ${unit}` : "—";
  /** How many times better MiniPACS is: `lowerIsBetter` for times. */
  const ratio = (f: (r: Result) => number, lowerIsBetter: boolean) =>
    ours && theirs
      ? `${(lowerIsBetter ? f(theirs) / f(ours) : f(ours) / f(theirs)).toFixed(2)}x`
      : "—";
  const rows: [string, (r: Result) => number, string, boolean, string][] = [
    ["QIDO studies, name* + date range", (r) => r.qidoMs, "ms", true, ">= 5x"],
    [
      `series metadata, ${big} instances, cold`,
      (r) => r.metadataFirstMs,
      "ms",
      true,
      ">= 5x, < 100 ms",
    ],
    [`series metadata, ${big} instances, warm`, (r) => r.metadataMs, "ms", true, ">= 5x, < 100 ms"],
    [`WADO-RS series of ${wado}`, (r) => r.wadoMBps, "MB/s", false, "—"],
    [`STOW-RS, requests of ${STOW_BATCH}`, (r) => r.stowPerSecond, "img/s", false, "—"],
    ["C-STORE, one association", (r) => r.cstorePerSecond, "img/s", false, "—"],
  ];
  console.log(
    "| measure | MiniPACS | Orthanc | MiniPACS better by | target |\n|---|---|---|---|---|",
  );
  for (const [name, f, unit, lower, target] of rows) {
    console.log(
      `| ${name} | ${cell(ours, f, unit)} | ${cell(theirs, f, unit)} | ${ratio(f, lower)} | ` +
        `${target} |`,
    );
  }
  for (const r of results) {
    console.log(
      `${r.server}: STOW-RS / its own C-STORE = ` +
        `${(r.stowPerSecond / r.cstorePerSecond).toFixed(2)}x` +
        (r.server === "minipacs" ? " (target >= 0.8x)" : ""),
    );
  }
  return results;
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: DICOMWEB_OPTIONS });
  await runDicomWebBench(values);
}
