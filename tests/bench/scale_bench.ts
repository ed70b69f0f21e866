// Scale benchmark (issue 19, parts 2 and 3): MiniPACS holding a million instances.
//
// The store (scale_data.ts) is built once into --scale-dir and reused by later runs with the
// same --scale-instances. Then, each against its target, one table:
//   - C-FIND: the four queries of the find benchmark, a Study Date range alone, PatientName=*A*;
//   - start-up to the first C-ECHO answered: after a clean shutdown, and after kill -9 with
//     about 1,000 CT images still in the journal;
//   - status page, studies page (search, and a later page by its cursor), /api/status, /metrics;
//   - idle memory, index size per instance;
//   - sustained ingest: --scale-ingest CT images over 8 associations, images/s per block of
//     1,000, the journal backlog (acknowledged, not yet at home) and memory, sampled each second;
//   - retention deleting --scale-retention instances (studies added for it, received long ago)
//     with the p99 C-STORE latency of one paced association during it and before it;
//   - `minipacs reindex` of the whole store, files/s.
// What the run adds (ingest, crash images) is deleted through the API at the end, and
// retention removes exactly what was added for it, so the store is as built for the next run.
//
//   deno task bench --suite scale [--scale-dir DIR] [--scale-instances N] [--scale-runs R]
//                   [--scale-ingest N] [--scale-retention N] [--scale-skip a,b] [--scale-json F]
//                   [--scale-build-only]
//
// --scale-dir: where the store is (default: a temporary folder, removed at the end);
// --scale-build-only: build the store (when missing) and stop;
// --scale-instances: 1,000 to 2,000,000 in hundreds (default 1,000,000); --scale-skip: any of
// find, http, crash, ingest, retention, reindex.
import { DatabaseSync } from "node:sqlite";
import {
  type DataElement,
  encodeDataset,
  encodingOf,
  textElement,
} from "../../src/core/dicom/dataset.ts";
import { type Key, type Stats, stats, STUDY_RETURN, timedFind } from "./find_bench.ts";
import {
  loadStudies,
  patientIdOf,
  patientName,
  patientOf,
  PER_STUDY,
  SCALE_UID_ROOT,
  type ScaleShape,
  seriesCountOf,
  seriesUidOf,
  shapeOf,
  studyDateOf,
  studyUidOf,
} from "./scale_data.ts";
import {
  metric,
  quantile,
  type ScaleServer,
  sendImages,
  startScaleServer,
  type UidsOf,
} from "./scale_server.ts";
import { openAssociation } from "../helpers/scu.ts";
import { MAIN } from "../helpers/server.ts";
import { medianOf } from "./median.ts";
import { cpuMsOf, cpuUse, type MachineCpu, machineCpu } from "./process_cpu.ts";

export const SCALE_OPTIONS = {
  "scale-dir": { type: "string" },
  "scale-instances": { type: "string", default: "1000000" },
  "scale-runs": { type: "string", default: "100" },
  "scale-ingest": { type: "string", default: "20000" },
  "scale-retention": { type: "string" },
  "scale-skip": { type: "string", default: "" },
  "scale-json": { type: "string" },
  "scale-build-only": { type: "boolean", default: false },
} as const;

const STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1";
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const MARKER = "scale.json";
const INGEST_BLOCK = 1000;
const CRASH_IMAGES = 1000;
/** The server runs retention this long after start-up (storage/retention.ts). */
const RETENTION_DELAY_MS = 60_000;

/** One line of the result table. */
interface Row {
  what: string;
  value: string;
  target: string;
  /** true met, false missed, null: reported only. */
  met: boolean | null;
}

