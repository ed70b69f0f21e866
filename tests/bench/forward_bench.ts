// Forwarding benchmark: N CT images stored into MiniPACS by storescu (one association) while
// MiniPACS forwards them to a DCMTK storescp destination, against the same store with no
// route. Reports the store rate both ways and the time from the last acknowledgement (the
// end of storescu) to the last image at the destination.
//
//   deno task bench --suite forward [--forward-count N] [--forward-repeat R]
//     [--compare path/to/other/src/main.ts [--compare-label L]]
//
// Each of R rounds (default 3) runs forwarding off and on, odd rounds in that order and even
// rounds in reverse; the table shows the medians, each round's figures, and the server's CPU
// time per image (while storing; and until the queue drained), which the machine's load
// barely moves. --compare (or --forward-compare) runs another build of MiniPACS (a checkout of
// the previous version) off and on in the same rounds: before and after in the same run, each
// build's ratio paired with its own "off" of the same round.
// Targets: store rate with forwarding >= 0.8x without; the queue drains within 2 s.
import { generateCorpus } from "./corpus.ts";
import { countFiles, type Peer, startMiniPacsPeer, startStorescp } from "../helpers/peers.ts";
import { sendWithStorescu } from "./store_bench.ts";

export const FORWARD_OPTIONS = {
  "forward-count": { type: "string" as const, default: "1000" },
  "forward-repeat": { type: "string" as const, default: "3" },
  "forward-compare": { type: "string" as const },
};

const OFF = "forwarding off";
const ON = "forwarding on";
const COMPARED_OFF = "compared build, off";
const COMPARED_ON = "compared build, on";

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

const SHM = (() => {
  try {
    return Deno.statSync("/dev/shm").isDirectory ? "/dev/shm" : undefined;
  } catch {
    return undefined;
  }
})();

interface ForwardRun {
  label: string;
  seconds: number;
  imagesPerSecond: number;
  /** Seconds from storescu's end to the last image at the destination; null when off. */
  drainSeconds: number | null;
  arrived: number | null;
  /** The server's CPU milliseconds per image while storing, and until the queue drained. */
  cpuStore: number;
  cpuTotal: number;
}

/** CPU milliseconds (user + system) of a process so far, from /proc/PID/stat; NaN if unknown. */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms
  } catch {
    return NaN;
  }
}

/** Waits (bounded) until `dir` holds `count` files; resolves to the time it did. */
async function waitForFiles(dir: string, count: number, timeoutMs = 300_000): Promise<number> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const n = await countFiles(dir, () => true);
    if (n >= count) return performance.now();
    if (performance.now() > until) throw new Error(`only ${n} of ${count} images arrived`);
    await delay(2);
  }
}

