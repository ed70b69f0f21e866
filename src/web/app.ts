// The Hono app: status pages, the JSON API, /metrics and /healthz. It only reads (counters
// in memory, the index through its own read-only connection); the one action, a C-ECHO to
// a known AE, runs on our own SCU.
import { Hono } from "hono";
import type { Context } from "hono";
import { type Config, formatConfig, type KnownAe } from "../config.ts";
import type { Logger } from "../core/ports.ts";
import type { AuditTrail } from "../core/audit.ts";
import type { AuditEntry } from "../storage/audit_log.ts";
import type { ServerStats } from "../stats.ts";
import { INDEX_FILE } from "../storage/layout.ts";
import { echoPeer, type EchoResult } from "./echo.ts";
import { checkHealth } from "./health.ts";
import { IndexReader } from "./index_reader.ts";
import { STYLE_CSS } from "./layout.ts";
import { METRICS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";
import {
  associationsPage,
  configPage,
  dashboardPage,
  errorPage,
  peersPage,
  studiesPage,
  studyPage,
} from "./pages.ts";
import {
  basicAuth,
  isLoopback,
  loopbackHostOnly,
  sameOriginPosts,
  securityHeaders,
} from "./security.ts";
import { buildStatus, type StorageView } from "./status.ts";
import { getStudy, SearchError, searchFromParams, searchStudies } from "./studies.ts";

export interface WebDeps {
  /** The running configuration (a reload may replace it). */
  config(): Config;
  stats: ServerStats;
  storage: StorageView;
  logger: Logger;
  dicomPort(): number;
  httpPort(): number | null;
  /** Runs a C-ECHO to a known AE (default: our SCU over TCP). */
  echo?(peer: KnownAe): Promise<EchoResult>;
  /** The audit trail: failed logins go there; the dashboard shows its latest records. */
  audit?: AuditTrail & { recent?(n?: number): AuditEntry[] };
}

export interface WebApp {
  app: Hono;
  /** Closes the index reader. */
  close(): void;
}

/** Paths and the methods they answer; any other method gets 405 with Allow. */
const ROUTES: [RegExp, string[]][] = [
  [/^\/(associations|studies|peers|config|style\.css|healthz|metrics)?$/, ["GET", "HEAD"]],
  [/^\/studies\/[^/]+$/, ["GET", "HEAD"]],
  [/^\/api\/(status|associations|studies)$/, ["GET", "HEAD"]],
  [/^\/api\/studies\/[^/]+$/, ["GET", "HEAD"]],
  [/^\/(api\/)?peers\/[^/]+\/echo$/, ["POST"]],
];

export function createWebApp(deps: WebDeps): WebApp {
  const reader = new IndexReader(() => deps.storage.index.openReader());
  const app = new Hono();
  const ae = () => deps.config().server.aeTitle;
  const isApi = (c: Context) => c.req.path.startsWith("/api/");
  const echo = deps.echo ??
    ((peer: KnownAe) => echoPeer(deps.config(), peer, deps.logger));

  const fail = (c: Context, status: 400 | 404 | 405 | 500 | 503, message: string) =>
    isApi(c)
      ? c.json({ error: message }, status)
      : c.html(errorPage(ae(), status, message), status);

  app.use(securityHeaders());
  app.use(loopbackHostOnly(() => {
    const http = deps.config().http;
    return http.users.length === 0 && isLoopback(http.bind);
  }));
  app.use(basicAuth({
    users: () => deps.config().http.users,
    isPublic: (path) =>
      path === "/healthz" || (path === "/metrics" && deps.config().http.metricsPublic),
    // PS3.15 A.5.3.12 User Authentication, a failed Login.
    onFailure: (name, from) =>
      deps.audit?.record({
        EventID: "User Authentication",
        EventActionCode: "E",
        EventOutcomeIndicator: 4,
        EventOutcomeDescription: "wrong user name or password",
        EventTypeCode: "Login",
        UserID: name.slice(0, 64),
        NetworkAccessPointID: from,
      }),
  }));
  app.use(sameOriginPosts());
  // Wrong method on a known path: 405 (before the routes, which would answer 404).
  app.use(async (c, next) => {
    const allowed = ROUTES.find(([re]) => re.test(c.req.path))?.[1];
    if (allowed && !allowed.includes(c.req.method)) {
      c.header("Allow", allowed.join(", "));
      return fail(c, 405, `method ${c.req.method} not allowed here`);
    }
    await next();
  });

  const status = () =>
    buildStatus({
      config: deps.config(),
      stats: deps.stats,
      storage: deps.storage,
      reader,
      dicomPort: deps.dicomPort(),
      httpPort: deps.httpPort(),
      audit: deps.audit?.recent?.(20),
    });

  // ---- pages ----
  app.get("/style.css", (c) => {
    c.header("Cache-Control", "max-age=3600");
    return c.body(STYLE_CSS, 200, { "Content-Type": "text/css; charset=utf-8" });
  });
  app.get("/", async (c) => c.html(dashboardPage(await status())));
  app.get("/associations", (c) => c.html(associationsPage(ae(), deps.stats.openAssociations())));
  app.get("/studies", (c) => {
    const params = new URL(c.req.url).searchParams;
    try {
      const search = searchFromParams(params);
      return c.html(studiesPage(ae(), search, searchStudies(reader, search)));
    } catch (e) {
      if (!(e instanceof SearchError)) throw e;
      return c.html(studiesPage(ae(), {}, { error: e.message }), 400);
    }
  });
  app.get("/studies/:uid", (c) => {
    const detail = getStudy(reader, c.req.param("uid"));
    return detail ? c.html(studyPage(ae(), detail)) : fail(c, 404, "no such study");
  });
  app.get("/peers", (c) => c.html(peersPage(ae(), deps.config().knownAe)));
  app.post("/peers/:ae/echo", async (c) => {
    const peer = findPeer(deps.config(), c.req.param("ae"));
    if (!peer) return fail(c, 404, "no such known AE");
    const result = await runEcho(peer);
    return c.html(peersPage(ae(), deps.config().knownAe, result), result.ok ? 200 : 502);
  });
  app.get("/config", (c) => c.html(configPage(ae(), formatConfig(deps.config()))));

  // ---- API ----
  app.get("/api/status", async (c) => c.json(await status()));
  app.get("/api/associations", (c) =>
    c.json({
      associations: deps.stats.openAssociations().map((a) => ({
        ...a,
        since: new Date(a.since).toISOString(),
      })),
    }));
  app.get("/api/studies", (c) => {
    try {
      return c.json(searchStudies(reader, searchFromParams(new URL(c.req.url).searchParams)));
    } catch (e) {
      if (!(e instanceof SearchError)) throw e;
      return fail(c, 400, e.message);
    }
  });
  app.get("/api/studies/:uid", (c) => {
    const detail = getStudy(reader, c.req.param("uid"));
    return detail ? c.json(detail) : fail(c, 404, "no such study");
  });
  app.post("/api/peers/:ae/echo", async (c) => {
    const peer = findPeer(deps.config(), c.req.param("ae"));
    if (!peer) return fail(c, 404, "no such known AE");
    const result = await runEcho(peer);
    return c.json(result, result.ok ? 200 : 502);
  });

  // ---- operations ----
  app.get("/metrics", async (c) => {
    const config = deps.config();
    const [free, indexFileBytes] = await Promise.all([
      deps.storage.freeBytes().catch(() => null),
      indexSize(deps.storage.root),
    ]);
    const text = renderMetrics({
      stats: deps.stats,
      totals: reader.totals(deps.stats.storesAnswered),
      indexFileBytes,
      freeBytes: free,
      minFreeBytes: config.storage.minFreeMb * 1024 * 1024,
      pendingObjects: deps.storage.backlog?.objects ?? 0,
    });
    return c.body(text, 200, { "Content-Type": METRICS_CONTENT_TYPE });
  });
  app.get("/healthz", async (c) => {
    const health = await checkHealth({
      storage: deps.storage,
      reader,
      minFreeBytes: deps.config().storage.minFreeMb * 1024 * 1024,
      logger: deps.logger,
    });
    return c.json(
      { status: health.ok ? "ok" : "fail", checks: health.checks },
      health.ok ? 200 : 503,
    );
  });

  app.notFound((c) => fail(c, 404, "not found"));
  app.onError((e, c) => {
    deps.logger.log("error", "web request failed", {
      path: c.req.path,
      error: e instanceof Error ? e.message : String(e),
    });
    return fail(c, 500, "internal error (see the server log)");
  });

  async function runEcho(peer: KnownAe): Promise<EchoResult> {
    const result = await echo(peer);
    const timing = result.roundTripMs !== null ? `, ${result.roundTripMs.toFixed(2)} ms` : "";
    deps.stats.echoSent(
      `${peer.aeTitle}@${peer.host}:${peer.port}`,
      `C-ECHO sent: ${result.message}${timing}`,
      result.ok,
    );
    deps.logger.log(result.ok ? "info" : "warn", "C-ECHO from the web page", {
      peer: `${peer.aeTitle}@${peer.host}:${peer.port}`,
      result: result.message,
      rtt_ms: result.roundTripMs ?? undefined,
    });
    return result;
  }

  return { app, close: () => reader.close() };
}

function findPeer(config: Config, ae: string): KnownAe | undefined {
  return config.knownAe.find((k) => k.aeTitle.trim() === ae.trim());
}

async function indexSize(root: string): Promise<number | null> {
  let total = 0;
  for (const suffix of ["", "-wal"]) {
    try {
      total += (await Deno.stat(`${root}/${INDEX_FILE}${suffix}`)).size;
    } catch {
      if (suffix === "") return null;
    }
  }
  return total;
}
