// The server side of the scale benchmark: MiniPACS started on the big store (timed to its first
// C-ECHO answer), HTTP timings, and a C-STORE sender of CT images from memory with a time per
// acknowledgement. Loopback only; every wait is bounded.
import { V8_FLAGS } from "../../scripts/v8_flags.ts";
import {
  type DataElement,
  encodeDataset,
  encodingOf,
  textElement,
} from "../../src/core/dicom/dataset.ts";
import { CommandField, DATASET_PRESENT } from "../../src/core/dimse/command.ts";
import { Status } from "../../src/core/dimse/status.ts";
import { MAIN } from "../helpers/server.ts";
import { echo as echoOnce, openAssociation } from "../helpers/scu.ts";
import { freePort } from "../helpers/peers.ts";
import { rssMib } from "./find_bench.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const AE = "MINIPACS";

export interface ScaleServer {
  port: number;
  httpPort: number;
  pid: number;
  /** Seconds from spawning the process to the first C-ECHO answered. */
  startSeconds: number;
  /** The server's log (stderr) so far. */
  log(): string;
  /** SIGTERM and wait (a clean shutdown). */
  stop(): Promise<void>;
  /** SIGKILL and wait: a crash. */
  kill(): Promise<void>;
  get(path: string): Promise<{ ms: number; status: number; body: string }>;
  rss(): number;
  /** "anonymous N MiB, file-backed M MiB" (Linux /proc): the heap against mapped code. */
  rssParts(): string;
}

export interface ScaleServerOptions {
  storage: string;
  /** Folder for the config and log files. */
  work: string;
  retentionDays?: number;
}

