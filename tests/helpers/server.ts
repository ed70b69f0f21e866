// Starts the real server as a child process (Deno.execPath(), never a deno from PATH) on a
// free port with its own temporary storage, and stops it in every case.
import { V8_FLAGS } from "../../scripts/v8_flags.ts";
import { fileURLToPath as fromFileUrl } from "node:url";

export const ROOT = fromFileUrl(new URL("../../", import.meta.url));
export const MAIN = fromFileUrl(new URL("../../src/main.ts", import.meta.url));

export interface MiniPacs {
  port: number;
  /** The DICOM-over-TLS port when [tls] is enabled, else null. */
  tlsPort: number | null;
  /** The status page's port when `http` enabled it, else null. */
  httpPort: number | null;
  dir: string;
  storage: string;
  /** Everything the server logged so far. */
  logs(): string;
  /** Waits until a log line matches (bounded). */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Stops the server (SIGTERM unless told otherwise); its storage stays for inspection. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** Stops it if running and removes its temporary folder (call in finally). */
  cleanup(): Promise<void>;
  child: Deno.ChildProcess;
}

export interface StartOptions {
  /** Extra TOML appended to the generated config (sections must not repeat [server]/[storage]). */
  extraToml?: string;
  server?: Record<string, string | number | boolean>;
  storage?: Record<string, string | number | boolean | string[]>;
  /** Replaces the `[http]` block (default `enabled = false`); `port = 0` picks a free port. */
  http?: Record<string, string | number | boolean>;
  /** Reuse an existing storage folder (restart after a crash). */
  storagePath?: string;
  args?: string[];
}

function toml(v: string | number | boolean | string[]): string {
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(", ")}]`;
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/**
 * The temporary folders of every server started on a storage folder, by that storage. A test
 * that restarts a server on the same storage (storagePath) and cleans up only the last one
 * leaves nothing behind: that cleanup removes them all, the first one's storage with it.
 */
const FOLDERS_OF_STORAGE = new Map<string, Set<string>>();

export async function startMiniPacs(opts: StartOptions = {}): Promise<MiniPacs> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-test-" });
  const storage = opts.storagePath ?? `${dir}/data`;
  const folders = FOLDERS_OF_STORAGE.get(storage) ?? new Set<string>();
  FOLDERS_OF_STORAGE.set(storage, folders.add(dir));
  // accept = "any": the test peers query and retrieve under AE titles no [[known_ae]] names
  // (the default "store" would refuse them; tests of the default set it themselves).
  const server = {
    ae_title: "MINIPACS",
    bind: "127.0.0.1",
    port: 0,
    accept: "any",
    ...opts.server,
  };
  // No journal reserve: each test server would otherwise write 512 MiB before it listens.
  const store = { path: storage, min_free_mb: 1, journal_reserve_mb: 0, ...opts.storage };
  const text = [
    "[server]",
    ...Object.entries(server).map(([k, v]) => `${k} = ${toml(v)}`),
    "[storage]",
    ...Object.entries(store).map(([k, v]) => `${k} = ${toml(v)}`),
    "[http]",
    ...Object.entries(opts.http ?? { enabled: false }).map(([k, v]) => `${k} = ${toml(v)}`),
    "[log]",
    'level = "debug"',
    opts.extraToml ?? "",
  ].join("\n");
  const configPath = `${dir}/config.toml`;
  await Deno.writeTextFile(configPath, text);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", V8_FLAGS, "-A", MAIN, "serve", "--config", configPath, ...(opts.args ?? [])],
    stdout: "piped",
    stderr: "piped",
    cwd: dir,
  }).spawn();
  let log = "";
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      log += dec.decode(chunk, { stream: true });
      for (const w of [...waiters]) {
        const m = log.split("\n").find((l) => w.re.test(l));
        if (m) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const waitForLog = (re: RegExp, timeoutMs = 15000): Promise<string> => {
    const found = log.split("\n").find((l) => re.test(l));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.findIndex((w) => w.re === re), 1);
        reject(new Error(`no log line matching ${re} within ${timeoutMs} ms. Log:\n${log}`));
      }, timeoutMs);
      waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  };
  let stopped: Promise<number> | null = null;
  const stop = (signal: Deno.Signal = "SIGTERM"): Promise<number> => {
    stopped ??= (async () => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      const status = await child.status;
      await pumps;
      return status.code;
    })();
    return stopped;
  };
  const cleanup = async () => {
    await stop("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    for (const folder of folders) await Deno.remove(folder, { recursive: true }).catch(() => {});
    FOLDERS_OF_STORAGE.delete(storage);
  };
  try {
    // Logged once the server is up and its SIGINT/SIGTERM handlers are in place.
    const line = await waitForLog(/MiniPACS started/);
    const port = Number(/dicom_port"?[=:](\d+)/.exec(line)?.[1]);
    const http = /http_port"?[=:](\d+)/.exec(line)?.[1];
    const httpPort = http === undefined ? null : Number(http);
    const tls = /tls_port=(\d+)/.exec(line)?.[1];
    const tlsPort = tls === undefined ? null : Number(tls);
    return {
      port,
      tlsPort,
      httpPort,
      dir,
      storage,
      logs: () => log,
      waitForLog,
      stop,
      cleanup,
      child,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a DCMTK (or other) tool with TCP_NODELAY=1, as INTEROP.md asks. */
export async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<RunResult> {
  const out = await new Deno.Command(cmd, {
    args,
    env: { TCP_NODELAY: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** DCMTK storescu sends `files` to MINIPACS at `port` as `calling`; throws unless it exits 0. */
export async function storescuTo(port: number, files: string[], calling = "CT1"): Promise<void> {
  const r = await run("storescu", [
    "-aet",
    calling,
    "-aec",
    "MINIPACS",
    "127.0.0.1",
    String(port),
    ...files,
  ]);
  if (r.code !== 0) throw new Error(`storescu exit ${r.code}: ${r.stderr}`);
}

const toolCache = new Map<string, boolean>();
/** The Debian package of each tool the tests run that is not part of dcmtk. */
const TOOL_PACKAGE: Record<string, string> = { chromium: "chromium" };

/** True when the tool is on PATH; otherwise prints a skip line naming it and its package. */
export function hasTool(name: string): boolean {
  if (!toolCache.has(name)) {
    let ok = false;
    for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
      try {
        Deno.statSync(`${dir}/${name}`);
        ok = true;
        break;
      } catch { /* not here */ }
    }
    if (!ok) {
      const pkg = TOOL_PACKAGE[name] ?? "dcmtk";
      console.log(`SKIP: ${name} is not installed (apt-get install ${pkg}); its tests are ignored`);
    }
    toolCache.set(name, ok);
  }
  return toolCache.get(name)!;
}