const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)} ms` : "-");

/** Builds the store unless the folder already holds one of this size; returns its shape. */
async function ensureStore(dir: string, instances: number, rows: Row[]): Promise<ScaleShape> {
  const studies = instances / PER_STUDY;
  const shape = shapeOf(studies);
  const storage = `${dir}/storage`;
  try {
    const built = JSON.parse(await Deno.readTextFile(`${dir}/${MARKER}`));
    if (built.instances === instances) {
      console.log(`scale: reusing the ${instances}-instance store in ${dir}`);
      return shape;
    }
    throw new Error(`${dir} holds a ${built.instances}-instance store; use another --scale-dir`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  try {
    await Deno.stat(storage);
    throw new Error(`${storage} exists without ${MARKER} (an interrupted build?); remove it`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  console.log(`scale: building ${instances} instances (${studies} studies) in ${storage}`);
  const t0 = performance.now();
  const now = Date.now();
  loadStudies(storage, {
    first: 0,
    count: studies,
    shape,
    // Received over the last 30 days: younger than any retention below.
    receivedAt: (s) => new Date(now - (s % 30) * 86_400_000).toISOString(),
    onProgress: (n) => {
      if (n % 50_000 === 0) {
        const rate = n / ((performance.now() - t0) / 1000);
        console.log(`  ${n} instances indexed and written (${rate.toFixed(0)}/s)`);
      }
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  await Deno.writeTextFile(`${dir}/${MARKER}`, JSON.stringify({ instances, studies }) + "\n");
  rows.push({
    what: "build (index code + files)",
    value: `${seconds.toFixed(0)} s, ${(instances / seconds).toFixed(0)} instances/s`,
    target: "-",
    met: null,
  });
  return shape;
}

interface FindSpec {
  name: string;
  keys(k: number): Key[];
  expected?: (k: number) => number;
  targetMs?: number;
  runs?: number;
}

/** A C-FIND identifier in UTF-8 (ISO_IR 192): the names are in several scripts. */
function identifier(keys: Key[]): Uint8Array {
  const elements: DataElement[] = [
    textElement(0x00080005, "CS", "ISO_IR 192", "")!,
    ...keys.map(([tag, vr, text]) => textElement(tag, vr, text, "ISO_IR 192")!),
  ];
  return encodeDataset(elements, encodingOf(EXPLICIT_LE));
}

const withKeys = (level: string, overrides: Record<number, string>): Key[] => [
  [0x00080052, "CS", level],
  ...STUDY_RETURN.map((x): Key => (x[0] in overrides ? [x[0], x[1], overrides[x[0]]] : x)),
];

/** Studies s of the store for which `pick` holds. */
function countStudies(shape: ScaleShape, pick: (s: number) => boolean): number {
  let n = 0;
  for (let s = 0; s < shape.studies; s++) if (pick(s)) n++;
  return n;
}

function findSpecs(shape: ScaleShape, runs: number): FindSpec[] {
  const family = (k: number) => patientName(k % 50).split("^")[0];
  const year = (k: number) => 2016 + (k % 10);
  const month = (k: number) => String(1 + (k % 12)).padStart(2, "0");
  const memo = new Map<string, number>();
  const cached = (key: string, f: () => number) => {
    if (!memo.has(key)) memo.set(key, f());
    return memo.get(key)!;
  };
  return [
    {
      name: "STUDY by Patient ID",
      keys: (k) => withKeys("STUDY", { 0x00100020: patientIdOf((k * 97) % shape.patients) }),
      expected: (k) =>
        cached(
          `p${k}`,
          () => countStudies(shape, (s) => patientOf(shape, s) === (k * 97) % shape.patients),
        ),
      targetMs: 5,
    },
    {
      name: "STUDY by name* + date range",
      keys: (k) =>
        withKeys("STUDY", {
          0x00100010: `${family(k)}*`,
          0x00080020: `${year(k)}0101-${year(k)}1231`,
        }),
      expected: (k) =>
        cached(
          `n${family(k)}${year(k)}`,
          () =>
            countStudies(shape, (s) =>
              patientName(patientOf(shape, s)).startsWith(family(k)) &&
              studyDateOf(s).startsWith(String(year(k)))),
        ),
      targetMs: 5,
    },
    {
      name: "SERIES of one study",
      keys: (k) => [
        [0x00080052, "CS", "SERIES"],
        [0x00080060, "CS", ""],
        [0x0008103e, "LO", ""],
        [0x0020000d, "UI", studyUidOf((k * 211) % shape.studies)],
        [0x0020000e, "UI", ""],
        [0x00200011, "IS", ""],
        [0x00201209, "IS", ""],
      ],
      expected: (k) => seriesCountOf((k * 211) % shape.studies),
      targetMs: 5,
    },
    {
      name: "IMAGE of a 100-instance series",
      keys: (k) => {
        const s = ((k * 131) % shape.studies) & ~1; // even studies hold one 100-instance series
        return [
          [0x00080016, "UI", ""],
          [0x00080018, "UI", ""],
          [0x00080052, "CS", "IMAGE"],
          [0x0020000d, "UI", studyUidOf(s)],
          [0x0020000e, "UI", seriesUidOf(s, 0)],
          [0x00200013, "IS", ""],
        ];
      },
      expected: () => PER_STUDY,
      targetMs: 20,
    },
    {
      name: "STUDY by Study Date range alone (one month)",
      keys: (k) =>
        withKeys("STUDY", { 0x00080020: `${year(k)}${month(k)}01-${year(k)}${month(k)}31` }),
      expected: (k) =>
        cached(
          `d${year(k)}${month(k)}`,
          () => countStudies(shape, (s) => studyDateOf(s).startsWith(`${year(k)}${month(k)}`)),
        ),
    },
    {
      name: "STUDY by PatientName=*A* (worst case)",
      keys: () => withKeys("STUDY", { 0x00100010: "*A*" }),
      runs: Math.max(5, Math.floor(runs / 10)),
    },
  ];
}

async function measureFinds(server: ScaleServer, shape: ScaleShape, runs: number, rows: Row[]) {
  const assoc = await openAssociation(server.port, {
    called: "MINIPACS",
    calling: "SCALEBENCH",
    contexts: [{ id: 1, abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [EXPLICIT_LE] }],
    maxPduLength: 65536,
  });
  try {
    for (const spec of findSpecs(shape, runs)) {
      const n = spec.runs ?? runs;
      for (let k = 0; k < Math.min(10, n); k++) await timedFind(assoc, identifier(spec.keys(k)));
      const times: number[] = [];
      let wrong = 0;
      let matches = 0;
      for (let k = 0; k < n; k++) {
        const r = await timedFind(assoc, identifier(spec.keys(k)));
        if (r.status !== 0 || (spec.expected && r.matches !== spec.expected(k))) wrong++;
        matches += r.matches;
        times.push(r.ms);
      }
      const st: Stats = stats(times, wrong);
      rows.push({
        what: `C-FIND ${spec.name}`,
        value: `${ms(st.median)} median, ${ms(st.p90)} p90, ${(matches / n).toFixed(0)} matches` +
          (wrong ? `, ${wrong} WRONG` : ""),
        target: spec.targetMs ? `< ${spec.targetMs} ms median` : "reported",
        met: wrong ? false : spec.targetMs ? st.median < spec.targetMs : null,
      });
    }
  } finally {
    await assoc.release();
  }
}

async function measureHttp(server: ScaleServer, runs: number, rows: Row[]) {
  const first = JSON.parse((await server.get("/api/studies?limit=50")).body);
  let cursor: string | null = first.next;
  // A later page: follow the cursor ten pages down.
  for (let i = 0; i < 9 && cursor; i++) {
    cursor = JSON.parse((await server.get(`/api/studies?limit=50&after=${cursor}`)).body).next;
  }
  const pages: [string, string][] = [
    ["status page /", "/"],
    [
      "studies page, search name + dates",
      "/studies?name=M%C3%BCller&from=2018-01-01&to=2020-12-31",
    ],
    ["studies page, 11th page by cursor", `/studies?after=${encodeURIComponent(cursor ?? "")}`],
    ["studies page, first page", "/studies"],
    ["/api/status", "/api/status"],
    ["/metrics", "/metrics"],
  ];
  for (const [what, path] of pages) {
    const times: number[] = [];
    let bad = 0;
    for (let k = 0; k < runs + 2; k++) {
      const r = await server.get(path);
      if (r.status !== 200) bad++;
      if (k >= 2) times.push(r.ms);
    }
    const st = stats(times, bad);
    rows.push({
      what: `HTTP ${what}`,
      value: `${ms(st.median)} median, ${ms(Math.max(...times))} max` +
        (bad ? `, ${bad} not 200` : ""),
      target: "< 100 ms",
      met: !bad && Math.max(...times) < 100,
    });
  }
}

/** Pages through the same UIDs as the sender: a study of 1,000 per block of images. */
function scratchUids(tag: number): UidsOf {
  const root = `${SCALE_UID_ROOT}.9${tag}.${Date.now()}`;
  return (n) => {
    const study = `${root}.${Math.floor(n / INGEST_BLOCK) + 1}`;
    return { study, series: `${study}.1`, sop: `${study}.1.${(n % INGEST_BLOCK) + 1}` };
  };
}

/** The scratch studies a sender of `count` images made. */
function scratchStudies(uids: UidsOf, count: number): string[] {
  const out = new Set<string>();
  for (let n = 0; n < count; n += INGEST_BLOCK) out.add(uids(n).study);
  if (count > 0) out.add(uids(count - 1).study);
  return [...out];
}

async function deleteStudies(server: ScaleServer, studies: string[]): Promise<void> {
  for (const uid of studies) {
    const r = await fetch(`http://127.0.0.1:${server.httpPort}/api/studies/${uid}`, {
      method: "DELETE",
      signal: AbortSignal.timeout(300_000),
    });
    await r.body?.cancel();
  }
}

