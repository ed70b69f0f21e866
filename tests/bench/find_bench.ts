// Query benchmark: MiniPACS beside Orthanc on the same generated data, in one run.
//
// MiniPACS gets an index of 100,000 instances (1,000 studies x 100 instances in one series,
// two studies per patient) from a bulk loader that calls the index code the store path uses
// (IndexDb.upsertInstance); Orthanc gets the same attributes through C-STORE (8 associations).
// Each query then runs many times inside one association per server, through our own SCU so
// no process start-up is timed: request sent -> final response received. Queries:
//   1. STUDY level by exact Patient ID
//   2. STUDY level by Patient's Name wildcard plus a Study Date range
//   3. IMAGE level, every instance of one 100-instance series
//   4. SERIES level of one study
// A last scenario streams a 100,000-instance series at IMAGE level and samples the server's
// resident memory.
//
//   deno task bench --suite find [--find-studies N] [--find-orthanc-studies N]
//                   [--find-runs R] [--find-json out.json] [--find-only minipacs,orthanc]
//                   [--compare PATH [--compare-label L]]
//
// --compare PATH: also query the MiniPACS whose src/main.ts is PATH (another checkout), on a
// copy of the same index; the two take turns query by query inside their associations, so a
// before/after of a change is measured side by side (the streaming scenario runs on both too).
import { parseArgs } from "node:util";
import {
  type DataElement,
  encodeDataset,
  encodingOf,
  textElement,
} from "../../src/core/dicom/dataset.ts";
import { CommandField, DATASET_PRESENT } from "../../src/core/dimse/command.ts";
import { Status } from "../../src/core/dimse/status.ts";
import type { InstanceRecord } from "../../src/core/ports.ts";
import type { RequestorAssociation } from "../../src/core/ul/requestor.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import { MAIN } from "../helpers/server.ts";
import { openAssociation } from "../helpers/scu.ts";
import {
  allowFind,
  echo,
  freePort,
  orthancVersion,
  type Peer,
  serveArgs,
  startOrthanc,
} from "../helpers/peers.ts";

/** --compare PATH [--compare-label L]: another checkout's src/main.ts measured alongside. */
export const COMPARE_OPTIONS = {
  compare: { type: "string" },
  "compare-label": { type: "string" },
} as const;

export const FIND_OPTIONS = {
  "find-studies": { type: "string", default: "1000" },
  "find-orthanc-studies": { type: "string" },
  "find-runs": { type: "string", default: "200" },
  "find-json": { type: "string" },
  "find-only": { type: "string", default: "minipacs,orthanc" },
  "find-flat": { type: "string", default: "100000" },
} as const;

const INSTANCES_PER_STUDY = 100;
const STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1";
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const UID_ROOT = "1.2.826.0.1.3680043.9.7433.9";
const MODALITIES = ["CT", "MR", "CR", "US"] as const;
const SOP_CLASS: Record<string, string> = {
  CT: "1.2.840.10008.5.1.4.1.1.2",
  MR: "1.2.840.10008.5.1.4.1.1.4",
  CR: "1.2.840.10008.5.1.4.1.1.1",
  US: "1.2.840.10008.5.1.4.1.1.6.1",
};
const FAMILY = (
  "SMITH JOHNSON WILLIAMS BROWN JONES GARCIA MILLER DAVIS RODRIGUEZ MARTINEZ HERNANDEZ LOPEZ " +
  "GONZALEZ WILSON ANDERSON THOMAS TAYLOR MOORE JACKSON MARTIN LEE PEREZ THOMPSON WHITE " +
  "HARRIS SANCHEZ CLARK RAMIREZ LEWIS ROBINSON WALKER YOUNG ALLEN KING WRIGHT SCOTT TORRES " +
  "NGUYEN HILL FLORES GREEN ADAMS NELSON BAKER HALL RIVERA CAMPBELL MITCHELL CARTER ROBERTS"
).split(" ");
const GIVEN = (
  "JAMES MARY ROBERT PATRICIA JOHN JENNIFER MICHAEL LINDA DAVID ELIZABETH WILLIAM BARBARA " +
  "RICHARD SUSAN JOSEPH JESSICA THOMAS SARAH CHARLES KAREN"
).split(" ");

