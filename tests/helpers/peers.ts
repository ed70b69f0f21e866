// Peers for the interop tests and the benchmarks. The storage SCPs under test, each started fresh on loopback with its own empty storage in a
// temporary folder: DCMTK storescp (files only), Orthanc, and MiniPACS as a child process.
import { dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { V8_FLAGS } from "../../scripts/v8_flags.ts";
import { MAIN } from "./server.ts";

/**
 * The V8 flags a build runs with: another checkout's (its scripts/v8_flags.ts, beside the
 * src/main.ts given), so that a before/after comparison runs each build as it ships.
 */
export async function v8FlagsOf(main?: string): Promise<string> {
  if (main === undefined) return V8_FLAGS;
  const url = pathToFileURL(resolve(dirname(main), "../scripts/v8_flags.ts")).href;
  try {
    return (await import(url)).V8_FLAGS ?? V8_FLAGS;
  } catch {
    return V8_FLAGS; // an older checkout without the file
  }
}

/**
 * `deno` arguments that serve a MiniPACS build on a config file: this checkout's src/main.ts,
 * or another checkout's (with that checkout's V8 flags).
 */
export async function serveArgs(config: string, main: string = MAIN): Promise<string[]> {
  const flags = await v8FlagsOf(main === MAIN ? undefined : main);
  return ["run", flags, "-A", main, "serve", "--config", config];
}

/** A running storage SCP. */
export interface Peer {
  aeTitle: string;
  port: number;
  /** Stops the process (SIGTERM, SIGKILL after a bound) and waits for it. */
  stop(): Promise<void>;
  /** Objects the peer holds: call before stop() unless countsAfterStop. */
  count(): Promise<number>;
  /** True when count() reads files after the process ended (MiniPACS drains its journal). */
  countsAfterStop: boolean;
  /** Removes the peer's temporary folder. */
  cleanup(): Promise<void>;
  /** The last lines the process printed, for error reports. */
  output(): string;
  /** Its process id, when it was started here (CPU time from /proc). */
  pid?: number;
  /** Its HTTP server's base URL, when it has one (Orthanc). */
  httpUrl?: string;
  /** Where the peer writes what it receives, when that is a plain folder (storescp). */
  dir?: string;
  /**
   * Resolves once `expected` objects are durable in their home files (MiniPACS: each is fsynced
   * before its rename out of the journal). Peers without it are made durable by `sync`.
   */
  awaitHome?(expected: number, timeoutMs: number): Promise<void>;
}

/** Every DCMTK tool runs with Nagle off (DCMTK 3.6.7 leaves it on otherwise). */
export const DCMTK_ENV = { TCP_NODELAY: "1" };

/** A free TCP port on 127.0.0.1 (bind port 0, read it, close). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Keeps the last `max` characters a child prints, so its pipes never fill. */
function tail(child: Deno.ChildProcess, max = 8000): { text(): string; done: Promise<void> } {
  let text = "";
  const dec = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array> | null) => {
    if (!s) return;
    for await (const chunk of s) text = (text + dec.decode(chunk, { stream: true })).slice(-max);
  };
  const done = Promise.all([pump(child.stdout), pump(child.stderr)]).then(() => {});
  return { text: () => text, done };
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
async function terminate(child: Deno.ChildProcess, graceMs = 60_000): Promise<Deno.CommandStatus> {
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), graceMs)));
  const status = await Promise.race([child.status, late]);
  clearTimeout(timer);
  if (status) return status;
  try {
    child.kill("SIGKILL");
  } catch { /* gone meanwhile */ }
  return await child.status;
}

/** One C-ECHO with echoscu; true on success. */
export async function echo(port: number, calledAe: string): Promise<boolean> {
  const out = await new Deno.Command("echoscu", {
    args: ["-to", "5", "-aet", "BENCH", "-aec", calledAe, "127.0.0.1", String(port)],
    env: DCMTK_ENV,
    stdout: "null",
    stderr: "null",
    signal: AbortSignal.timeout(15_000),
  }).output();
  return out.success;
}

/** Echoes until the peer answers (bounded); throws with the process output if it never does. */
async function waitForEcho(
  port: number,
  ae: string,
  child: Deno.ChildProcess,
  out: () => string,
  timeoutMs = 30_000,
): Promise<void> {
  let exited = false;
  child.status.then(() => (exited = true));
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (exited) throw new Error(`exited before answering C-ECHO:\n${out()}`);
    if (await echo(port, ae)) return;
    await delay(100);
  }
  throw new Error(`no C-ECHO answer on port ${port} within ${timeoutMs} ms:\n${out()}`);
}

