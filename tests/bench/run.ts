// Storage benchmark: MiniPACS beside DCMTK storescp (files only, the practical ceiling) and
// Orthanc, in one run. Each gets the same generated CT images (512x512, 16-bit) from DCMTK
// storescu, on one association and then on 8 in parallel; every server starts fresh with empty
// storage for each scenario and answers one C-ECHO before the clock starts.
//
// The method, so that no server pays for another's work: `sync` before every scenario; in each
// round the servers run the same scenario back to back, odd rounds in the listed order and even
// rounds in reverse; each server's rate is divided by the anchor's (storescp, Orthanc) of the same
// round and scenario, and the table shows the median of those paired ratios with their spread
// (min-max). "Durable at home" times until every image is in a file of its own and on disk:
// MiniPACS until its journal is materialized (each home file is fsynced before its rename), the
// others until a `sync` after the last storescu exit returns.
//
//   deno task bench [--count N] [--only minipacs,storescp,orthanc] [--json out.json]
//                   [--durability fsync|none] [--repeat R]
//
// --compare PATH: also run the MiniPACS whose src/main.ts is PATH (another checkout), labelled
// --compare-label (the find and move suites take it too). --count: images (default 1000); --only: servers to run; --json: also write the results
// there; --durability: MiniPACS storage.durability (default fsync); --repeat: rounds (default 4,
// so that there are pairs in both orders). Exit 1 when a scenario failed or a server held fewer
// objects than were sent.
//
// Needs DCMTK (storescu, storescp, echoscu) and Orthanc (/usr/sbin/Orthanc); a missing peer is
// skipped with a line naming it. Every DCMTK tool runs with TCP_NODELAY=1. Loopback only.
//
// --suite store|find|move|forward|transcode|tls|dicomweb|scale|all (default all): the storage
// benchmark above, or one of the other suites in SUITES below (each file describes its own
// --<suite>-* options); "all" runs every one of them in turn but dicomweb (its Orthanc takes
// minutes to load) and scale (it builds a million-instance store).
import type { CpuUse } from "./process_cpu.ts";
import { parseArgs } from "node:util";
import { generateCorpus } from "./corpus.ts";
import { DICOMWEB_OPTIONS, runDicomWebBench } from "./dicomweb_bench.ts";
import { COMPARE_OPTIONS, FIND_OPTIONS, runFindBench } from "./find_bench.ts";
import { FORWARD_OPTIONS, runForwardBench } from "./forward_bench.ts";
import { MOVE_OPTIONS, runMoveBench } from "./move_bench.ts";
import { runScaleBench, SCALE_OPTIONS } from "./scale_bench.ts";
import { runTlsBench, TLS_OPTIONS } from "./tls_bench.ts";
import { runTranscodeBench, TRANSCODE_OPTIONS } from "./transcode_bench.ts";
import {
  orthancVersion,
  type Peer,
  startMiniPacsPeer,
  startOrthanc,
  startStorescp,
} from "../helpers/peers.ts";
import { runScenario, type ScenarioResult } from "./store_bench.ts";
import { fsyncFloorLine, measureFsyncFloor } from "./fsync_floor.ts";
import { medianOf } from "./median.ts";

const ORTHANC_BIN = "/usr/sbin/Orthanc";
const PARALLEL = 8;
const SCENARIOS = [1, PARALLEL];
const KINDS = ["storescp", "orthanc", "minipacs"] as const;
type Kind = typeof KINDS[number];

interface Row {
  kind: Kind;
  label: string;
  /** Per scenario: the median round, or a failed one. */
  scenarios: ScenarioResult[];
  rounds: ScenarioResult[][];
}

/** The median of the rounds by images/s; any failure or warning wins, to stay visible. */
function median(rounds: ScenarioResult[]): ScenarioResult {
  const bad = rounds.find((r) => r.error !== undefined || r.warning !== undefined);
  if (bad) return bad;
  const sorted = [...rounds].sort((a, b) => a.imagesPerSecond - b.imagesPerSecond);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/**
 * Paired ratios: round by round, a server's rate over the anchor's in the same round and
 * scenario (the two ran next to each other). `pick` chooses the rate compared.
 */
function pairedRatios(
  row: ScenarioResult[],
  anchor: ScenarioResult[],
  pick: (r: ScenarioResult) => number,
): number[] {
  return row.map((r, k) => pick(r) / pick(anchor[k])).filter(Number.isFinite);
}

function onPath(name: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return true;
    } catch { /* not here */ }
  }
  return false;
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : "-");