export const studyUid = (s: number) => `${UID_ROOT}.${s + 1}`;
export const seriesUid = (s: number) => `${UID_ROOT}.${s + 1}.1`;
const instanceUid = (s: number, i: number) => `${UID_ROOT}.${s + 1}.1.${i + 1}`;
export const patientId = (p: number) => `BP${String(p).padStart(6, "0")}`;

/** The attributes of instance i of study s (two studies per patient). */
export function benchRecord(s: number, i: number): InstanceRecord {
  const p = Math.floor(s / 2);
  const day = new Date(Date.UTC(2020, 0, 1) + ((s * 37) % 1826) * 86_400_000);
  const date = day.toISOString().slice(0, 10).replaceAll("-", "");
  const modality = MODALITIES[s % MODALITIES.length];
  return {
    patientId: patientId(p),
    patientName: `${FAMILY[p % FAMILY.length]}^${
      GIVEN[Math.floor(p / FAMILY.length) % GIVEN.length]
    }`,
    patientBirthDate: `19${String(40 + (p % 60)).padStart(2, "0")}0101`,
    patientSex: p % 2 ? "F" : "M",
    otherPatientIds: "",
    studyInstanceUid: studyUid(s),
    studyDate: date,
    studyTime: `${String(8 + (s % 10)).padStart(2, "0")}${String((s * 7) % 60).padStart(2, "0")}00`,
    accessionNumber: `A${String(s).padStart(7, "0")}`,
    studyId: String(s),
    studyDescription: `${modality} STUDY ${s % 17}`,
    referringPhysicianName: `REF^${GIVEN[s % GIVEN.length]}`,
    seriesInstanceUid: seriesUid(s),
    modality,
    seriesNumber: "1",
    seriesDescription: `${modality} SERIES`,
    bodyPartExamined: "CHEST",
    seriesDate: date,
    seriesTime: "080000",
    sopInstanceUid: instanceUid(s, i),
    sopClassUid: SOP_CLASS[modality],
    instanceNumber: String(i + 1),
    transferSyntaxUid: EXPLICIT_LE,
    specificCharacterSet: "ISO_IR 100",
  };
}

/** Loads MiniPACS' index directly, through the code every C-STORE commits with. */
export function bulkLoad(storage: string, studies: number, perStudy: number, first = 0): void {
  Deno.mkdirSync(storage, { recursive: true });
  const db = IndexDb.open(`${storage}/index.sqlite`);
  try {
    let seq = Date.now() * 1024;
    for (let s = first; s < first + studies; s++) {
      for (let i = 0; i < perStudy; i++) {
        const record = benchRecord(s, i);
        const path =
          `${record.studyInstanceUid}/${record.seriesInstanceUid}/${record.sopInstanceUid}.dcm`;
        db.upsertInstance(record, { kind: "home", path, offset: 0, length: 1024 }, {
          homePath: path,
          size: 1024,
          receivedAt: "2024-01-01T00:00:00.000Z",
          callingAe: "BENCH",
          seq: ++seq,
        });
      }
    }
  } finally {
    db.close();
  }
}

/** The same attributes as a dataset (Explicit VR LE, no pixel data) for C-STORE. */
function datasetOf(r: InstanceRecord): Uint8Array {
  return encodeDataset(recordElements(r), encodingOf(EXPLICIT_LE));
}

/** A record's attributes as elements, in its own Specific Character Set. */
export function recordElements(r: InstanceRecord): DataElement[] {
  const t = (tag: number, vr: string, text: string) =>
    textElement(tag, vr, text, r.specificCharacterSet)!;
  return [
    t(0x00080005, "CS", r.specificCharacterSet),
    t(0x00080016, "UI", r.sopClassUid),
    t(0x00080018, "UI", r.sopInstanceUid),
    t(0x00080020, "DA", r.studyDate),
    t(0x00080021, "DA", r.seriesDate),
    t(0x00080030, "TM", r.studyTime),
    t(0x00080031, "TM", r.seriesTime),
    t(0x00080050, "SH", r.accessionNumber),
    t(0x00080060, "CS", r.modality),
    t(0x00080090, "PN", r.referringPhysicianName),
    t(0x00081030, "LO", r.studyDescription),
    t(0x0008103e, "LO", r.seriesDescription),
    t(0x00100010, "PN", r.patientName),
    t(0x00100020, "LO", r.patientId),
    t(0x00100030, "DA", r.patientBirthDate),
    t(0x00100040, "CS", r.patientSex),
    t(0x00180015, "CS", r.bodyPartExamined),
    t(0x0020000d, "UI", r.studyInstanceUid),
    t(0x0020000e, "UI", r.seriesInstanceUid),
    t(0x00200010, "SH", r.studyId),
    t(0x00200011, "IS", r.seriesNumber),
    t(0x00200013, "IS", r.instanceNumber),
  ];
}

