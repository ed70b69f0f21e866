// The DICOMweb service (PS3.18) under `[dicomweb] path`: QIDO-RS searches, WADO-RS retrieval,
// STOW-RS storage; and its CORS answers for the origins of `[dicomweb] cors_origins`.
import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { Config } from "../../config.ts";
import type { Logger } from "../../core/ports.ts";
import { DicomWebIndex } from "../../storage/dicomweb_db.ts";
import type { IndexReader } from "../../storage/index_db.ts";
import { InstanceMetadataStore } from "../../storage/instance_metadata.ts";
import { SqliteQueryIndex } from "../../storage/query_db.ts";
import type { AuditTrail } from "../../core/audit.ts";
import { dicomWebAudit } from "./audit.ts";
import type { DicomWebContext } from "./context.ts";
import type { ObjectSource } from "./instances.ts";
import { MetadataBuilder } from "./metadata_builder.ts";
import { search } from "./qido.ts";
import { ResponseCache } from "./response_cache.ts";
import { type StowDeps, stowRoute } from "./stow.ts";
import { bulk, frames, metadata, rendered, retrieve } from "./wado.ts";

export interface DicomWebDeps {
  config(): Config;
  logger: Logger;
  /** The storage folder (stored headers, the metadata cache) and index.sqlite readers. */
  root: string;
  openReader(): IndexReader;
  objects: ObjectSource;
  /** The audit trail: each QIDO-RS search and WADO-RS retrieve is recorded there. */
  audit?: AuditTrail;
  /** STOW-RS: where objects are stored (absent: POST answers 503). */
  stow?: StowDeps;
}

export interface DicomWebService {
  app: Hono;
  close(): void;
}

export function createDicomWeb(deps: DicomWebDeps): DicomWebService {
  const metadataStore = InstanceMetadataStore.open(deps.root); // before the index attaches it
  const index = new DicomWebIndex(() => deps.openReader(), deps.root);
  const queryIndex = new SqliteQueryIndex({ openReader: () => deps.openReader(), root: deps.root });
  const builder = new MetadataBuilder({
    index: new DicomWebIndex(() => deps.openReader(), deps.root),
    store: metadataStore,
    objects: deps.objects,
    logger: deps.logger,
  });
  const ctx: DicomWebContext = {
    config: deps.config,
    logger: deps.logger,
    queryIndex,
    index,
    objects: deps.objects,
    metadataStore,
    responses: new ResponseCache(),
    rootUrl: (c: Context) => new URL(c.req.url).origin + deps.config().dicomweb.path,
    problem: (c, status, reason) => {
      if (status >= 500) {
        deps.logger.log("warn", "DICOMweb request failed", { path: c.req.path, reason });
      }
      return c.text(`${reason}\n`, status);
    },
  };
  const app = new Hono();
  app.use(dicomWebAudit(() => deps.audit));
  // Searches
  app.get("/studies", (c) => search(c, ctx, "studies"));
  app.get("/series", (c) => search(c, ctx, "series"));
  app.get("/instances", (c) => search(c, ctx, "instances"));
  app.get("/studies/:study/series", (c) => search(c, ctx, "series"));
  app.get("/studies/:study/instances", (c) => search(c, ctx, "instances"));
  app.get("/studies/:study/series/:series/instances", (c) => search(c, ctx, "instances"));
  // Retrieval
  const levels = [
    "/studies/:study",
    "/studies/:study/series/:series",
    "/studies/:study/series/:series/instances/:instance",
  ];
  for (const level of levels) {
    app.get(level, (c) => retrieve(c, ctx));
    app.get(`${level}/metadata`, (c) => metadata(c, ctx));
    app.get(`${level}/rendered`, (c) => rendered(c, ctx, false));
    app.get(`${level}/thumbnail`, (c) => rendered(c, ctx, true));
  }
  const instance = levels[2];
  app.get(`${instance}/frames/:frames`, (c) => frames(c, ctx));
  app.get(`${instance}/frames/:frames/rendered`, (c) => rendered(c, ctx, false));
  app.get(`${instance}/frames/:frames/thumbnail`, (c) => rendered(c, ctx, true));
  app.get(`${instance}/bulk/:path{.+}`, (c) => bulk(c, ctx));
  // Storage
  app.post("/studies", (c) => stowRoute(c, ctx, deps.stow));
  app.post("/studies/:study", (c) => stowRoute(c, ctx, deps.stow));
  app.notFound((c) => c.text("not a DICOMweb resource\n", 404));
  return {
    app,
    close: () => {
      builder.close();
      index.close();
      queryIndex.close();
      metadataStore.close();
    },
  };
}

const ALLOWED_METHODS = "GET, HEAD, POST, OPTIONS";
const ALLOWED_HEADERS = "Authorization, Accept, Content-Type";
const EXPOSED_HEADERS = "Content-Type, Content-Length, Content-Location, Warning";

/**
 * CORS for the DICOMweb path (Fetch standard, CORS protocol): preflights answered before any
 * login is asked for; listed origins may send credentials, "*" lets any page read without
 * them. Cross-Origin-Resource-Policy lets pages with COEP use the answers.
 */
export function dicomWebCors(config: () => Config): MiddlewareHandler {
  return async (c, next) => {
    const dw = config().dicomweb;
    const path = c.req.path;
    if (!dw.enabled || !(path === dw.path || path.startsWith(`${dw.path}/`))) return await next();
    const origin = c.req.header("Origin");
    const listed = origin !== undefined && dw.corsOrigins.includes(origin.toLowerCase());
    const any = dw.corsOrigins.includes("*");
    const setCors = (headers: Headers) => {
      if (listed) {
        headers.set("Access-Control-Allow-Origin", origin!);
        headers.set("Access-Control-Allow-Credentials", "true");
      } else if (any) headers.set("Access-Control-Allow-Origin", "*");
      headers.append("Vary", "Origin");
    };
    if (c.req.method === "OPTIONS") {
      const headers = new Headers({ Allow: ALLOWED_METHODS });
      if (origin !== undefined && (listed || any)) {
        setCors(headers);
        headers.set("Access-Control-Allow-Methods", ALLOWED_METHODS);
        headers.set(
          "Access-Control-Allow-Headers",
          c.req.header("Access-Control-Request-Headers") ?? ALLOWED_HEADERS,
        );
        headers.set("Access-Control-Max-Age", "600");
      }
      return new Response(null, { status: 204, headers });
    }
    await next();
    if (origin !== undefined && (listed || any)) {
      setCors(c.res.headers);
      c.res.headers.set("Access-Control-Expose-Headers", EXPOSED_HEADERS);
    }
    c.res.headers.set(
      "Cross-Origin-Resource-Policy",
      dw.corsOrigins.length ? "cross-origin" : "same-origin",
    );
  };
}

/** True when a POST from `origin` to `path` is a STOW-RS call from an allowed origin. */
export function corsPostAllowed(config: Config, origin: string, path: string): boolean {
  const dw = config.dicomweb;
  if (!dw.enabled || !(path === dw.path || path.startsWith(`${dw.path}/`))) return false;
  return dw.corsOrigins.includes("*") || dw.corsOrigins.includes(origin.toLowerCase());
}
