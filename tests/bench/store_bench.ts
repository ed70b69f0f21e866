// One scenario: a fresh peer, a warm-up C-ECHO (done by the peer's start), then the corpus sent
// with DCMTK storescu on 1 or several associations at once, timed from spawn to the last exit.
import type { Corpus } from "./corpus.ts";
import { DCMTK_ENV, type Peer } from "../helpers/peers.ts";
import { type CpuUse, cpuUse, machineCpu } from "./process_cpu.ts";

/** A scenario gives up after this long. */
export const SCENARIO_TIMEOUT_MS = 10 * 60 * 1000;

export interface ScenarioResult {
  associations: number;
  /** Wall clock from the first storescu spawn to the last exit. */
  seconds: number;
  imagesPerSecond: number;
  mibPerSecond: number;
  /** Objects the peer reported or held afterwards; null when it could not be counted. */
  stored: number | null;
  expected: number;
  /**
   * From the first spawn until every object is durable in a file of its own: MiniPACS until its
   * journal is materialized, the others until a `sync` after the last storescu exit returns.
   */
  homeSeconds: number;
  homeImagesPerSecond: number;
  /**
   * The whole machine while storescu sent (senders and server alike): what a server's rate cost,
   * and whether the cores were busy, idle (waiting on something) or taken by the host.
   */
  cpu?: CpuUse;
  /** Set when the scenario failed: storescu errors, a timeout, a peer that would not start. */
  error?: string;
  /** Set when the stored count differs from the number sent. */
  warning?: string;
}

/** The share of the corpus that association k of `associations` sends (folders). */
function shares(corpus: Corpus, associations: number): string[][] {
  if (associations === 1) return [[corpus.dir]];
  if (associations === corpus.groups.length) return corpus.groups.map((g) => [g]);
  const out: string[][] = Array.from({ length: associations }, () => []);
  corpus.groups.forEach((g, i) => out[i % associations].push(g));
  return out.filter((s) => s.length > 0);
}

/** Lines storescu printed that say a store failed (it may still exit 0). */
function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => /^E: |^F: /.test(l));
}

/**
 * Sends every file under the given folders with one storescu per folder list (one association
 * each), all at once. Resolves to the wall-clock seconds; throws with storescu's errors.
 */
export async function sendWithStorescu(
  peer: Peer,
  folderLists: string[][],
  timeoutMs = SCENARIO_TIMEOUT_MS,
  /** storescu's TLS options (`+tls key cert +cf ca`), when the peer's port is DICOM over TLS. */
  tlsArgs: string[] = [],
): Promise<number> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const t0 = performance.now();
  try {
    const runs = folderLists.map((folders) =>
      new Deno.Command("storescu", {
        args: [
          ...tlsArgs,
          "-aet",
          "BENCH",
          "-aec",
          peer.aeTitle,
          "+sd",
          "+r",
          "127.0.0.1",
          String(peer.port),
          ...folders,
        ],
        env: DCMTK_ENV,
        stdout: "null",
        stderr: "piped",
        signal: abort.signal,
      }).output()
    );
    const outs = await Promise.all(runs);
    const seconds = (performance.now() - t0) / 1000;
    if (abort.signal.aborted) throw new Error(`storescu still running after ${timeoutMs} ms`);
    const problems: string[] = [];
    const dec = new TextDecoder();
    outs.forEach((o, k) => {
      const errors = errorLines(dec.decode(o.stderr));
      if (!o.success || errors.length) {
        const shown = errors.slice(0, 5).join("\n  ");
        problems.push(`storescu #${k + 1} exit ${o.code}${shown ? `:\n  ${shown}` : ""}`);
      }
    });
    if (problems.length) throw new Error(problems.join("\n"));
    return seconds;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts a fresh peer, sends the corpus on `associations` associations, stops the peer and
 * checks it holds every object. Never throws: failures land in `error`.
 */
export async function runScenario(
  start: () => Promise<Peer>,
  corpus: Corpus,
  associations: number,
): Promise<ScenarioResult> {
  const expected = corpus.files.length;
  const result: ScenarioResult = {
    associations,
    seconds: NaN,
    imagesPerSecond: NaN,
    mibPerSecond: NaN,
    homeSeconds: NaN,
    homeImagesPerSecond: NaN,
    stored: null,
    expected,
  };
  let peer: Peer | undefined;
  try {
    peer = await start();
    // Each round starts with nothing dirty in the page cache: no server pays for another's writes.
    await sync();
    const t0 = performance.now();
    const cpu0 = machineCpu();
    const seconds = await sendWithStorescu(peer, shares(corpus, associations)).catch((e) => {
      result.error = (e as Error).message;
      return NaN;
    });
    result.cpu = cpuUse(cpu0, machineCpu());
    result.seconds = seconds;
    result.imagesPerSecond = expected / seconds;
    result.mibPerSecond = corpus.totalBytes / (1024 * 1024) / seconds;
    if (!result.error) {
      if (peer.awaitHome) await peer.awaitHome(expected, SCENARIO_TIMEOUT_MS);
      else await sync();
      result.homeSeconds = (performance.now() - t0) / 1000;
      result.homeImagesPerSecond = expected / result.homeSeconds;
    }
    if (!peer.countsAfterStop) result.stored = await peer.count();
    const stopping = peer;
    peer = undefined;
    await stopping.stop().finally(async () => {
      if (stopping.countsAfterStop) result.stored = await stopping.count().catch(() => null);
      await stopping.cleanup();
    });
    if (result.stored !== expected) {
      result.warning = `stored ${result.stored ?? "?"} of ${expected} objects`;
    }
  } catch (e) {
    const message = (e as Error).message;
    result.error = result.error ? `${result.error}\n${message}` : message;
  } finally {
    if (peer) {
      const p = peer;
      await p.stop().catch(() => {});
      await p.cleanup();
    }
    // Flush what the peer left dirty in the page cache, so it does not weigh on the next run.
    await sync();
  }
  return result;
}

/** sync(1): writes every file system's dirty pages back, and waits for it. */
async function sync(): Promise<void> {
  await new Deno.Command("sync", { stdout: "null", stderr: "null" }).output().catch(() => {});
}
