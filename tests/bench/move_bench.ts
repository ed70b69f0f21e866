// Retrieve benchmark: C-MOVE of one 100-image series and of a 1000-image study to a DCMTK
// storescp destination (plain files, no fsync), from MiniPACS and from Orthanc holding the same
// images, beside storescu sending the same files straight from disk (the ceiling). Timed from
// the movescu (or storescu) spawn to its exit; storescp's folder is emptied between runs, and
// rounds interleave the senders.
//
//   deno task bench --suite move [--move-count N] [--move-repeat R] [--move-json out.json]
//                                [--move-only storescu,orthanc,minipacs]
//                                [--compare PATH [--compare-label L]]
//
// --move-count: images in the study (default 1000; the series is a tenth of it);
// --move-repeat: rounds, the table shows each sender's median (default 3).
// --compare PATH: also move from the MiniPACS whose src/main.ts is PATH (another checkout),
// loaded with the same images, in the same rounds (the order reversed on even rounds), and
// print the median of the paired per-round ratios of this MiniPACS to it.
import { parseArgs } from "node:util";
import { generateCorpus } from "./corpus.ts";
import { COMPARE_OPTIONS } from "./find_bench.ts";
import { countFiles, DCMTK_ENV, freePort, serveArgs } from "../helpers/peers.ts";
import { MAIN } from "../helpers/server.ts";
import { medianOf } from "./median.ts";

const ORTHANC_BIN = "/usr/sbin/Orthanc";
const KINDS = ["storescu", "orthanc", "minipacs"] as const;
type Kind = typeof KINDS[number];
/** The other MiniPACS build of --compare. */
const COMPARE = "compare";
type Sender = Kind | typeof COMPARE;
const TIMEOUT_MS = 10 * 60 * 1000;

export interface Run {
  images: number;
  seconds: number;
  imagesPerSecond: number;
  error?: string;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function onPath(name: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return true;
    } catch { /* not here */ }
  }
  return false;
}