export async function runForwardBench(
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  const count = Number(values["forward-count"] ?? "1000");
  if (!Number.isInteger(count) || count < 1 || count > 100_000) {
    console.error(`--forward-count must be an integer from 1 to 100000`);
    return 2;
  }
  const repeat = Number(values["forward-repeat"] ?? "3");
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20) {
    console.error(`--forward-repeat must be an integer from 1 to 20`);
    return 2;
  }
  const compare = values.compare ?? values["forward-compare"];
  if (compare !== undefined && typeof compare !== "string") {
    console.error("--compare takes the path of another MiniPACS src/main.ts");
    return 2;
  }
  const compareLabel = typeof values["compare-label"] === "string"
    ? values["compare-label"]
    : compare;
  const corpus = await generateCorpus(count, 1);
  const runs: ForwardRun[] = [];
  let dest: Peer | undefined;
  const round = compare ? [OFF, ON, COMPARED_OFF, COMPARED_ON] : [OFF, ON];
  const rounds = Array.from({ length: repeat }, (_, i) => i % 2 ? [...round].reverse() : round)
    .flat();
  try {
    for (const label of rounds) {
      const forwarding = label === ON || label === COMPARED_ON;
      // The destination's disk is not ours (a central archive is another machine): its files
      // go to memory when /dev/shm is there, so that its writes do not slow our fdatasyncs.
      dest = await startStorescp({ fork: false, parent: SHM });
      const destDir = dest.dir;
      const extraToml = forwarding
        ? [
          "[[known_ae]]",
          `ae_title = "${dest.aeTitle}"`,
          'host = "127.0.0.1"',
          `port = ${dest.port}`,
          "max_associations = 1",
          "[[route]]",
          `destination = "${dest.aeTitle}"`,
        ].join("\n")
        : "";
      const server = await startMiniPacsPeer({
        extraToml,
        main: label === COMPARED_OFF || label === COMPARED_ON ? compare : undefined,
      });
      try {
        const cpu0 = cpuMs(server.pid);
        const t0 = performance.now();
        const seconds = await sendWithStorescu(server, [[corpus.dir]]);
        const lastAck = t0 + seconds * 1000;
        const cpu1 = cpuMs(server.pid);
        let drainSeconds: number | null = null;
        let arrived: number | null = null;
        if (forwarding && destDir) {
          const done = await waitForFiles(destDir, count);
          drainSeconds = Math.max(0, (done - lastAck) / 1000);
          arrived = await dest.count();
        }
        runs.push({
          label,
          seconds,
          imagesPerSecond: count / seconds,
          drainSeconds,
          arrived,
          cpuStore: (cpu1 - cpu0) / count,
          cpuTotal: (cpuMs(server.pid) - cpu0) / count,
        });
      } finally {
        await server.stop().catch((e) => console.error((e as Error).message));
        await server.cleanup();
        await dest.stop();
        await dest.cleanup();
        dest = undefined;
      }
    }
  } finally {
    await dest?.stop().catch(() => {});
    await dest?.cleanup();
    await corpus.remove().catch(() => {});
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const of = (label: string) => runs.filter((r) => r.label === label);
  const offOf = (label: string) => of(label === ON || label === OFF ? OFF : COMPARED_OFF);
  const offRate = median(of(OFF).map((r) => r.imagesPerSecond));
  const onRuns = of(ON);
  const drain = median(onRuns.map((r) => r.drainSeconds ?? Infinity));
  const allArrived = runs.every((r) => r.drainSeconds === null || r.arrived === count);
  const each = (rs: ForwardRun[], f: (r: ForwardRun) => string) => rs.map(f).join(", ");
  // Each round's on/off ratio of the same build: rounds are paired, so a busy moment hits both.
  const pairedOf = (label: string) => {
    const offs = offOf(label);
    return median(of(label).map((r, i) => r.imagesPerSecond / offs[i].imagesPerSecond));
  };
  const row = (label: string) => {
    const rs = of(label);
    const rate = median(rs.map((r) => r.imagesPerSecond));
    const on = rs[0]?.drainSeconds !== null;
    const drains = median(rs.map((r) => r.drainSeconds ?? Infinity));
    return [
      label,
      rate.toFixed(1),
      on ? `${(rate / offRate).toFixed(2)}x (paired ${pairedOf(label).toFixed(2)}x)` : "-",
      on ? `${drains.toFixed(2)} s (rounds: ${each(rs, (r) => r.drainSeconds!.toFixed(2))})` : "-",
      `${median(rs.map((r) => r.cpuStore)).toFixed(2)} / ${
        median(rs.map((r) => r.cpuTotal)).toFixed(2)
      }`,
      each(rs, (r) => r.imagesPerSecond.toFixed(1)),
    ];
  };
  const rows = [
    [
      "scenario",
      "store img/s (median)",
      "x off",
      "last ack -> last image",
      "CPU ms/img store / drained",
      "rounds img/s",
    ],
    ...(compare ? [OFF, ON, COMPARED_OFF, COMPARED_ON] : [OFF, ON]).map(row),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((l) => l[c].length)));
  console.log(
    `\nforward benchmark: ${count} CT 512x512x16 stored by storescu (1 association), ` +
      `forwarded to storescp (files in ${SHM ?? "the temporary folder"}), ${repeat} round(s)` +
      (compare ? `; compared build: ${compareLabel}` : ""),
  );
  for (const l of rows) console.log(l.map((cell, c) => cell.padEnd(widths[c])).join(" | "));
  const ok = pairedOf(ON) >= 0.8 && drain <= 2 && allArrived;
  console.log(`targets (>= 0.8x paired, drained within 2 s): ${ok ? "met" : "NOT met"}`);
  return allArrived ? 0 : 1;
}