/** Sends studies [0, studies) to a peer with C-STORE on `parallel` associations. */
async function storeAll(peer: Peer, studies: number, parallel = 8): Promise<number> {
  const t0 = performance.now();
  const contexts = MODALITIES.map((m, i) => ({
    id: 2 * i + 1,
    abstractSyntax: SOP_CLASS[m],
    transferSyntaxes: [EXPLICIT_LE],
  }));
  let next = 0;
  let sent = 0;
  const worker = async () => {
    const assoc = await openAssociation(peer.port, {
      called: peer.aeTitle,
      calling: "BENCH",
      contexts,
      maxPduLength: 65536,
    });
    try {
      while (next < studies) {
        const s = next++;
        for (let i = 0; i < INSTANCES_PER_STUDY; i++) {
          const r = benchRecord(s, i);
          const pc = assoc.contextFor(r.sopClassUid)!;
          const rsp = await assoc.request(pc.id, {
            commandField: CommandField.CStoreRq,
            commandDataSetType: DATASET_PRESENT,
            affectedSopClassUid: r.sopClassUid,
            affectedSopInstanceUid: r.sopInstanceUid,
            priority: 0,
          }, datasetOf(r));
          if (rsp.command.status !== Status.Success) {
            throw new Error(`C-STORE status 0x${rsp.command.status?.toString(16)}`);
          }
          if (++sent % 10_000 === 0) {
            const rate = sent / ((performance.now() - t0) / 1000);
            console.log(`  ${sent} instances stored (${rate.toFixed(0)}/s)`);
          }
        }
      }
    } finally {
      await assoc.release();
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return (performance.now() - t0) / 1000;
}

export type Key = [tag: number, vr: string, text: string];

interface QuerySpec {
  name: string;
  /** The identifier of run k (targets rotate so no answer is served from a one-entry cache). */
  keys(k: number): Key[];
  /** Matches each run must return. */
  expected(k: number): number;
  /** Target: at most this many ms median for MiniPACS. */
  targetMs: number;
}

export const STUDY_RETURN: Key[] = [
  [0x00080020, "DA", ""],
  [0x00080030, "TM", ""],
  [0x00080050, "SH", ""],
  [0x00080061, "CS", ""],
  [0x00081030, "LO", ""],
  [0x00100010, "PN", ""],
  [0x00100020, "LO", ""],
  [0x0020000d, "UI", ""],
  [0x00201208, "IS", ""],
];

/** The queries, for an index of `studies` studies (the targets lie in the first 1,000). */
function querySpecs(studies: number): QuerySpec[] {
  const patients = Math.floor(studies / 2);
  // Patient's Name wildcard + a one-year range: each family name's studies in that year.
  const year = (k: number) => 2020 + (k % 5);
  const family = (k: number) => FAMILY[(k * 7) % FAMILY.length];
  const matchesNameYear = (k: number) => {
    let n = 0;
    for (let s = 0; s < studies; s++) {
      const r = benchRecord(s, 0);
      // "MARTIN*" finds MARTINEZ too: the wildcard spans the whole name.
      if (r.patientName.startsWith(family(k)) && r.studyDate.startsWith(String(year(k)))) n++;
    }
    return n;
  };
  const nameYear = new Map<string, number>();
  return [
    {
      name: "STUDY by Patient ID",
      keys: (
        k,
      ) => [
        [0x00080052, "CS", "STUDY"],
        ...STUDY_RETURN.map((x): Key =>
          x[0] === 0x00100020 ? [x[0], x[1], patientId((k * 97) % patients)] : x
        ),
      ],
      expected: () => 2,
      targetMs: 5,
    },
    {
      name: "STUDY by name* + date range",
      keys: (
        k,
      ) => [
        [0x00080052, "CS", "STUDY"],
        ...STUDY_RETURN.map((x): Key =>
          x[0] === 0x00100010
            ? [x[0], x[1], `${family(k)}*`]
            : x[0] === 0x00080020
            ? [x[0], x[1], `${year(k)}0101-${year(k)}1231`]
            : x
        ),
      ],
      expected: (k) => {
        const key = `${family(k)} ${year(k)}`;
        if (!nameYear.has(key)) nameYear.set(key, matchesNameYear(k));
        return nameYear.get(key)!;
      },
      targetMs: 5,
    },
    {
      name: "IMAGE of a 100-instance series",
      keys: (k) => {
        const s = (k * 131) % studies;
        return [
          [0x00080016, "UI", ""],
          [0x00080018, "UI", ""],
          [0x00080052, "CS", "IMAGE"],
          [0x0020000d, "UI", studyUid(s)],
          [0x0020000e, "UI", seriesUid(s)],
          [0x00200013, "IS", ""],
        ];
      },
      expected: () => INSTANCES_PER_STUDY,
      targetMs: 20,
    },
    {
      name: "SERIES of one study",
      keys: (k) => [
        [0x00080052, "CS", "SERIES"],
        [0x00080060, "CS", ""],
        [0x0008103e, "LO", ""],
        [0x0020000d, "UI", studyUid((k * 211) % studies)],
        [0x0020000e, "UI", ""],
        [0x00200011, "IS", ""],
        [0x00201209, "IS", ""],
      ],
      expected: () => 1,
      targetMs: 5,
    },
  ];
}

export function identifier(keys: Key[]): Uint8Array {
  const elements = keys.map(([tag, vr, text]) => textElement(tag, vr, text, "")!);
  return encodeDataset(elements, encodingOf(EXPLICIT_LE));
}

/** One C-FIND: milliseconds from sending the request to the final response, and the matches. */
export async function timedFind(
  assoc: RequestorAssociation,
  bytes: Uint8Array,
): Promise<{ ms: number; matches: number; status: number }> {
  let matches = 0;
  const t0 = performance.now();
  const rsp = await assoc.requestWithPending(
    1,
    {
      commandField: CommandField.CFindRq,
      commandDataSetType: DATASET_PRESENT,
      affectedSopClassUid: STUDY_ROOT_FIND,
      priority: 0,
    },
    bytes,
    () => matches++,
  );
  return { ms: performance.now() - t0, matches, status: rsp.command.status ?? -1 };
}

export interface Stats {
  median: number;
  p90: number;
  runs: number;
  mismatches: number;
}

export function stats(ms: number[], mismatches: number): Stats {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { median: at(0.5), p90: at(0.9), runs: ms.length, mismatches };
}

/**
 * Each query `runs` times on every peer, one association each; with several peers they take
 * turns run by run (the first one first on even runs, last on odd ones). Stats per peer.
 */
async function measure(peers: Peer[], specs: QuerySpec[], runs: number): Promise<Stats[][]> {
  const assocs: RequestorAssociation[] = [];
  try {
    for (const peer of peers) {
      assocs.push(
        await openAssociation(peer.port, {
          called: peer.aeTitle,
          calling: "BENCH",
          contexts: [{ id: 1, abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [EXPLICIT_LE] }],
          maxPduLength: 65536,
        }),
      );
    }
    const out: Stats[][] = peers.map(() => []);
    for (const spec of specs) {
      for (const assoc of assocs) {
        for (let k = 0; k < 10; k++) await timedFind(assoc, identifier(spec.keys(k))); // warm-up
      }
      const ms: number[][] = peers.map(() => []);
      const mismatches = peers.map(() => 0);
      for (let k = 0; k < runs; k++) {
        const bytes = identifier(spec.keys(k));
        const order = assocs.map((_, i) => i);
        if (k % 2 === 1) order.reverse();
        for (const i of order) {
          const r = await timedFind(assocs[i], bytes);
          if (r.status !== Status.Success || r.matches !== spec.expected(k)) mismatches[i]++;
          ms[i].push(r.ms);
        }
      }
      peers.forEach((_, i) => out[i].push(stats(ms[i], mismatches[i])));
    }
    return out;
  } finally {
    for (const assoc of assocs) await assoc.release();
  }
}

/**
 * MiniPACS as a child process on an existing storage folder, logging warnings only; `main` is
 * the src/main.ts to run (another checkout's with --compare).
 */
export async function startMiniPacsOn(
  storage: string,
  main = MAIN,
): Promise<Peer & { pid: number }> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-bench-find-" });
  const port = freePort();
  const toml = [
    "[server]",
    'ae_title = "MINIPACS"',
    'bind = "127.0.0.1"',
    `port = ${port}`,
    'accept = "any"',
    "[storage]",
    `path = ${JSON.stringify(storage)}`,
    "min_free_mb = 1",
    "[http]",
    "enabled = false",
    "[log]",
    'level = "warn"',
  ].join("\n");
  await Deno.writeTextFile(`${dir}/config.toml`, toml + "\n");
  const child = new Deno.Command(Deno.execPath(), {
    args: await serveArgs(`${dir}/config.toml`, main),
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
  };
  for (let i = 0; i < 300 && !(await echo(port, "MINIPACS")); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    aeTitle: "MINIPACS",
    port,
    pid: child.pid,
    stop,
    count: () => Promise.resolve(-1),
    countsAfterStop: false,
    cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
    output: () => "",
  };
}

/** Resident memory of a process in MiB (Linux /proc). */
export function rssMib(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

/**
 * Streams one IMAGE-level query over the series of `count` instances bulk-loaded into
 * `storage`; samples the server's RSS.
 */
async function flatMemory(storage: string, main = MAIN) {
  const peer = await startMiniPacsOn(storage, main);
  try {
    const assoc = await openAssociation(peer.port, {
      called: "MINIPACS",
      calling: "BENCH",
      contexts: [{ id: 1, abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [EXPLICIT_LE] }],
      maxPduLength: 65536,
    });
    try {
      const keys: Key[] = [
        [0x00080018, "UI", ""],
        [0x00080052, "CS", "IMAGE"],
        [0x0020000d, "UI", studyUid(100_000)],
        [0x0020000e, "UI", seriesUid(100_000)],
        [0x00200013, "IS", ""],
      ];
      await timedFind(
        assoc,
        identifier([...keys.slice(0, 2), [0x0020000d, "UI", "1"], [
          0x0020000e,
          "UI",
          "1",
        ]]),
      );
      const before = rssMib(peer.pid);
      let peak = before;
      const timer = setInterval(() => (peak = Math.max(peak, rssMib(peer.pid))), 20);
      const r = await timedFind(assoc, identifier(keys));
      clearInterval(timer);
      return { matches: r.matches, seconds: r.ms / 1000, before, peak };
    } finally {
      await assoc.release();
    }
  } finally {
    await peer.stop();
    await peer.cleanup();
  }
}

const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "-");

export async function runFindBench(values: Record<string, string | boolean | undefined>) {
  const studies = Number(values["find-studies"]);
  const orthancStudies = Number(values["find-orthanc-studies"] ?? studies);
  const runs = Number(values["find-runs"]);
  const flat = Number(values["find-flat"]);
  const only = String(values["find-only"]).split(",").map((s) => s.trim());
  if (!Number.isInteger(studies) || studies < 1000 || studies > 100_000) {
    console.error(`--find-studies must be an integer from 1000 to 100000`);
    return 2;
  }
  if (!Number.isInteger(orthancStudies) || orthancStudies < 1000 || orthancStudies > studies) {
    console.error(`--find-orthanc-studies must be from 1000 to --find-studies`);
    return 2;
  }
  if (!Number.isInteger(runs) || runs < 5 || runs > 100_000) {
    console.error(`--find-runs must be an integer from 5 to 100000`);
    return 2;
  }
  const compare = typeof values.compare === "string" ? values.compare : undefined;
  const compareLabel = `MiniPACS (${values["compare-label"] ?? compare})`;
  const specs = querySpecs(studies);
  const rows: { label: string; instances: number; stats: Stats[] }[] = [];
  const root = await Deno.makeTempDir({ prefix: "minipacs-bench-find-" });
  let failed = false;
  try {
    if (only.includes("minipacs")) {
      const storage = `${root}/minipacs`;
      const t0 = performance.now();
      bulkLoad(storage, studies, INSTANCES_PER_STUDY);
      const loadS = (performance.now() - t0) / 1000;
      console.log(
        `MiniPACS: ${studies * INSTANCES_PER_STUDY} instances indexed in ${loadS.toFixed(1)} s`,
      );
      // The other build gets a copy of the same index (closed, so one file holds it all).
      if (compare) {
        await Deno.mkdir(`${root}/compare`);
        await Deno.copyFile(`${storage}/index.sqlite`, `${root}/compare/index.sqlite`);
      }
      const peers: Peer[] = [];
      try {
        peers.push(await startMiniPacsOn(storage));
        if (compare) peers.push(await startMiniPacsOn(`${root}/compare`, compare));
        const measured = await measure(peers, specs, runs);
        rows.push({
          label: "MiniPACS",
          instances: studies * INSTANCES_PER_STUDY,
          stats: measured[0],
        });
        if (compare) {
          rows.push({
            label: compareLabel,
            instances: studies * INSTANCES_PER_STUDY,
            stats: measured[1],
          });
        }
      } finally {
        for (const peer of peers) {
          await peer.stop();
          await peer.cleanup();
        }
      }
    }
    if (only.includes("orthanc")) {
      let orthanc: Peer | undefined;
      try {
        const label = `Orthanc ${await orthancVersion()}`;
        orthanc = await startOrthanc();
        await allowFind(orthanc, "BENCH");
        console.log(`${label}: storing ${orthancStudies * INSTANCES_PER_STUDY} instances...`);
        const s = await storeAll(orthanc, orthancStudies);
        console.log(`${label}: stored in ${s.toFixed(0)} s`);
        rows.push({
          label,
          instances: orthancStudies * INSTANCES_PER_STUDY,
          stats: (await measure([orthanc], querySpecs(orthancStudies), runs))[0],
        });
      } catch (e) {
        console.log(`Orthanc: FAILED ${(e as Error).message}`);
        failed = true;
      } finally {
        await orthanc?.stop();
        await orthanc?.cleanup();
      }
    }
    let memory;
    let compareMemory;
    if (only.includes("minipacs") && flat > 0) {
      bulkLoad(`${root}/flat`, 1, flat, 100_000);
      memory = await flatMemory(`${root}/flat`);
      if (compare) compareMemory = await flatMemory(`${root}/flat`, compare);
    }

    const ours = rows.find((r) => r.label === "MiniPACS");
    const theirs = rows.find((r) => r.label.startsWith("Orthanc"));
    const before = rows.find((r) => r.label === compareLabel);
    const header = [
      "query",
      ...rows.map((r) => `${r.label} median / p90 ms`),
      ...(before ? [`x ${compareLabel}`] : []),
      "ratio",
      "target",
    ];
    const lines = [header];
    specs.forEach((spec, i) => {
      const cells = [spec.name];
      for (const r of rows) {
        const st = r.stats[i];
        cells.push(
          `${fmt(st.median)} / ${fmt(st.p90)}${st.mismatches ? ` (${st.mismatches} wrong)` : ""}`,
        );
        if (st.mismatches) failed = true;
      }
      if (before) {
        const change = ours ? ours.stats[i].median / before.stats[i].median : NaN;
        cells.push(Number.isFinite(change) ? `${change.toFixed(2)}x` : "-");
      }
      const ratio = ours && theirs ? ours.stats[i].median / theirs.stats[i].median : NaN;
      cells.push(Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : "-");
      const met = ours ? ours.stats[i].median <= spec.targetMs && !(ratio > 0.5) : false;
      cells.push(`<${spec.targetMs} ms, <=0.5x: ${ours ? (met ? "met" : "MISSED") : "-"}`);
      lines.push(cells);
    });
    const widths = header.map((_, c) => Math.max(...lines.map((l) => l[c].length)));
    console.log("");
    console.log(
      `find benchmark: ${runs} runs per query inside one association, our SCU, ` +
        rows.map((r) => `${r.label} ${r.instances} instances`).join(", "),
    );
    for (const l of lines) console.log(l.map((c, i) => c.padEnd(widths[i])).join(" | "));
    for (const [label, m] of [["MiniPACS", memory], [compareLabel, compareMemory]] as const) {
      if (!m) continue;
      console.log(
        `${label} streaming ${m.matches} IMAGE matches in ${m.seconds.toFixed(1)} s: ` +
          `RSS ${m.before.toFixed(0)} MiB before, ${m.peak.toFixed(0)} MiB peak`,
      );
    }
    if (values["find-json"]) {
      const report = {
        runs,
        rows,
        queries: specs.map((s) => s.name),
        memory,
        compareMemory,
        deno: Deno.version.deno,
      };
      await Deno.writeTextFile(String(values["find-json"]), JSON.stringify(report, null, 2) + "\n");
    }
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  return failed ? 1 : 0;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { ...FIND_OPTIONS, ...COMPARE_OPTIONS },
  });
  Deno.exit(await runFindBench(values));
}
