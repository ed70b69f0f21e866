// Storage benchmark: MiniPACS beside DCMTK storescp (files only, the practical ceiling) and
// Orthanc, in one run. Each gets the same generated CT images (512x512, 16-bit) from DCMTK
// storescu, on one association and then on 8 in parallel; every server starts fresh with empty
// storage for each scenario and answers one C-ECHO before the clock starts.
//
//   deno task bench [--count N] [--only minipacs,storescp,orthanc] [--json out.json]
//                   [--durability fsync|none] [--repeat R]
//
// --count: images (default 1000); --only: servers to run; --json: also write the results
// there; --durability: MiniPACS storage.durability (default fsync); --repeat: rounds, the
// table shows each scenario's median round (default 1). Exit 1 when a scenario failed or a
// server held fewer objects than were sent.
//
// Needs DCMTK (storescu, storescp, echoscu) and Orthanc (/usr/sbin/Orthanc); a missing peer is
// skipped with a line naming it. Every DCMTK tool runs with TCP_NODELAY=1. Loopback only.
//
// --suite store|find|move|tls|all (default all): the storage benchmark above, the query
// benchmark of find_bench.ts, the retrieve benchmark of move_bench.ts, the DICOM-over-TLS
// store and move benchmark of tls_bench.ts (their --find-*, --move-* and --tls-* options are
// described there), or all of them.
import { parseArgs } from "node:util";
import { generateCorpus } from "./corpus.ts";
import { FIND_OPTIONS, runFindBench } from "./find_bench.ts";
import { MOVE_OPTIONS, runMoveBench } from "./move_bench.ts";
import { runTlsBench, TLS_OPTIONS } from "./tls_bench.ts";
import {
  orthancVersion,
  type Peer,
  startMiniPacsPeer,
  startOrthanc,
  startStorescp,
} from "./peers.ts";
import { runScenario, type ScenarioResult } from "./store_bench.ts";

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

function table(rows: Row[], header: string): string {
  const base = rows.find((r) => r.kind === "storescp");
  const cols = [
    "server",
    "1 assoc img/s",
    "MiB/s",
    "x storescp",
    "8 assoc img/s",
    "MiB/s",
    "x storescp",
  ];
  const lines = [cols];
  for (const r of rows) {
    const cells = [r.label];
    r.scenarios.forEach((s, i) => {
      const ref = base?.scenarios[i]?.imagesPerSecond ?? NaN;
      const failed = s.error !== undefined;
      cells.push(failed ? "FAILED" : fixed(s.imagesPerSecond, 1));
      cells.push(failed ? "-" : fixed(s.mibPerSecond, 1));
      cells.push(failed ? "-" : `${fixed(s.imagesPerSecond / ref, 2)}x`.replace("-x", "-"));
    });
    lines.push(cells);
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
      repeat: { type: "string", default: "1" },
      suite: { type: "string" },
      ...FIND_OPTIONS,
      ...MOVE_OPTIONS,
      ...TLS_OPTIONS,
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

  const t0 = performance.now();
  const corpus = await generateCorpus(count, PARALLEL);
  const eachMib = corpus.totalBytes / count / (1024 * 1024);
  const header = `store benchmark: ${count} CT 512x512x16 (${eachMib.toFixed(2)} MiB each), ` +
    `storescu with TCP_NODELAY=1`;
  console.log(`corpus generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // Rounds interleave the servers, so a slow spell of the disk does not land on one of them.
  const runs: ScenarioResult[][][] = peers.map(() => SCENARIOS.map(() => []));
  try {
    for (let round = 1; round <= repeat; round++) {
      for (const [i, p] of peers.entries()) {
        for (const [j, associations] of SCENARIOS.entries()) {
          const r = await runScenario(() => p.start(associations), corpus, associations);
          runs[i][j].push(r);
          const what = `${p.label}, ${associations} assoc${repeat > 1 ? `, round ${round}` : ""}`;
          if (r.error) console.log(`FAILED ${what}: ${r.error}`);
          else {
            console.log(`${what}: ${fixed(r.seconds, 2)} s, ${fixed(r.imagesPerSecond, 1)} img/s`);
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
  if (values.json) {
    const report = {
      corpus: { count, bytesEach: corpus.totalBytes / count, totalBytes: corpus.totalBytes },
      sender: "storescu, TCP_NODELAY=1",
      deno: Deno.version.deno,
      rows: rows.map((r) => {
        const base = rows.find((b) => b.kind === "storescp");
        return {
          server: r.kind,
          label: r.label,
          scenarios: r.scenarios.map((s, i) => ({
            ...s,
            ratioToStorescp: base ? s.imagesPerSecond / base.scenarios[i].imagesPerSecond : null,
            roundsImagesPerSecond: r.rounds[i].map((x) => x.imagesPerSecond),
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

/** Runs the store suite, the find suite or both; the worst exit code wins. */
async function runSuites(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      suite: { type: "string", default: "all" },
      ...FIND_OPTIONS,
      ...MOVE_OPTIONS,
      ...TLS_OPTIONS,
    },
    strict: false,
  });
  const suite = String(values.suite);
  if (!["store", "find", "move", "tls", "all"].includes(suite)) {
    console.error(`--suite must be store, find, move, tls or all, got ${suite}`);
    return 2;
  }
  if (suite === "move") return await runMoveBench(values);
  if (suite === "tls") return await runTlsBench(values);
  const store = suite === "find" ? 0 : await main();
  const find = suite === "store" || store === 2 ? 0 : await runFindBench(values);
  const move = suite === "all" && store !== 2 ? await runMoveBench(values) : 0;
  const tls = suite === "all" && store !== 2 ? await runTlsBench(values) : 0;
  return Math.max(store, find, move, tls);
}

if (import.meta.main) Deno.exit(await runSuites());