/** Waits (bounded) until the journal holds nothing more for the homes. */
async function drained(server: ScaleServer, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    const pending = metric((await server.get("/metrics")).body, "minipacs_journal_pending_objects");
    if (pending === 0) return (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 500));
  }
  return NaN;
}

interface IngestSample {
  t: number;
  /** Each second only (NaN between). */
  pending: number;
  rss: number;
  serverCpuMs: number;
  machine: MachineCpu;
}

interface BlockCpu {
  serverMsPerImage: number;
  /** Share of the machine's CPU time the host took (steal). */
  steal: number;
  /** Share of the machine's CPU time used (the server, the senders, anything else). */
  busy: number;
}

/**
 * The server's CPU per image and the stolen share over one block: between the last sample at or
 * before its start and the first at or after its end, divided by the images acknowledged then.
 */
function blockCpu(samples: IngestSample[], acks: [number, number][], from: number, to: number) {
  let a = 0;
  while (a + 1 < samples.length && samples[a + 1].t <= from) a++;
  let b = samples.length - 1;
  while (b - 1 > a && samples[b - 1].t >= to) b--;
  const s0 = samples[a], s1 = samples[b];
  const images = acks.filter(([t]) => t > s0.t && t <= s1.t).length;
  const use = cpuUse(s0.machine, s1.machine);
  return {
    serverMsPerImage: images ? (s1.serverCpuMs - s0.serverCpuMs) / images : NaN,
    steal: use.steal,
    busy: use.busy,
  } satisfies BlockCpu;
}