/** Starts `minipacs serve` on the store; resolves once it answered a C-ECHO (at most 120 s). */
export async function startScaleServer(o: ScaleServerOptions): Promise<ScaleServer> {
  const port = freePort();
  const httpPort = freePort();
  const toml = [
    "[server]",
    `ae_title = "${AE}"`,
    'bind = "127.0.0.1"',
    `port = ${port}`,
    'accept = "any"',
    "[storage]",
    `path = ${JSON.stringify(o.storage)}`,
    `retention_days = ${o.retentionDays ?? 0}`,
    "[http]",
    'bind = "127.0.0.1"',
    `port = ${httpPort}`,
  ].join("\n");
  const config = `${o.work}/config-${port}.toml`;
  await Deno.writeTextFile(config, toml + "\n");
  const logPath = `${o.work}/server-${port}.log`;
  const logFile = await Deno.open(logPath, { write: true, create: true, truncate: true });
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", V8_FLAGS, "-A", MAIN, "serve", "--config", config],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Copied chunk by chunk as it comes (a pipeTo held it all until the process ended).
  const piped = (async () => {
    try {
      for await (const chunk of child.stderr) {
        for (let off = 0; off < chunk.length;) off += logFile.writeSync(chunk.subarray(off));
      }
    } catch {
      /* the process is gone */
    } finally {
      logFile.close();
    }
  })();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const log = () => {
    try {
      return Deno.readTextFileSync(logPath);
    } catch {
      return "";
    }
  };
  const done = async () => {
    await status;
    await piped;
  };
  let startSeconds = NaN;
  for (let i = 0; i < 6000 && !exited; i++) {
    if (await answersEcho(port)) {
      startSeconds = (performance.now() - t0) / 1000;
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  if (!Number.isFinite(startSeconds)) {
    if (!exited) child.kill("SIGKILL");
    await done();
    throw new Error(`the server never answered C-ECHO:\n${log().slice(-2000)}`);
  }
  return {
    port,
    httpPort,
    pid: child.pid,
    startSeconds,
    log,
    async stop() {
      if (!exited) child.kill("SIGTERM");
      const late = setTimeout(() => !exited && child.kill("SIGKILL"), 120_000);
      await done();
      clearTimeout(late);
    },
    async kill() {
      if (!exited) child.kill("SIGKILL");
      await done();
    },
    async get(path: string) {
      const t = performance.now();
      const r = await fetch(`http://127.0.0.1:${httpPort}${path}`, {
        signal: AbortSignal.timeout(60_000),
      });
      const body = await r.text();
      return { ms: performance.now() - t, status: r.status, body };
    },
    rss: () => rssMib(child.pid),
    rssParts: () => {
      const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      const mib = (key: string) =>
        (Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024).toFixed(0);
      return `anonymous ${mib("RssAnon")} MiB, file-backed ${mib("RssFile")} MiB`;
    },
  };
}

/** One association with one C-ECHO; false while nothing listens yet. */
async function answersEcho(port: number): Promise<boolean> {
  try {
    const assoc = await openAssociation(port, { called: AE, calling: "SCALEBENCH" });
    try {
      return (await echoOnce(assoc)) === Status.Success;
    } finally {
      await assoc.release();
    }
  } catch {
    return false;
  }
}

/** The UIDs of the n-th image a sender sends. */
export type UidsOf = (n: number) => { study: string; series: string; sop: string };

const PIXELS = (() => {
  const px = new Uint16Array(512 * 512);
  let x = 2463534242;
  for (let i = 0; i < px.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    px[i] = (1000 + ((x >>> 0) & 0x3ff)) & 0x0fff;
  }
  return new Uint8Array(px.buffer);
})();

/** A CT image (512x512, 16 bit, Explicit VR LE) with the given UIDs, 0.5 MiB. */
export function ctImage(uids: { study: string; series: string; sop: string }, n: number) {
  const t = (tag: number, vr: string, text: string) => textElement(tag, vr, text, "")!;
  const us = (tag: number, v: number): DataElement => ({
    tag,
    vr: "US",
    value: new Uint8Array([v & 0xff, v >> 8]),
  });
  const elements: DataElement[] = [
    t(0x00080016, "UI", CT),
    t(0x00080018, "UI", uids.sop),
    t(0x00080020, "DA", "20261202"),
    t(0x00080060, "CS", "CT"),
    t(0x00100010, "PN", "INGEST^SCALE"),
    t(0x00100020, "LO", "SCALEINGEST"),
    t(0x0020000d, "UI", uids.study),
    t(0x0020000e, "UI", uids.series),
    t(0x00200013, "IS", String(n + 1)),
    us(0x00280002, 1),
    t(0x00280004, "CS", "MONOCHROME2"),
    us(0x00280010, 512),
    us(0x00280011, 512),
    us(0x00280100, 16),
    us(0x00280101, 12),
    us(0x00280102, 11),
    us(0x00280103, 0),
    { tag: 0x7fe00010, vr: "OW", value: PIXELS },
  ];
  return encodeDataset(elements, encodingOf(EXPLICIT_LE));
}

export interface SendOptions {
  port: number;
  associations: number;
  /** Images to send at most. */
  count: number;
  uidsOf: UidsOf;
  /** Wait this long between two stores of one association (0: back to back). */
  intervalMs?: number;
  /** Stop early once this returns true (checked before each store). */
  stop?: () => boolean;
  /** Give up after this long. */
  timeoutMs: number;
}

export interface SendResult {
  /** performance.now() when sending began. */
  started: number;
  /** Per acknowledged image, in acknowledgement order: [performance.now(), latency ms]. */
  acks: [number, number][];
  failures: number;
}

/** Sends CT images with C-STORE over `associations` associations; times each acknowledgement. */
export async function sendImages(o: SendOptions): Promise<SendResult> {
  const started = performance.now();
  const deadline = started + o.timeoutMs;
  const result: SendResult = { started, acks: [], failures: 0 };
  let next = 0;
  const worker = async () => {
    const assoc = await openAssociation(o.port, {
      called: AE,
      calling: "SCALEBENCH",
      contexts: [{ id: 1, abstractSyntax: CT, transferSyntaxes: [EXPLICIT_LE] }],
      maxPduLength: 65536,
    });
    try {
      while (next < o.count && performance.now() < deadline && !o.stop?.()) {
        const n = next++;
        const uids = o.uidsOf(n);
        const dataset = ctImage(uids, n);
        const t = performance.now();
        const rsp = await assoc.request(1, {
          commandField: CommandField.CStoreRq,
          commandDataSetType: DATASET_PRESENT,
          affectedSopClassUid: CT,
          affectedSopInstanceUid: uids.sop,
          priority: 0,
        }, dataset);
        const now = performance.now();
        if (rsp.command.status === Status.Success) result.acks.push([now, now - t]);
        else result.failures++;
        if (o.intervalMs) await new Promise((r) => setTimeout(r, o.intervalMs));
      }
    } finally {
      await assoc.release().catch(() => {});
    }
  };
  await Promise.all(Array.from({ length: o.associations }, worker));
  return result;
}

/** The q-quantile of some numbers (NaN for none). */
export function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** A gauge's value in a Prometheus text page (the first sample of that name). */
export function metric(page: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, "m").exec(page);
  return m ? Number(m[1]) : NaN;
}