/** "0.93x (0.81-1.02)": the median of the paired ratios and their spread. */
function ratioCell(ratios: number[]): string {
  if (!ratios.length) return "-";
  const lo = Math.min(...ratios), hi = Math.max(...ratios);
  const m = fixed(medianOf(ratios), 2);
  return ratios.length > 1 ? `${m}x (${fixed(lo, 2)}-${fixed(hi, 2)})` : `${m}x`;
}

/**
 * "3.06 (77%, io 9%)": the machine's CPU per image while storescu sent, how busy it was, and
 * how much of the time the cores sat idle with a disk write or sync outstanding (medians).
 */
function cpuCell(rounds: ScenarioResult[], images: number): string {
  const used = rounds.map((r) => r.cpu).filter((c) => c !== undefined);
  if (!used.length) return "-";
  const perImage = medianOf(used.map((c) => c.busyMs / images));
  const share = (f: (c: CpuUse) => number) => fixed(100 * medianOf(used.map(f)), 0);
  return `${fixed(perImage, 2)} (${share((c) => c.busy)}%, io ${share((c) => c.iowait)}%)`;
}

/** Stolen CPU over every round: on a shared host, rounds that lost the most are the noisy ones. */
function stealLine(rows: Row[]): string {
  const steal = rows.flatMap((r) => r.rounds.flat()).map((r) => r.cpu?.steal ?? NaN)
    .filter(Number.isFinite);
  if (!steal.length) return "";
  return `CPU taken by the host (steal) while storescu sent: median ${
    fixed(100 * medianOf(steal), 0)
  }% of the rounds' time, at most ${fixed(100 * Math.max(...steal), 0)}%; ` +
    "busy = share of both cores used by every process (senders included), io = share idle " +
    "with disk I/O outstanding (waiting on a write or sync)";
}