export async function tool(cmd: string, args: string[], timeoutMs = TIMEOUT_MS) {
  const out = await new Deno.Command(cmd, {
    args,
    env: DCMTK_ENV,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const dec = new TextDecoder();
  return { ok: out.success, code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

async function waitForEcho(port: number, ae: string): Promise<void> {
  for (let i = 0; i < 300; i++) { // bounded: about 30 s
    if ((await tool("echoscu", ["-aec", ae, "127.0.0.1", String(port)], 5000)).ok) return;
    await delay(100);
  }
  throw new Error(`${ae} on port ${port} does not answer C-ECHO`);
}

interface Process {
  stop(): Promise<void>;
}

function spawn(
  cmd: string,
  args: string[],
  cwd?: string,
): Process & { output(): string; pid: number } {
  const child = new Deno.Command(cmd, {
    args,
    env: DCMTK_ENV,
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const dec = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) text = (text + dec.decode(c, { stream: true })).slice(-8000);
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  return {
    output: () => text,
    pid: child.pid,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 60_000);
      await child.status;
      clearTimeout(timer);
      await pumps;
    },
  };
}

/** A C-MOVE source: MiniPACS or Orthanc holding the corpus, with DEST as a known AE. */
export interface Source {
  aeTitle: string;
  port: number;
  /** The server's process id. */
  pid: number;
  stop(): Promise<void>;
}

/** MiniPACS on `dir`/data knowing DEST; `main` is the src/main.ts to run (another checkout's). */
export async function startMiniPacs(dir: string, dest: number, main = MAIN): Promise<Source> {
  const port = freePort();
  const toml = [
    "[server]",
    'ae_title = "MINIPACS"',
    'bind = "127.0.0.1"',
    `port = ${port}`,
    'accept = "any"',
    "[storage]",
    `path = ${JSON.stringify(`${dir}/data`)}`,
    "min_free_mb = 1",
    "[http]",
    "enabled = false",
    "[log]",
    'level = "warn"',
    "[[known_ae]]",
    'ae_title = "DEST"',
    'host = "127.0.0.1"',
    `port = ${dest}`,
  ].join("\n");
  await Deno.writeTextFile(`${dir}/config.toml`, toml + "\n");
  const p = spawn(
    Deno.execPath(),
    await serveArgs(`${dir}/config.toml`, main),
    dir,
  );
  await waitForEcho(port, "MINIPACS");
  return { aeTitle: "MINIPACS", port, pid: p.pid, stop: p.stop };
}

export async function startOrthanc(dir: string, dest: number): Promise<Source> {
  const port = freePort();
  const config = {
    Name: "MiniPACS move bench",
    StorageDirectory: `${dir}/storage`,
    IndexDirectory: `${dir}/index`,
    DicomPort: port,
    HttpPort: freePort(),
    DicomAet: "ORTHANC",
    DicomCheckCalledAet: false,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    HttpServerEnabled: true,
    StorageCompression: false,
    Plugins: [],
    SaveJobs: false,
    DicomThreadsCount: 8,
    DicomAlwaysAllowMove: true,
    DicomModalities: {
      dest: { AET: "DEST", Host: "127.0.0.1", Port: dest },
      bench: { AET: "BENCH", Host: "127.0.0.1", Port: 1, AllowMove: true },
    },
  };
  await Deno.writeTextFile(`${dir}/orthanc.json`, JSON.stringify(config, null, 2));
  const p = spawn(ORTHANC_BIN, [`${dir}/orthanc.json`], dir);
  await waitForEcho(port, "ORTHANC");
  return { aeTitle: "ORTHANC", port, pid: p.pid, stop: p.stop };
}

export async function orthancVersion(): Promise<string> {
  const r = await tool(ORTHANC_BIN, ["--version"], 10_000).catch(() => null);
  return /Orthanc\s+([\w.]+)/.exec(r?.text ?? "")?.[1] ?? "?";
}

/** Stores files into a source with one storescu. */
async function load(source: Source, dir: string): Promise<void> {
  const r = await tool("storescu", [
    "-aet",
    "BENCH",
    "-aec",
    source.aeTitle,
    "+sd",
    "+r",
    "127.0.0.1",
    String(source.port),
    dir,
  ]);
  if (!r.ok) throw new Error(`loading ${source.aeTitle} failed:\n${r.text.slice(-2000)}`);
}

export interface Destination {
  port: number;
  dir: string;
  count(): Promise<number>;
  clear(): Promise<void>;
  stop(): Promise<void>;
}

/** A storescp known as DEST; `extra` arguments such as +xi (Implicit VR LE only). */
export async function startDestination(extra: string[] = []): Promise<Destination> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-bench-dest-" });
  const port = freePort();
  const p = spawn("storescp", ["-aet", "DEST", "-od", dir, ...extra, String(port)]);
  await waitForEcho(port, "DEST");
  return {
    port,
    dir,
    count: () => countFiles(dir, () => true),
    async clear() {
      for await (const e of Deno.readDir(dir)) await Deno.remove(`${dir}/${e.name}`);
    },
    async stop() {
      await p.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** One timed transfer; the destination must end with `images` files. */
export async function timed(
  dest: Destination,
  images: number,
  cmd: string,
  args: string[],
): Promise<Run> {
  await dest.clear();
  await new Deno.Command("sync").output().catch(() => {});
  const t0 = performance.now();
  const r = await tool(cmd, args);
  const seconds = (performance.now() - t0) / 1000;
  const got = await dest.count();
  const run: Run = { images, seconds, imagesPerSecond: images / seconds };
  if (!r.ok || /^E: /m.test(r.text)) run.error = `${cmd} exit ${r.code}: ${r.text.slice(-600)}`;
  else if (got !== images) run.error = `destination holds ${got} of ${images} images`;
  return run;
}

function median(runs: Run[]): Run {
  const bad = runs.find((r) => r.error);
  if (bad) return bad;
  return [...runs].sort((a, b) => a.imagesPerSecond - b.imagesPerSecond)[
    Math.floor((runs.length - 1) / 2)
  ];
}

export const MOVE_OPTIONS = {
  "move-count": { type: "string", default: "1000" },
  "move-repeat": { type: "string", default: "3" },
  "move-only": { type: "string", default: KINDS.join(",") },
  "move-json": { type: "string" },
} as const;

/** Runs the move suite; returns the process exit code. */
export async function runMoveBench(
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  const count = Number(values["move-count"]);
  if (!Number.isInteger(count) || count < 10 || count > 100_000 || count % 10 !== 0) {
    console.error(`--move-count must be a multiple of 10 from 10 to 100000`);
    return 2;
  }
  const repeat = Number(values["move-repeat"]);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20) {
    console.error(`--move-repeat must be an integer from 1 to 20`);
    return 2;
  }
  const only = String(values["move-only"]).split(",").map((s) => s.trim().toLowerCase());
  for (const t of ["storescu", "storescp", "movescu", "echoscu"]) {
    if (!onPath(t)) {
      console.error(`${t} is not installed (apt-get install dcmtk)`);
      return 1;
    }
  }
  const compare = typeof values.compare === "string" ? values.compare : undefined;
  const kinds: Sender[] = KINDS.filter((k) => only.includes(k));
  if (compare) kinds.push(COMPARE);
  let orthancLabel = "";
  if (kinds.includes("orthanc")) {
    try {
      Deno.statSync(ORTHANC_BIN);
      orthancLabel = `Orthanc ${await orthancVersion()} C-MOVE`;
    } catch {
      console.log(`SKIP: ${ORTHANC_BIN} is missing (apt-get install orthanc)`);
      kinds.splice(kinds.indexOf("orthanc"), 1);
    }
  }

  const t0 = performance.now();
  const corpus = await generateCorpus(count, 1);
  const seriesSize = count / 10;
  // generateCorpus spreads the images over 5 studies of 2 series: put them all in the first
  // study (same-length UIDs and IDs, patched in place), so the study move is one study.
  const first = await Deno.readFile(corpus.files[0]);
  const studyUid = findUid(first, 0x0020000d);
  const seriesUid = findUid(first, 0x0020000e);
  for (const path of corpus.files) {
    const bytes = await Deno.readFile(path);
    const uid = findUid(bytes, 0x0020000d);
    if (uid !== studyUid) {
      replaceAll(bytes, uid, studyUid);
      replaceAll(bytes, /PID\d{5}/, "PID00001");
      await Deno.writeFile(path, bytes);
    }
  }
  const seriesFiles = corpus.files.slice(0, seriesSize);
  console.log(
    `corpus: ${count} CT 512x512x16 in one study, ` +
      `${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  const dest = await startDestination();
  const work = await Deno.makeTempDir({ prefix: "minipacs-bench-move-" });
  const sources = new Map<Sender, Source>();
  const rows = new Map<Sender, { series: Run[]; study: Run[] }>();
  try {
    for (const kind of kinds) {
      rows.set(kind, { series: [], study: [] });
      if (kind === "storescu") continue;
      const dir = `${work}/${kind}`;
      await Deno.mkdir(dir);
      const source = kind === "minipacs"
        ? await startMiniPacs(dir, dest.port)
        : kind === COMPARE
        ? await startMiniPacs(dir, dest.port, compare)
        : await startOrthanc(dir, dest.port);
      sources.set(kind, source);
      const l0 = performance.now();
      await load(source, corpus.dir);
      console.log(`${kind}: loaded in ${((performance.now() - l0) / 1000).toFixed(1)} s`);
    }
    // MiniPACS moves what it received from its journal to home files in the background:
    // let that finish (bounded), so the moves are not timed against it.
    for (const kind of ["minipacs", COMPARE] as const) {
      if (sources.has(kind)) await journalDrained(`${work}/${kind}/data/journal`);
    }
    await delay(1000);
    const move = (source: Source, level: string, keys: string[]) => [
      "-aet",
      "BENCH",
      "-aec",
      source.aeTitle,
      "-aem",
      "DEST",
      "-S",
      "-k",
      `QueryRetrieveLevel=${level}`,
      ...keys.flatMap((k) => ["-k", k]),
      "127.0.0.1",
      String(source.port),
    ];
    const send = (files: string[]) => [
      "-aet",
      "BENCH",
      "-aec",
      "DEST",
      "127.0.0.1",
      String(dest.port),
      ...files,
    ];
    for (let round = 1; round <= repeat; round++) {
      // With --compare the order is reversed on even rounds: neither build always goes first.
      const order = compare && round % 2 === 0 ? [...kinds].reverse() : kinds;
      for (const kind of order) {
        const row = rows.get(kind)!;
        const source = sources.get(kind);
        for (const what of ["series", "study"] as const) {
          const images = what === "series" ? seriesSize : count;
          const r = source
            ? await timed(
              dest,
              images,
              "movescu",
              move(source, what.toUpperCase(), [
                `StudyInstanceUID=${studyUid}`,
                ...(what === "series" ? [`SeriesInstanceUID=${seriesUid}`] : []),
              ]),
            )
            : await timed(
              dest,
              images,
              "storescu",
              send(what === "series" ? seriesFiles : corpus.files),
            );
          row[what].push(r);
          console.log(
            `${kind} ${what} (${images}), round ${round}: ` +
              (r.error
                ? `FAILED ${r.error}`
                : `${r.seconds.toFixed(2)} s, ${r.imagesPerSecond.toFixed(1)} img/s`),
          );
        }
      }
    }
  } finally {
    for (const s of sources.values()) await s.stop().catch(() => {});
    await dest.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
    await corpus.remove().catch(() => {});
  }

  const label: Record<Sender, string> = {
    storescu: "storescu from disk (ceiling)",
    minipacs: "MiniPACS C-MOVE",
    orthanc: orthancLabel,
    compare: `MiniPACS (${values["compare-label"] ?? compare}) C-MOVE`,
  };
  const ceiling = rows.get("storescu");
  const fixed = (n: number, d: number) => (Number.isFinite(n) ? n.toFixed(d) : "-");
  const lines = [[
    "sender",
    `${seriesSize}-image series img/s`,
    "x storescu",
    `${count}-image study img/s`,
    "x storescu",
  ]];
  const summary: Record<string, unknown>[] = [];
  for (const [kind, row] of rows) {
    const s = median(row.series);
    const st = median(row.study);
    const base = ceiling ? [median(ceiling.series), median(ceiling.study)] : [];
    const ratio = (r: Run, b?: Run) =>
      r.error || !b || b.error ? "-" : `${fixed(r.imagesPerSecond / b.imagesPerSecond, 2)}x`;
    lines.push([
      label[kind],
      s.error ? "FAILED" : fixed(s.imagesPerSecond, 1),
      ratio(s, base[0]),
      st.error ? "FAILED" : fixed(st.imagesPerSecond, 1),
      ratio(st, base[1]),
    ]);
    summary.push({ sender: kind, label: label[kind], series: s, study: st, rounds: row });
  }
  const widths = lines[0].map((_, c) => Math.max(...lines.map((l) => l[c].length)));
  console.log("");
  console.log(
    `move benchmark: C-MOVE to DCMTK storescp (files), CT 512x512x16 ` +
      `(${(corpus.totalBytes / count / 1048576).toFixed(2)} MiB each), median of ${repeat}`,
  );
  for (const l of lines) console.log(l.map((cell, c) => cell.padEnd(widths[c])).join(" | "));
  const ours = rows.get("minipacs");
  const before = rows.get(COMPARE);
  let change: { series: number; study: number } | undefined;
  if (ours && before) {
    // Round by round, this build's rate over the other's (they ran in the same round).
    const paired = (a: Run[], b: Run[]) =>
      medianOf(
        a.map((r, i) => r.error || b[i]?.error ? NaN : r.imagesPerSecond / b[i].imagesPerSecond),
      );
    change = {
      series: paired(ours.series, before.series),
      study: paired(ours.study, before.study),
    };
    console.log(
      `${label.minipacs} / ${label[COMPARE]}, median of paired round ratios: ` +
        `series ${fixed(change.series, 2)}x, study ${fixed(change.study, 2)}x`,
    );
  }
  const json = values["move-json"];
  if (typeof json === "string") {
    await Deno.writeTextFile(
      json,
      JSON.stringify({ count, repeat, rows: summary, pairedRatioToCompare: change }, null, 2) +
        "\n",
    );
  }
  return summary.some((r) => (r.series as Run).error || (r.study as Run).error) ? 1 : 0;
}

export async function journalDrained(dir: string, timeoutMs = 300_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    // Active segments end in .seg; free ones (.free) are kept for reuse.
    let n = 0;
    for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".seg")) n++;
    if (n === 0) return;
    await delay(250);
  }
  console.log("WARNING: MiniPACS journal not drained after loading");
}

/** The value of a top-level UI element in an Explicit VR LE Part 10 file (first occurrence). */
export function findUid(bytes: Uint8Array, tag: number): string {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 132; i + 8 <= bytes.length; i += 2) {
    if (
      dv.getUint16(i, true) === tag >>> 16 && dv.getUint16(i + 2, true) === (tag & 0xffff) &&
      bytes[i + 4] === 0x55 && bytes[i + 5] === 0x49
    ) {
      const n = dv.getUint16(i + 6, true);
      return new TextDecoder().decode(bytes.subarray(i + 8, i + 8 + n)).replace(/\0+$/, "");
    }
  }
  throw new Error(`no UI element ${tag.toString(16)}`);
}

/** Replaces every occurrence of a same-length ASCII string (or pattern) in place. */
export function replaceAll(bytes: Uint8Array, from: string | RegExp, to: string): void {
  const text = new TextDecoder("latin1").decode(bytes.subarray(0, Math.min(bytes.length, 8192)));
  const re = typeof from === "string"
    ? new RegExp(from.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "g")
    : new RegExp(from.source, "g");
  for (const m of text.matchAll(re)) {
    if (m[0].length !== to.length) throw new Error(`"${m[0]}" and "${to}" differ in length`);
    for (let k = 0; k < to.length; k++) bytes[m.index! + k] = to.charCodeAt(k);
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { ...MOVE_OPTIONS, ...COMPARE_OPTIONS },
  });
  Deno.exit(await runMoveBench(values));
}