/** Counts regular files under `dir` whose relative path passes `keep` (bounded depth). */
export async function countFiles(dir: string, keep: (rel: string) => boolean): Promise<number> {
  let n = 0;
  const walk = async (rel: string, depth: number): Promise<void> => {
    if (depth > 16) return;
    for await (const e of Deno.readDir(rel ? `${dir}/${rel}` : dir)) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(path, depth + 1);
      else if (e.isFile && keep(path)) n++;
    }
  };
  await walk("", 0);
  return n;
}

/** A MiniPACS home file: <study>/<series>/<sop>.dcm (not journal/ or tmp/ scratch). */
const HOME_FILE = /^(?!journal\/|tmp\/)[^/]+\/[^/]+\/[^/]+\.dcm$/;

/**
 * DCMTK storescp writing plain files (no fsync): the practical ceiling. `fork` runs one child
 * process per association, for the parallel scenario. storescp 3.6.7 has no bind option: it
 * listens on every interface; the bench only connects on 127.0.0.1.
 */
export async function startStorescp(opts: { fork: boolean; parent?: string }): Promise<Peer> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-bench-storescp-", dir: opts.parent });
  const port = freePort();
  const aeTitle = "STORESCP";
  const args = ["-aet", aeTitle, "-od", dir, ...(opts.fork ? ["--fork"] : []), String(port)];
  const child = new Deno.Command("storescp", {
    args,
    env: DCMTK_ENV,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = tail(child);
  const peer: Peer = {
    aeTitle,
    port,
    stop: async () => {
      await terminate(child, 10_000);
      await out.done;
    },
    count: () => countFiles(dir, () => true),
    dir,
    countsAfterStop: true,
    cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
    output: out.text,
  };
  try {
    await waitForEcho(port, aeTitle, child, out.text);
  } catch (e) {
    await peer.stop();
    await peer.cleanup();
    throw e;
  }
  return peer;
}

/** Orthanc's version string ("1.10.1"), from `Orthanc --version`. */
export async function orthancVersion(bin = "/usr/sbin/Orthanc"): Promise<string> {
  const out = await new Deno.Command(bin, { args: ["--version"], stdout: "piped", stderr: "null" })
    .output();
  return /Orthanc\s+([\w.]+)/.exec(new TextDecoder().decode(out.stdout))?.[1] ?? "?";
}

/**
 * Orthanc with its own configuration and storage in a temporary folder, on free ports (never
 * the 4242/8042 of a system Orthanc). Ready once GET /system answers. Orthanc 1.10 has no DICOM
 * bind option; its HTTP server refuses remote clients (RemoteAccessAllowed false).
 */
export async function startOrthanc(
  bin = "/usr/sbin/Orthanc",
  opts: { plugins?: string[]; extra?: Record<string, unknown> } = {},
): Promise<Peer> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-bench-orthanc-" });
  const port = freePort();
  const httpPort = freePort();
  const aeTitle = "ORTHANC";
  const config = {
    Name: "MiniPACS bench",
    StorageDirectory: `${dir}/storage`,
    IndexDirectory: `${dir}/index`,
    DicomPort: port,
    HttpPort: httpPort,
    DicomAet: aeTitle,
    DicomCheckCalledAet: false,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    HttpServerEnabled: true,
    DicomServerEnabled: true,
    Plugins: opts.plugins ?? [],
    ConcurrentJobs: 2,
    StorageCompression: false,
    // Orthanc >= 1.7.4 default, spelled out: stored files are fsynced, as MiniPACS does.
    SyncStorageArea: true,
    DicomThreadsCount: 8,
    SaveJobs: false,
    ...opts.extra,
  };
  await Deno.writeTextFile(`${dir}/orthanc.json`, JSON.stringify(config, null, 2));
  const child = new Deno.Command(bin, {
    args: [`${dir}/orthanc.json`],
    // Orthanc's DICOM layer is DCMTK's: without this it answers each C-STORE ~40 ms late.
    env: DCMTK_ENV,
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = tail(child);
  const base = `http://127.0.0.1:${httpPort}`;
  const peer: Peer = {
    aeTitle,
    port,
    stop: async () => {
      await terminate(child, 60_000);
      await out.done;
    },
    count: async () => {
      const r = await fetch(`${base}/statistics`, { signal: AbortSignal.timeout(30_000) });
      if (!r.ok) throw new Error(`GET /statistics: HTTP ${r.status}`);
      const stats = await r.json() as { CountInstances: number };
      return stats.CountInstances;
    },
    countsAfterStop: false,
    cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
    output: out.text,
    httpUrl: base,
  };
  try {
    let exited = false;
    child.status.then(() => (exited = true));
    const until = Date.now() + 30_000;
    for (;;) {
      if (exited) throw new Error(`Orthanc exited at start-up:\n${out.text()}`);
      if (Date.now() > until) throw new Error(`Orthanc: GET /system not answered:\n${out.text()}`);
      const ok = await fetch(`${base}/system`, { signal: AbortSignal.timeout(2_000) })
        .then(async (r) => (await r.body?.cancel(), r.ok), () => false);
      if (ok) break;
      await delay(100);
    }
    await waitForEcho(port, aeTitle, child, out.text);
  } catch (e) {
    await peer.stop();
    await peer.cleanup();
    throw e;
  }
  return peer;
}

/**
 * MiniPACS as a child process (`deno run -A src/main.ts serve --config <file>`) on a free port,
 * logging at warn (so nothing but trouble reaches stderr) with fresh storage; ready once it
 * answers C-ECHO.
 */
export async function startMiniPacsPeer(
  opts: { durability?: "fsync" | "none"; extraToml?: string; main?: string } = {},
): Promise<Peer> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-bench-server-" });
  const storage = `${dir}/data`;
  const port = freePort();
  const aeTitle = "MINIPACS";
  const toml = [
    "[server]",
    `ae_title = "${aeTitle}"`,
    'bind = "127.0.0.1"',
    `port = ${port}`,
    "[storage]",
    `path = ${JSON.stringify(storage)}`,
    "min_free_mb = 1",
    `durability = "${opts.durability ?? "fsync"}"`,
    "[http]",
    "enabled = false",
    "[log]",
    'level = "warn"',
    opts.extraToml ?? "",
  ].join("\n");
  await Deno.writeTextFile(`${dir}/config.toml`, toml + "\n");
  const child = new Deno.Command(Deno.execPath(), {
    args: await serveArgs(`${dir}/config.toml`, opts.main),
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = tail(child);
  let code: number | null = null;
  const peer: Peer = {
    aeTitle,
    port,
    pid: child.pid,
    stop: async () => {
      code ??= (await terminate(child, 120_000)).code;
      await out.done;
      if (code !== 0) throw new Error(`MiniPACS exited with code ${code}:\n${out.text()}`);
    },
    count: () => countFiles(storage, (rel) => HOME_FILE.test(rel)),
    countsAfterStop: true,
    awaitHome: async (expected, timeoutMs) => {
      const until = performance.now() + timeoutMs;
      while ((await countFiles(storage, (rel) => HOME_FILE.test(rel))) < expected) {
        if (performance.now() > until) {
          throw new Error(`home files not all there after ${timeoutMs} ms`);
        }
        await delay(20);
      }
    },
    cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
    output: out.text,
  };
  try {
    await waitForEcho(port, aeTitle, child, out.text);
  } catch (e) {
    await peer.stop().catch(() => {});
    await peer.cleanup();
    throw e;
  }
  return peer;
}

/**
 * Orthanc answers C-FIND only to AE titles it knows (DicomAlwaysAllowFind is off by default):
 * declare one through its REST API, on the HTTP port it logged at start-up.
 */
export async function allowFind(orthanc: Peer, aeTitle: string): Promise<void> {
  const port = /HTTP server listening on port: (\d+)/.exec(orthanc.output())?.[1];
  if (!port) throw new Error(`Orthanc's HTTP port is not in its log:\n${orthanc.output()}`);
  const r = await fetch(`http://127.0.0.1:${port}/modalities/${aeTitle}`, {
    method: "PUT",
    body: JSON.stringify({ AET: aeTitle, Host: "127.0.0.1", Port: 104, AllowFind: true }),
    signal: AbortSignal.timeout(10_000),
  });
  await r.body?.cancel();
  if (!r.ok) throw new Error(`Orthanc PUT /modalities/${aeTitle}: HTTP ${r.status}`);
}
