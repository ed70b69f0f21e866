// The Hono app: status pages, the JSON API, /metrics and /healthz. It only reads (counters
// in memory, the index through its own read-only connection); the one action, a C-ECHO to
// a known AE, runs on our own SCU.
import { Hono } from "hono";
import type { Context } from "hono";
import { type Config, formatConfig, type KnownAe } from "../config.ts";
import type { Connector, Logger } from "../core/ports.ts";
import type { AuditTrail } from "../core/audit.ts";
import type { AuditEntry } from "../storage/audit_log.ts";
import { type EchoResult, echoScu } from "../core/services/echo_scu.ts";
import { connectorFor } from "../core/services/scu_association.ts";
import { tcpConnector } from "../net/tcp.ts";
import type { ServerStats } from "../app/stats.ts";
import { Catalog, SearchError } from "../storage/catalog.ts";
import { INDEX_FILE } from "../storage/layout.ts";
import { registerActionRoutes, type WebActions } from "./actions.ts";
import { isAdminPath, registerBrowseRoutes, representative, rightsOf } from "./browse.ts";
import { checkHealth } from "./health.ts";
import { STYLE_CSS } from "./html_layout.ts";
import { METRICS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";
import { associationsPage, configPage, dashboardPage, errorPage, peersPage } from "./pages.ts";
import { studiesPage, studyPage } from "./study_pages.ts";
import {
  adminOnly,
  basicAuth,
  isLoopback,
  loopbackHostOnly,
  sameOriginPosts,
  securityHeaders,
} from "./security.ts";
import { buildStatus, type StorageView } from "./status.ts";
import { searchFromParams } from "./study_params.ts";
import { forwardForm, forwardMetrics, forwardPage, type ForwardSource } from "./forward.ts";
import { commitmentMetrics } from "./commitment.ts";
import { createViewer, VIEWER_CSP, VIEWER_PATH, viewerUrl } from "./viewer.ts";
import {
  corsPostAllowed,
  createDicomWeb,
  dicomWebCors,
  type DicomWebDeps,
} from "./dicomweb/routes.ts";

export interface WebDeps {
  /** The running configuration (a reload may replace it). */
  config(): Config;
  stats: ServerStats;
  storage: StorageView;
  logger: Logger;
  dicomPort(): number;
  httpPort(): number | null;
  /** Delete, send, download and tag dump (absent: those routes answer 404). */
  actions?: WebActions;
  /** Forwarding: its queue, the page, the study page's form (absent: no forwarding). */
  forwarding?: ForwardSource;
  /** Storage commitment reports still to be delivered (absent: not shown). */
  commitmentPending?(): number;
  /** Runs a C-ECHO to a known AE (default: our SCU, over TLS to one with tls = true). */
  echo?(peer: KnownAe): Promise<EchoResult>;
  /** Outgoing DICOM over TLS for a known AE with tls = true; null (or absent) when TLS is off. */
  tlsConnector?(): Connector | null;
  /** DICOMweb's stored objects and store path; without it `[dicomweb]` is not served. */
  dicomweb?: Omit<DicomWebDeps, "config" | "logger">;
  /** The audit trail: failed logins go there; the dashboard shows its latest records. */
  audit?: AuditTrail & { recent?(n?: number): AuditEntry[] };
}

export interface WebApp {
  app: Hono;
  /** Closes the index reader. */
  close(): void;
}

/** How long the Peers page waits for each step of a C-ECHO. */
const ECHO_TIMEOUT_MS = 10_000;

/** Paths and the methods they answer; any other method gets 405 with Allow. */
const ROUTES: [RegExp, string[]][] = [
  [/^\/(associations|studies|peers|forward|config|style\.css|healthz|metrics)?$/, [
    "GET",
    "HEAD",
  ]],
  [/^\/api\/forward$/, ["GET", "HEAD", "POST"]],
  [/^\/(api\/)?forward\/[^/]+\/retry$/, ["POST"]],
  [/^\/studies\/[^/]+\/forward$/, ["POST"]],
  [/^\/studies\/[^/]+$/, ["GET", "HEAD"]],
  [/^\/api\/(status|associations|studies)$/, ["GET", "HEAD"]],
  [/^\/api\/studies\/[^/]+$/, ["GET", "HEAD", "DELETE"]],
  [/^\/api\/(series|instances)\/[^/]+$/, ["DELETE"]],
  [/^\/api\/(studies|series|instances)\/[^/]+\/send$/, ["POST"]],
  [/^\/api\/(studies|series)\/[^/]+\/archive$/, ["GET", "HEAD"]],
  [/^\/api\/instances\/[^/]+\/tags$/, ["GET", "HEAD"]],
  [/^\/(api\/)?peers\/[^/]+\/echo$/, ["POST"]],
];

export function createWebApp(deps: WebDeps): WebApp {
  const catalog = new Catalog(deps.storage);
  const app = new Hono();
  const ae = () => deps.config().server.aeTitle;
  const isApi = (c: Context) => c.req.path.startsWith("/api/");
  const echo = deps.echo ??
    ((peer: KnownAe) =>
      echoKnownAe(deps.config(), peer, deps.logger, deps.tlsConnector?.() ?? null));

  const fail = (c: Context, status: 400 | 404 | 405 | 413 | 500 | 502 | 503, message: string) =>
    isApi(c)
      ? c.json({ error: message }, status)
      : c.html(errorPage(ae(), status, message), status);

  const viewerOn = () => deps.config().viewer.ohifPath !== "";
  const isViewer = (path: string) => path === VIEWER_PATH || path.startsWith(`${VIEWER_PATH}/`);
  app.use(securityHeaders((path) => viewerOn() && isViewer(path) ? VIEWER_CSP : undefined));
  app.use(loopbackHostOnly(() => {
    const http = deps.config().http;
    return http.users.length === 0 && isLoopback(http.bind);
  }));
  app.use(dicomWebCors(deps.config));
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
  app.use(sameOriginPosts((origin, path) => corsPostAllowed(deps.config(), origin, path)));
  // Viewers see, search and download; sending, deleting, peers and configuration are admin's.
  app.use(adminOnly(() => deps.config().http.users, isAdminPath));
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
      catalog,
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
      return c.html(
        studiesPage(
          ae(),
          search,
          catalog.searchStudies(search),
          viewerOn() ? viewerUrl : undefined,
        ),
      );
    } catch (e) {
      if (!(e instanceof SearchError)) throw e;
      return c.html(studiesPage(ae(), {}, { error: e.message }), 400);
    }
  });
  const forwardTargets = () => deps.forwarding ? deps.config().knownAe.map((k) => k.aeTitle) : [];
  app.get("/studies/:uid", (c) => {
    const detail = catalog.getStudy(c.req.param("uid"));
    if (!detail) return fail(c, 404, "no such study");
    const actions = deps.actions;
    const uid = detail.study.studyInstanceUid;
    const commits = deps.forwarding?.studyCommitments?.(uid);
    const extra = forwardForm(uid, forwardTargets(), commits);
    if (!actions) return c.html(studyPage(ae(), detail, { extra }));
    // A thumbnail per series, from its middle instance.
    const thumbs = new Map<string, string>();
    for (const s of detail.series) {
      const uid = representative(actions.instances("series", s.seriesInstanceUid));
      if (uid) thumbs.set(s.seriesInstanceUid, uid);
    }
    return c.html(
      studyPage(ae(), detail, { thumbs, rights: rightsOf(c, deps.config()), extra }),
    );
  });
  app.post("/studies/:uid/forward", async (c) => {
    const fwd = deps.forwarding;
    if (!fwd) return fail(c, 404, "forwarding is not available");
    const form = await c.req.parseBody();
    const destination = String(form.destination ?? "");
    const study = c.req.param("uid");
    if (!catalog.getStudy(study)) return fail(c, 404, "no such study");
    const r = fwd.forwardStudy(study, destination);
    if (!r) return fail(c, 400, "the destination is not a known AE");
    return c.html(
      forwardPage(
        ae(),
        fwd.view(),
        `${r.queued} of ${r.instances} instance(s) queued for ${destination}`,
      ),
    );
  });
  app.get("/forward", (c) => {
    if (!deps.forwarding) return fail(c, 404, "forwarding is not available");
    return c.html(forwardPage(ae(), deps.forwarding.view()));
  });
  app.post("/forward/:ae/retry", (c) => {
    if (!deps.forwarding) return fail(c, 404, "forwarding is not available");
    const n = deps.forwarding.retryFailed(c.req.param("ae"));
    return c.html(forwardPage(ae(), deps.forwarding.view(), `${n} failed object(s) queued again`));
  });
  if (deps.actions) {
    registerBrowseRoutes(app, { actions: deps.actions, catalog, config: deps.config, fail });
  }
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
      return c.json(catalog.searchStudies(searchFromParams(new URL(c.req.url).searchParams)));
    } catch (e) {
      if (!(e instanceof SearchError)) throw e;
      return fail(c, 400, e.message);
    }
  });
  app.get("/api/studies/:uid", (c) => {
    const detail = catalog.getStudy(c.req.param("uid"));
    return detail ? c.json(detail) : fail(c, 404, "no such study");
  });
  app.post("/api/peers/:ae/echo", async (c) => {
    const peer = findPeer(deps.config(), c.req.param("ae"));
    if (!peer) return fail(c, 404, "no such known AE");
    const result = await runEcho(peer);
    return c.json(result, result.ok ? 200 : 502);
  });

  if (deps.actions) {
    registerActionRoutes(app, {
      actions: deps.actions,
      config: deps.config,
      fail,
      study: (uid) => catalog.getStudy(uid),
    });
  }
  app.get("/api/forward", (c) => {
    if (!deps.forwarding) return fail(c, 404, "forwarding is not available");
    return c.json(deps.forwarding.view());
  });
  app.post("/api/forward", async (c) => {
    if (!deps.forwarding) return fail(c, 404, "forwarding is not available");
    const body = await c.req.json().catch(() => null) as Record<string, unknown> | null;
    const study = typeof body?.study === "string" ? body.study : "";
    const destination = typeof body?.destination === "string" ? body.destination : "";
    if (!study || !destination) return fail(c, 400, 'give "study" and "destination"');
    if (!catalog.getStudy(study)) return fail(c, 404, "no such study");
    const r = deps.forwarding.forwardStudy(study, destination);
    return r ? c.json(r) : fail(c, 400, "the destination is not a known AE");
  });
  app.post("/api/forward/:ae/retry", (c) => {
    if (!deps.forwarding) return fail(c, 404, "forwarding is not available");
    return c.json({ queued: deps.forwarding.retryFailed(c.req.param("ae")) });
  });

  // ---- DICOMweb (PS3.18) ----
  const dicomWeb = deps.dicomweb && deps.config().dicomweb.enabled
    ? createDicomWeb({
      config: deps.config,
      logger: deps.logger,
      audit: deps.audit,
      ...deps.dicomweb,
    })
    : null;
  if (dicomWeb) app.route(deps.config().dicomweb.path, dicomWeb.app);
  // The OHIF viewer ([viewer] ohif_path), cross-origin isolated for its workers.
  if (viewerOn()) {
    app.use(`${VIEWER_PATH}/*`, async (c, next) => {
      await next();
      c.header("Cross-Origin-Opener-Policy", "same-origin");
      c.header("Cross-Origin-Embedder-Policy", "require-corp");
    });
    app.get(VIEWER_PATH, (c) => c.redirect(`${VIEWER_PATH}/`));
    app.route(VIEWER_PATH, createViewer(deps.config));
  }

  // ---- operations ----
  app.get("/metrics", async (c) => {
    const config = deps.config();
    const [free, indexFileBytes] = await Promise.all([
      deps.storage.freeBytes().catch(() => null),
      indexSize(deps.storage.root),
    ]);
    const text = renderMetrics({
      stats: deps.stats,
      totals: catalog.totals(deps.stats.storesAnswered),
      indexFileBytes,
      freeBytes: free,
      minFreeBytes: config.storage.minFreeMb * 1024 * 1024,
      pendingObjects: deps.storage.backlog?.objects ?? 0,
      memory: Deno.memoryUsage(),
    }) + (deps.forwarding ? forwardMetrics(deps.forwarding.view()) : "") +
      (deps.commitmentPending ? commitmentMetrics(deps.commitmentPending()) : "");
    return c.body(text, 200, { "Content-Type": METRICS_CONTENT_TYPE });
  });
  app.get("/healthz", async (c) => {
    const health = await checkHealth({
      storage: deps.storage,
      catalog,
      minFreeBytes: deps.config().storage.minFreeMb * 1024 * 1024,
      logger: deps.logger,
    });
    // How much waits in the journal for its home files (and whether a full disk holds it).
    const backlog = deps.storage.backlog;
    const journal = {
      pending_objects: backlog?.objects ?? 0,
      pending_bytes: backlog?.bytes ?? 0,
      disk_full: backlog?.diskFull ?? false,
    };
    return c.json(
      { status: health.ok ? "ok" : "fail", checks: health.checks, journal },
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

  return {
    app,
    close: () => {
      catalog.close();
      dicomWeb?.close();
    },
  };
}

/**
 * The Peers page's C-ECHO: as our AE title, over TLS to a peer with tls = true (as C-MOVE and
 * forwarding reach it), times rounded to 0.01 ms.
 */
async function echoKnownAe(
  config: Config,
  peer: KnownAe,
  logger: Logger,
  tls: Connector | null,
): Promise<EchoResult> {
  const connector = connectorFor(peer, tcpConnector, tls);
  const r = await echoScu({
    connector,
    peer,
    callingAeTitle: config.server.aeTitle,
    identity: config.server,
    timeoutMs: ECHO_TIMEOUT_MS,
    logger,
  });
  const round = (ms: number | null) => ms === null ? null : Math.round(ms * 100) / 100;
  return { ...r, roundTripMs: round(r.roundTripMs), setupMs: round(r.setupMs) };
}

/** The known AE a page names (config.ts trims every AE title it reads). */
function findPeer(config: Config, ae: string): KnownAe | undefined {
  const wanted = ae.trim();
  return config.knownAe.find((k) => k.aeTitle === wanted);
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
