// A web app over a real index in a temporary folder, with counters and a stub C-ECHO, for
// route tests through app.request().
import { type Config, parseConfig } from "../../src/config.ts";
import type { InstanceRecord } from "../../src/core/ports.ts";
import { ServerStats } from "../../src/app/stats.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import { createWebApp, type WebApp, type WebDeps } from "../../src/web/app.ts";
import type { EchoResult } from "../../src/core/services/echo_scu.ts";
import { makeRecord, MemoryLogger } from "../storage/fixtures.ts";

export { makeRecord, MemoryLogger };

export interface WebFixture {
  web: WebApp;
  index: IndexDb;
  stats: ServerStats;
  logger: MemoryLogger;
  root: string;
  config: Config;
  /** Free bytes the fake volume reports. */
  free: { bytes: number };
  echoes: string[];
  /** Indexes an instance as a C-STORE would. */
  add(sopInstanceUid: string, over?: Partial<InstanceRecord>, size?: number): void;
  /** A request as a browser on this machine sends it. */
  get(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  /** Extra config.toml text ([http] is given by `http`). */
  toml?: string;
  http?: string;
  deps?: Partial<WebDeps>;
  /** Free journal segments the storage reports. */
  journalReserveBytes?: number;
}

let seq = 1;

export async function webFixture(o: FixtureOptions = {}): Promise<WebFixture> {
  const root = await Deno.makeTempDir({ prefix: "minipacs-web-" });
  await Deno.mkdir(`${root}/tmp`);
  const index = IndexDb.open(`${root}/index.sqlite`);
  const config = parseConfig(
    `[server]\nae_title = "WEBPACS"\n[storage]\npath = "${root}"\nmin_free_mb = 10\n` +
      `[http]\n${o.http ?? ""}\n${o.toml ?? ""}`,
    "test.toml",
  );
  const stats = new ServerStats();
  const logger = new MemoryLogger();
  const free = { bytes: 50 * 1024 * 1024 };
  const echoes: string[] = [];
  const web = createWebApp({
    config: () => config,
    stats,
    logger,
    storage: {
      root,
      openReader: () => index.openReader(),
      freeBytes: () => Promise.resolve(free.bytes),
      backlog: { objects: 0, bytes: 0 },
      journalReserveBytes: o.journalReserveBytes,
    },
    dicomPort: () => 11112,
    httpPort: () => 8080,
    echo: (peer): Promise<EchoResult> => {
      echoes.push(peer.aeTitle);
      return Promise.resolve({
        aeTitle: peer.aeTitle,
        host: peer.host,
        port: peer.port,
        ok: true,
        status: 0,
        message: "0x0000 success",
        roundTripMs: 1.25,
        setupMs: 2.5,
      });
    },
    ...o.deps,
  });
  return {
    web,
    index,
    stats,
    logger,
    root,
    config,
    free,
    echoes,
    add(sop, over = {}, size = 1000) {
      const s = seq++;
      index.upsertInstance(
        makeRecord(sop, over),
        { kind: "home", path: `x/${sop}.dcm`, offset: 0, length: size },
        {
          homePath: `x/${sop}.dcm`,
          size,
          receivedAt: new Date().toISOString(),
          callingAe: "MODALITY",
          seq: s,
        },
      );
    },
    get: (path, init) => Promise.resolve(web.app.request(`http://localhost${path}`, init)),
    async close() {
      web.close();
      index.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}