/** Part 3: sustained ingest over 8 associations, sampled every quarter of a second. */
async function measureIngest(server: ScaleServer, count: number, rows: Row[]): Promise<string[]> {
  const uids = scratchUids(1);
  const samples: IngestSample[] = [];
  let sending = true;
  const sampler = (async () => {
    for (let k = 0; sending; k++) {
      // The backlog and memory each second; the CPU readings (cheap /proc reads) four times as
      // often, so that a block of 1,000 images (a few seconds) is framed closely.
      const page = k % 4 === 0 ? (await server.get("/metrics")).body : undefined;
      samples.push({
        t: performance.now(),
        pending: page ? metric(page, "minipacs_journal_pending_objects") : NaN,
        rss: page ? server.rss() : NaN,
        serverCpuMs: cpuMsOf(server.pid),
        machine: machineCpu(),
      });
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const r = await sendImages({
    port: server.port,
    associations: 8,
    count,
    uidsOf: uids,
    timeoutMs: 30 * 60_000,
  });
  sending = false;
  await sampler;
  const blocks: number[] = [];
  const cpu: BlockCpu[] = [];
  let from = r.started;
  for (let b = INGEST_BLOCK; b <= r.acks.length; b += INGEST_BLOCK) {
    const at = r.acks[b - 1][0];
    blocks.push(INGEST_BLOCK / ((at - from) / 1000));
    cpu.push(blockCpu(samples, r.acks, from, at));
    from = at;
  }
  const total = r.acks.length / ((r.acks.at(-1)?.[0] ?? r.started) - r.started) * 1000;
  const worst = Math.min(...blocks.slice(1));
  const worstAt = blocks.indexOf(worst, 1);
  const perSecond = samples.filter((s) => Number.isFinite(s.pending));
  console.log(
    `ingest: images/s per block of ${INGEST_BLOCK}: ${blocks.map((b) => b.toFixed(0)).join(" ")}`,
  );
  console.log(
    `ingest: server CPU ms per image, per block: ${
      cpu.map((c) => c.serverMsPerImage.toFixed(2)).join(" ")
    }`,
  );
  console.log(
    `ingest: CPU taken by the host (steal) per block, %: ${
      cpu.map((c) => (100 * c.steal).toFixed(0)).join(" ")
    }`,
  );
  console.log(
    `ingest: CPU of the machine busy per block (server, senders, anything else), %: ${
      cpu.map((c) => (100 * c.busy).toFixed(0)).join(" ")
    }`,
  );
  console.log(`ingest: journal backlog each second: ${perSecond.map((s) => s.pending).join(" ")}`);
  console.log(`ingest: RSS MiB each second: ${perSecond.map((s) => s.rss.toFixed(0)).join(" ")}`);
  const drainS = await drained(server, 30 * 60_000);
  rows.push({
    what: `ingest ${count} CT over 8 assoc`,
    value: `${total.toFixed(1)} img/s overall, ${r.failures} failed`,
    target: "-",
    met: r.failures === 0 && r.acks.length === count ? null : false,
  });
  rows.push({
    what: "ingest: slowest block vs first",
    value:
      `${blocks[0]?.toFixed(1)} -> ${worst.toFixed(1)} img/s (${
        (worst / blocks[0]).toFixed(2)
      }x; block ${worstAt + 1}, ${(100 * (cpu[worstAt]?.steal ?? NaN)).toFixed(0)}% of the CPU ` +
      `taken by the host then, ${(100 * (cpu[0]?.steal ?? NaN)).toFixed(0)}% in the first)`,
    target: ">= 0.8x",
    met: blocks.length > 1 ? worst / blocks[0] >= 0.8 : null,
  });
  // Decay as the index and the disk fill would show as more CPU per image in later blocks,
  // whatever the host takes: the last third's median against the first third's.
  const perImage = cpu.map((c) => c.serverMsPerImage);
  const third = Math.max(1, Math.floor(perImage.length / 3));
  const early = medianOf(perImage.slice(0, third));
  const late = medianOf(perImage.slice(-third));
  rows.push({
    what: "ingest: server CPU per image",
    value: `${early.toFixed(2)} ms median in the first third of the blocks, ${
      late.toFixed(2)
    } ms in the last (${(late / early).toFixed(2)}x)`,
    target: "reported",
    met: null,
  });
  const pend = perSecond.map((s) => s.pending);
  rows.push({
    what: "ingest: journal backlog",
    value: `max ${Math.max(...pend)} objects, drained ${drainS.toFixed(1)} s after the last ack`,
    target: "bounded",
    met: null,
  });
  const rss = perSecond.map((s) => s.rss);
  const rssThird = Math.max(1, Math.floor(rss.length / 3));
  rows.push({
    what: "ingest: server memory",
    value: `first third max ${Math.max(...rss.slice(0, rssThird)).toFixed(0)} MiB, ` +
      `last third max ${Math.max(...rss.slice(-rssThird)).toFixed(0)} MiB, peak ${
        Math.max(...rss).toFixed(0)
      } MiB`,
    target: "flat",
    met: null,
  });
  return scratchStudies(uids, count);
}

/** Start-up after kill -9 with about CRASH_IMAGES images just acknowledged (in the journal). */
async function measureCrash(
  server: ScaleServer,
  storage: string,
  work: string,
  rows: Row[],
): Promise<{ server: ScaleServer; scratch: string[] }> {
  const uids = scratchUids(2);
  const sent = await sendImages({
    port: server.port,
    associations: 8,
    count: CRASH_IMAGES,
    uidsOf: uids,
    timeoutMs: 10 * 60_000,
  });
  await server.kill();
  const next = await startScaleServer({ storage, work });
  // The log file catches up (bounded: 10 s); recovery logs before "MiniPACS started".
  for (let i = 0; i < 100 && !next.log().includes("MiniPACS started"); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const queued = Number(/storage recovery done.*?queued[=:" ]+(\d+)/.exec(next.log())?.[1] ?? NaN);
  rows.push({
    what: "start-up after kill -9 to first C-ECHO",
    value: `${next.startSeconds.toFixed(2)} s, ${queued} of ${sent.acks.length} acknowledged ` +
      "images still in the journal",
    target: "< 5 s",
    met: next.startSeconds < 5,
  });
  return { server: next, scratch: scratchStudies(uids, CRASH_IMAGES) };
}

/** Retention deleting `instances` instances while one paced association stores CT images. */
async function measureRetention(
  dir: string,
  shape: ScaleShape,
  instances: number,
  rows: Row[],
): Promise<void> {
  const storage = `${dir}/storage`;
  const studies = Math.ceil(instances / PER_STUDY);
  const t0 = performance.now();
  // Studies past the store's own, received long ago: the only ones retention will delete.
  loadStudies(storage, {
    first: shape.studies,
    count: studies,
    shape,
    receivedAt: () => "2001-01-01T00:00:00.000Z",
  });
  console.log(
    `retention: ${studies * PER_STUDY} old instances added in ${
      ((performance.now() - t0) / 1000).toFixed(0)
    } s`,
  );
  const server = await startScaleServer({ storage, work: dir, retentionDays: 3650 });
  const uids = scratchUids(3);
  // Retention runs a minute after start-up: the stores before that are the baseline, those
  // from then until "retention done" is logged ran during it (wall-clock times of the log).
  let done = false;
  const watcher = (async () => {
    for (let i = 0; i < 3600 && !done; i++) { // bounded: 30 minutes
      done = server.log().includes("retention done");
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  const r = await sendImages({
    port: server.port,
    associations: 1,
    count: 100_000,
    uidsOf: (n) => uids(n),
    intervalMs: 50,
    stop: () => done,
    timeoutMs: 30 * 60_000,
  });
  done = true;
  await watcher;
  const log = server.log();
  const timeOf = (re: RegExp) => Date.parse(re.exec(log)?.[1] ?? "");
  const begin = timeOf(/^(\S+) INFO +MiniPACS started/m) + RETENTION_DELAY_MS;
  const end = timeOf(/^(\S+) INFO +retention done/m);
  const retentionSeconds = (end - begin) / 1000;
  const latency = { before: [] as number[], during: [] as number[] };
  for (const [at, lat] of r.acks) {
    const wall = performance.timeOrigin + at;
    if (wall < begin) latency.before.push(lat);
    else if (wall <= end) latency.during.push(lat);
  }
  const deleted = Number(/retention done.*?instances[=:" ]+(\d+)/.exec(server.log())?.[1] ?? NaN);
  await deleteStudies(server, scratchStudies(uids, r.acks.length + r.failures));
  await server.stop();
  const p99b = quantile(latency.before, 0.99), p99d = quantile(latency.during, 0.99);
  rows.push({
    what: `retention deleting ${studies * PER_STUDY} instances`,
    value: `${deleted} deleted in ${retentionSeconds.toFixed(0)} s ` +
      `(${(deleted / retentionSeconds).toFixed(0)}/s)`,
    target: "-",
    met: deleted === studies * PER_STUDY ? null : false,
  });
  rows.push({
    what: "C-STORE p99 latency, 1 assoc, 20/s",
    value: `${ms(p99d)} during retention (${latency.during.length} stores) vs ${ms(p99b)} ` +
      `before (${latency.before.length}): ${(p99d / p99b).toFixed(2)}x`,
    target: "<= 2x",
    met: p99d / p99b <= 2,
  });
}

/** `minipacs reindex` of the whole store, its progress lines echoed. */
async function measureReindex(dir: string, instances: number, rows: Row[]): Promise<void> {
  const config = `${dir}/reindex.toml`;
  await Deno.writeTextFile(config, `[storage]\npath = ${JSON.stringify(`${dir}/storage`)}\n`);
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "reindex", "--config", config],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let lines = 0;
  let lastLine = "";
  const progress = (async () => {
    const decoder = new TextDecoderStream();
    for await (const chunk of child.stderr.pipeThrough(decoder)) {
      for (const line of chunk.split("\n").filter(Boolean)) {
        lastLine = line;
        // Every 50th progress line, so a million files print a screenful.
        if (lines++ % 50 === 0) console.log(`reindex: ${line.trim()}`);
      }
    }
  })();
  const stdout = new Response(child.stdout).text();
  await child.status;
  await progress.catch(() => {});
  const seconds = (performance.now() - t0) / 1000;
  const summary = (await stdout).split("\n")[0];
  const indexed = Number(/(\d+) objects indexed/.exec(summary)?.[1] ?? NaN);
  console.log(`reindex: ${summary} (last progress line: ${lastLine.trim()})`);
  rows.push({
    what: "reindex of the whole store",
    value:
      `${indexed} files in ${seconds.toFixed(0)} s: ${(indexed / seconds).toFixed(0)} files/s ` +
      `(${lines} progress lines)`,
    target: ">= 2000 files/s",
    met: indexed === instances && indexed / seconds >= 2000,
  });
}

function indexBytes(storage: string): number {
  let n = 0;
  for (const suffix of ["", "-wal"]) {
    try {
      n += Deno.statSync(`${storage}/index.sqlite${suffix}`).size;
    } catch { /* no WAL */ }
  }
  return n;
}

/** Seconds without work before idle memory is read. */
const IDLE_SECONDS = 30;

/**
 * Waits until the server's background pass has kept the DICOMweb metadata of every instance
 * (dicomweb.sqlite says it is built through the highest seq in the index); false on timeout.
 */
async function metadataBuilt(storage: string, timeoutMs: number): Promise<boolean> {
  const index = new DatabaseSync(`${storage}/index.sqlite`, { readOnly: true });
  let top: number;
  try {
    top = Number((index.prepare("SELECT max(seq) AS s FROM instance").get() as { s: number }).s);
  } finally {
    index.close();
  }
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      const db = new DatabaseSync(`${storage}/dicomweb.sqlite`, { readOnly: true });
      try {
        const row = db.prepare("SELECT through_seq AS s FROM built").get() as
          | { s: number }
          | undefined;
        if (row && Number(row.s) >= top) return true;
      } finally {
        db.close();
      }
    } catch { /* not created yet */ }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return false;
}

/** Instances the index holds (the server stopped). */
function indexedInstances(storage: string): number {
  const db = new DatabaseSync(`${storage}/index.sqlite`, { readOnly: true });
  try {
    return Number((db.prepare("SELECT count(*) AS n FROM instance").get() as { n: number }).n);
  } finally {
    db.close();
  }
}

function printTable(header: string, rows: Row[]): void {
  const lines = [["measure", "result", "target", ""]];
  for (const r of rows) {
    lines.push([r.what, r.value, r.target, r.met === null ? "" : r.met ? "met" : "MISSED"]);
  }
  const widths = lines[0].map((_, c) => Math.max(...lines.map((l) => l[c].length)));
  console.log("");
  console.log(header);
  for (const l of lines) console.log(l.map((c, i) => c.padEnd(widths[i])).join(" | ").trimEnd());
}

export async function runScaleBench(values: Record<string, string | boolean | undefined>) {
  const instances = Number(values["scale-instances"] ?? 1_000_000);
  const runs = Number(values["scale-runs"] ?? 100);
  const ingest = Number(values["scale-ingest"] ?? 20_000);
  const retention = Number(values["scale-retention"] ?? Math.floor(instances / 10));
  const skip = new Set(String(values["scale-skip"] ?? "").split(",").map((s) => s.trim()));
  if (
    !Number.isInteger(instances) || instances < 1000 || instances > 2_000_000 || instances % 100
  ) {
    console.error("--scale-instances must be a multiple of 100 from 1000 to 2000000");
    return 2;
  }
  if (!Number.isInteger(runs) || runs < 5 || runs > 10_000) {
    console.error("--scale-runs must be an integer from 5 to 10000");
    return 2;
  }
  if (!Number.isInteger(ingest) || ingest < 0 || ingest > 200_000) {
    console.error("--scale-ingest must be an integer from 0 to 200000");
    return 2;
  }
  if (!Number.isInteger(retention) || retention < 100 || retention > 1_000_000) {
    console.error("--scale-retention must be an integer from 100 to 1000000");
    return 2;
  }
  const given = values["scale-dir"] !== undefined;
  const dir = given
    ? String(values["scale-dir"]).replace(/\/+$/, "")
    : await Deno.makeTempDir({ prefix: "minipacs-bench-scale-" });
  await Deno.mkdir(dir, { recursive: true });
  const storage = `${dir}/storage`;
  const rows: Row[] = [];
  let failed = false;
  try {
    const shape = await ensureStore(dir, instances, rows);
    if (values["scale-build-only"]) return 0;
    const size = indexBytes(storage);
    rows.push({
      what: "index size",
      value: `${(size / 1024 / 1024).toFixed(0)} MiB, ${
        (size / instances).toFixed(0)
      } bytes per instance`,
      target: "reported",
      met: null,
    });
    // A first start (writes the journal reserve once, keeps every instance's DICOMweb metadata:
    // a server is not idle while it does), then the timed one after its clean stop.
    const first = await startScaleServer({ storage, work: dir });
    try {
      const t0 = performance.now();
      if (!await metadataBuilt(storage, 30 * 60_000)) console.log("scale: metadata not built");
      console.log(
        `scale: DICOMweb metadata kept after ${((performance.now() - t0) / 1000).toFixed(0)} s`,
      );
    } finally {
      await first.stop();
    }
    let server = await startScaleServer({ storage, work: dir });
    const scratch: string[] = [];
    try {
      rows.push({
        what: "start-up after clean shutdown to first C-ECHO",
        value: `${server.startSeconds.toFixed(2)} s`,
        target: "< 2 s",
        met: server.startSeconds < 2,
      });
      if (!skip.has("find")) await measureFinds(server, shape, runs, rows);
      if (!skip.has("http")) await measureHttp(server, Math.min(runs, 20), rows);
      // Deno's I/O threads end 10 s after their last task, V8 shrinks its heap some seconds
      // after the last allocation: idle is a while after the queries, 5 s shown beside it.
      await new Promise((r) => setTimeout(r, 5000));
      const early = `${server.rss().toFixed(0)} MiB after 5 s`;
      await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000 - 5000));
      rows.push({
        what: `idle memory (RSS after the queries, ${IDLE_SECONDS} s idle)`,
        value: `${server.rss().toFixed(0)} MiB RSS (${server.rssParts()}; ${early})`,
        target: "< 100 MB",
        met: server.rss() * 1.048576 < 100,
      });
      if (!skip.has("crash")) {
        const crash = await measureCrash(server, storage, dir, rows);
        server = crash.server;
        scratch.push(...crash.scratch);
      }
      if (!skip.has("ingest") && ingest > 0) {
        scratch.push(...await measureIngest(server, ingest, rows));
      }
      await drained(server, 30 * 60_000);
      await deleteStudies(server, scratch);
    } finally {
      await server.stop();
    }
    if (!skip.has("retention")) await measureRetention(dir, shape, retention, rows);
    const left = indexedInstances(storage);
    if (left !== instances) {
      console.log(`WARNING: the store holds ${left} instances after the run, not ${instances}`);
      failed = true;
    }
    if (!skip.has("reindex")) await measureReindex(dir, instances, rows);
  } catch (e) {
    console.log(`scale: FAILED ${(e as Error).stack ?? e}`);
    failed = true;
  } finally {
    if (!given) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  printTable(
    `scale benchmark: ${instances} instances (${instances / PER_STUDY} studies), ` +
      `${runs} runs per query, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores`,
    rows,
  );
  if (values["scale-json"]) {
    await Deno.writeTextFile(
      String(values["scale-json"]),
      JSON.stringify({ instances, rows }, null, 2) + "\n",
    );
  }
  return failed || rows.some((r) => r.met === false) ? 1 : 0;
}