function table(rows: Row[], header: string): string {
  const base = rows.find((r) => r.kind === "storescp");
  const orthanc = rows.find((r) => r.kind === "orthanc");
  const cols = ["server", "assoc", "img/s", "MiB/s", "x storescp (paired)", "x Orthanc (paired)"];
  cols.push("durable at home img/s", "x storescp+sync (paired)", "machine CPU ms/img (busy, io)");
  const lines = [cols];
  const rate = (r: ScenarioResult) => r.imagesPerSecond;
  const home = (r: ScenarioResult) => r.homeImagesPerSecond;
  for (const r of rows) {
    r.scenarios.forEach((s, j) => {
      const failed = s.error !== undefined;
      const rounds = r.rounds[j];
      const vs = (other: Row | undefined, pick: (x: ScenarioResult) => number) =>
        other && other !== r ? ratioCell(pairedRatios(rounds, other.rounds[j], pick)) : "-";
      lines.push([
        r.label,
        String(SCENARIOS[j]),
        failed ? "FAILED" : fixed(medianOf(rounds.map(rate)), 1),
        failed ? "-" : fixed(medianOf(rounds.map((x) => x.mibPerSecond)), 1),
        failed ? "-" : vs(base, rate),
        failed ? "-" : vs(orthanc, rate),
        failed ? "-" : fixed(medianOf(rounds.map(home)), 1),
        failed ? "-" : vs(base, home),
        failed ? "-" : cpuCell(rounds, s.expected),
      ]);
    });
  }
  const widths = cols.map((_, c) => Math.max(...lines.map((l) => (l[c] ?? "").length)));
  const out = lines.map((l) => l.map((cell, c) => (cell ?? "").padEnd(widths[c])).join(" | "));
  return [header, ...out].join("\n");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      count: { type: "string", default: "1000" },
      only: { type: "string", default: KINDS.join(",") },
      json: { type: "string" },
      durability: { type: "string", default: "fsync" },
      repeat: { type: "string", default: "4" },
      ...COMPARE_OPTIONS,
      suite: { type: "string" },
      ...FIND_OPTIONS,
      ...MOVE_OPTIONS,
      ...FORWARD_OPTIONS,
      ...TRANSCODE_OPTIONS,
      ...TLS_OPTIONS,
      ...DICOMWEB_OPTIONS,
      ...SCALE_OPTIONS,
    },
  });
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
    console.error(`--count must be a positive integer, got ${values.count}`);
    return 2;
  }
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20) {
    console.error(`--repeat must be an integer from 1 to 20, got ${values.repeat}`);
    return 2;
  }
  const only = values.only.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
  const unknown = only.filter((k) => !(KINDS as readonly string[]).includes(k));
  if (unknown.length) {
    console.error(`--only: unknown ${unknown.join(", ")} (choose from ${KINDS.join(", ")})`);
    return 2;
  }
  const durability = values.durability;
  if (durability !== "fsync" && durability !== "none") {
    console.error(`--durability must be fsync or none, got ${durability}`);
    return 2;
  }
  for (const tool of ["storescu", "echoscu"]) {
    if (!onPath(tool)) {
      console.error(`${tool} is not installed (apt-get install dcmtk): nothing to send with`);
      return 1;
    }
  }

  const peers: { kind: Kind; label: string; start: (associations: number) => Promise<Peer> }[] = [];
  for (const kind of KINDS.filter((k) => only.includes(k))) {
    if (kind === "storescp") {
      if (!onPath("storescp")) {
        console.log("SKIP: storescp is not installed (apt-get install dcmtk)");
      } // storescp serves one association at a time unless it forks a child for each.
      else {peers.push({
          kind,
          label: "storescp (files)",
          start: (n) => startStorescp({ fork: n > 1 }),
        });}
    } else if (kind === "orthanc") {
      if (!exists(ORTHANC_BIN)) {
        console.log(`SKIP: ${ORTHANC_BIN} is missing (apt-get install orthanc)`);
      } else {
        const label = `Orthanc ${await orthancVersion(ORTHANC_BIN)}`;
        peers.push({ kind, label, start: () => startOrthanc(ORTHANC_BIN) });
      }
    } else {
      peers.push({
        kind,
        label: `MiniPACS (${durability})`,
        start: () => startMiniPacsPeer({ durability }),
      });
    }
  }
  // Another build of MiniPACS (a checkout's src/main.ts) in the same rounds: before/after figures
  // of a change, measured side by side.
  if (values.compare) {
    const main = values.compare;
    peers.push({
      kind: "minipacs",
      label: `MiniPACS (${durability}, ${values["compare-label"] ?? main})`,
      start: () => startMiniPacsPeer({ durability, main }),
    });
  }

  const t0 = performance.now();
  const corpus = await generateCorpus(count, PARALLEL);
  const eachMib = corpus.totalBytes / count / (1024 * 1024);
  const header = `store benchmark: ${count} CT 512x512x16 (${eachMib.toFixed(2)} MiB each), ` +
    `storescu with TCP_NODELAY=1`;
  console.log(`corpus generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // The disk's own latency for a durable answer, on the file system the servers store on.
  const floor = await measureFsyncFloor();
  // Each round runs one scenario on every server back to back, so each server's round is paired
  // with the anchor's next to it in time; odd rounds go in the listed order, even rounds in the
  // reverse one, so no server always follows (or precedes) another's writeback. Every scenario
  // starts with a sync.
  const runs: ScenarioResult[][][] = peers.map(() => SCENARIOS.map(() => []));
  try {
    for (let round = 1; round <= repeat; round++) {
      const order = peers.map((_, i) => i);
      if (round % 2 === 0) order.reverse();
      for (const [j, associations] of SCENARIOS.entries()) {
        for (const i of order) {
          const p = peers[i];
          const r = await runScenario(() => p.start(associations), corpus, associations);
          runs[i][j].push(r);
          const what = `${p.label}, ${associations} assoc${repeat > 1 ? `, round ${round}` : ""}`;
          if (r.error) console.log(`FAILED ${what}: ${r.error}`);
          else {
            console.log(
              `${what}: ${fixed(r.seconds, 2)} s, ${fixed(r.imagesPerSecond, 1)} img/s; ` +
                `durable at home after ${fixed(r.homeSeconds, 2)} s` +
                (r.cpu
                  ? `; machine CPU ${fixed(r.cpu.busyMs / r.expected, 2)} ms/img, ` +
                    `${fixed(100 * r.cpu.busy, 0)}% busy, ${fixed(100 * r.cpu.iowait, 0)}% idle ` +
                    `waiting on disk, ${fixed(100 * r.cpu.steal, 0)}% stolen`
                  : ""),
            );
          }
          if (r.warning) console.log(`WARNING ${what}: ${r.warning}`);
        }
      }
    }
  } finally {
    await corpus.remove().catch(() => {});
  }
  const rows: Row[] = peers.map((p, i) => ({
    kind: p.kind,
    label: p.label,
    scenarios: runs[i].map(median),
    rounds: runs[i],
  }));

  console.log("");
  console.log(table(rows, header));
  const storescp = rows.find((r) => r.kind === "storescp");
  console.log(fsyncFloorLine(floor, storescp?.scenarios[0]?.imagesPerSecond));
  const steal = stealLine(rows);
  if (steal) console.log(steal);
  if (values.json) {
    const report = {
      corpus: { count, bytesEach: corpus.totalBytes / count, totalBytes: corpus.totalBytes },
      sender: "storescu, TCP_NODELAY=1",
      fsyncFloorMs: { append512KiB: floor.ms512k, append4KiB: floor.ms4k },
      deno: Deno.version.deno,
      rows: rows.map((r) => {
        const base = rows.find((b) => b.kind === "storescp");
        return {
          server: r.kind,
          label: r.label,
          scenarios: r.scenarios.map((s, i) => ({
            ...s,
            pairedRatiosToStorescp: base
              ? pairedRatios(r.rounds[i], base.rounds[i], (x) => x.imagesPerSecond)
              : null,
            medianPairedRatioToStorescp: base
              ? medianOf(pairedRatios(r.rounds[i], base.rounds[i], (x) => x.imagesPerSecond))
              : null,
            roundsImagesPerSecond: r.rounds[i].map((x) => x.imagesPerSecond),
            roundsHomeImagesPerSecond: r.rounds[i].map((x) => x.homeImagesPerSecond),
          })),
        };
      }),
    };
    await Deno.writeTextFile(
      values.json,
      JSON.stringify(
        report,
        (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
        2,
      ) +
        "\n",
    );
  }
  return rows.some((r) => r.scenarios.some((s) => s.error || s.warning)) ? 1 : 0;
}

type SuiteValues = Parameters<typeof runFindBench>[0];
/** The suites besides the store benchmark, by --suite name. */
const SUITES: Record<string, (values: SuiteValues) => Promise<number>> = {
  find: runFindBench,
  move: runMoveBench,
  forward: runForwardBench,
  transcode: runTranscodeBench,
  tls: runTlsBench,
  dicomweb: async (values) => {
    await runDicomWebBench(values);
    return 0;
  },
  scale: runScaleBench,
};
/** Suites "all" leaves out. */
const NOT_IN_ALL = new Set(["dicomweb", "scale"]);

/** Runs one suite, or every one of them; the worst exit code wins. */
async function runSuites(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      suite: { type: "string", default: "all" },
      ...COMPARE_OPTIONS,
      ...FIND_OPTIONS,
      ...MOVE_OPTIONS,
      ...FORWARD_OPTIONS,
      ...TRANSCODE_OPTIONS,
      ...TLS_OPTIONS,
      ...DICOMWEB_OPTIONS,
      ...SCALE_OPTIONS,
    },
    strict: false,
  });
  const suite = String(values.suite);
  if (suite !== "all" && suite !== "store" && !(suite in SUITES)) {
    console.error(`--suite must be store, ${Object.keys(SUITES).join(", ")} or all, got ${suite}`);
    return 2;
  }
  if (suite in SUITES) return await SUITES[suite](values);
  const store = await main();
  if (suite === "store" || store === 2) return store;
  let worst = store;
  for (const [name, run] of Object.entries(SUITES)) {
    if (!NOT_IN_ALL.has(name)) worst = Math.max(worst, await run(values));
  }
  return worst;
}

if (import.meta.main) Deno.exit(await runSuites());
