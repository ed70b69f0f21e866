// Routes of the browsing pages: series instance lists, instance pages with preview and tags,
// thumbnails and previews as images, and the confirm-then-act pages of send and delete.
import type { Context, Hono } from "hono";
import type { Config, KnownAe } from "../config.ts";
import type { Catalog } from "../storage/catalog.ts";
import type { EntityInstance } from "../storage/entity_instances.ts";
import { dumpOf, type WebActions } from "./actions.ts";
import {
  confirmPage,
  type EntityKind,
  instancePage,
  type PageRights,
  resultPage,
  seriesPage,
} from "./browse_pages.ts";
import { placeholderSvg, renderPreview, WINDOW_PRESETS } from "./preview.ts";
import { roleOf } from "./security.ts";
import { webRequester } from "./send_routes.ts";

export interface BrowseDeps {
  actions: WebActions;
  catalog: Catalog;
  config(): Config;
  fail(c: Context, status: 400 | 404 | 413 | 502, message: string): Response | Promise<Response>;
}

const LEVEL = { studies: "study", series: "series", instances: "instance" } as const;
/** Objects larger than this get no preview (it reads the whole object). */
const MAX_PREVIEW_BYTES = 256 * 1024 * 1024;
const THUMB_SIZE = 128;
const PREVIEW_SIZE = 2048;

/** What the requesting user may do on the pages. */
export function rightsOf(c: Context, config: Config): PageRights {
  return {
    admin: roleOf(c, config.http.users) === "admin",
    knownAe: config.knownAe,
    viewer: config.viewer.ohifPath !== "",
  };
}

/** Admin-only requests: anything that changes something, and the pages leading to it. */
export function isAdminPath(method: string, path: string): boolean {
  if (method !== "GET" && method !== "HEAD") return true;
  return /^\/(peers|config|sends)$/.test(path) || /^\/(api\/)?sends(\/[^/]+)?$/.test(path) ||
    /^\/(studies|series|instances)\/[^/]+\/(send|delete)$/.test(path);
}

/** The instance of a series shown as its thumbnail: the middle one. */
export function representative(instances: readonly EntityInstance[]): string | undefined {
  return instances[Math.floor(instances.length / 2)]?.sopInstanceUid;
}

export function registerBrowseRoutes(app: Hono, deps: BrowseDeps): void {
  const ae = () => deps.config().server.aeTitle;
  const kindOf = (c: Context) => c.req.param("kind") as EntityKind;

  /** One line naming what an action is about, for the confirmation page. */
  const labelOf = (kind: EntityKind, instances: readonly EntityInstance[]): string => {
    const i = instances[0];
    const study = deps.catalog.getStudy(i.studyInstanceUid)?.study;
    const who = study ? `${study.patientName.replace(/\^/g, ", ")} (${study.patientId})` : "";
    const what = kind === "studies"
      ? `study ${study?.studyDescription || i.studyInstanceUid}`
      : kind === "series"
      ? `series ${i.seriesInstanceUid}`
      : `instance ${i.sopInstanceUid}`;
    return `${who} · ${what}`;
  };

  app.get("/series/:uid", (c) => {
    const uid = c.req.param("uid");
    const instances = deps.actions.instances("series", uid);
    if (instances.length === 0) return deps.fail(c, 404, "no such series");
    const detail = deps.catalog.getStudy(instances[0].studyInstanceUid);
    const series = detail?.series.find((s) => s.seriesInstanceUid === uid);
    if (!detail || !series) return deps.fail(c, 404, "no such series");
    return c.html(seriesPage(ae(), detail.study, series, instances, rightsOf(c, deps.config())));
  });

  app.get("/instances/:uid", async (c) => {
    const uid = c.req.param("uid");
    const instance = deps.actions.instances("instance", uid)[0];
    if (!instance) return deps.fail(c, 404, "no such instance");
    const dump = await dumpOf(deps.actions, uid) ?? { error: "no longer stored" };
    const preset = c.req.query("window") ?? "file";
    return c.html(instancePage(ae(), instance, dump, preset, rightsOf(c, deps.config())));
  });

  const image = async (c: Context, size: number) => {
    const uid = c.req.param("uid") ?? "";
    const stored = await deps.actions.readObject(uid);
    if (!stored) return deps.fail(c, 404, "no such instance");
    let preview;
    if (stored.length > MAX_PREVIEW_BYTES) {
      await stored.stream.cancel();
      preview = { kind: "none" as const, reason: "too large to preview" };
    } else {
      const bytes = await stored.readAll!(new Uint8Array(stored.length));
      const key = c.req.query("window") ?? "file";
      const preset = WINDOW_PRESETS.find(([n]) => n.toLowerCase().replace(/ /g, "-") === key);
      preview = await renderPreview(bytes, {
        maxSize: size,
        window: preset ? { center: preset[1], width: preset[2] } : undefined,
        fullRange: key === "full",
      });
    }
    c.header("Cache-Control", "private, max-age=60");
    if (preview.kind === "png") {
      return c.body(new Uint8Array(preview.png), 200, { "Content-Type": "image/png" });
    }
    return c.body(placeholderSvg(preview.reason, Math.min(size, 256)), 200, {
      "Content-Type": "image/svg+xml",
    });
  };
  app.get("/instances/:uid/thumbnail", (c) => image(c, THUMB_SIZE));
  app.get("/instances/:uid/preview", (c) => image(c, PREVIEW_SIZE));

  const destinationOf = (value: unknown): KnownAe | undefined => {
    const wanted = typeof value === "string" ? value.trim() : "";
    return deps.config().knownAe.find((k) => k.aeTitle === wanted && wanted !== "");
  };

  app.get("/:kind{studies|series|instances}/:uid/:action{delete|send}", (c) => {
    const kind = kindOf(c);
    const uid = c.req.param("uid");
    const action = c.req.param("action") as "delete" | "send";
    const instances = deps.actions.instances(LEVEL[kind], uid);
    if (instances.length === 0) return deps.fail(c, 404, `no such ${LEVEL[kind]}`);
    const destination = action === "send" ? destinationOf(c.req.query("destination")) : undefined;
    if (action === "send" && !destination) return deps.fail(c, 400, "no such known AE");
    return c.html(confirmPage(ae(), {
      action,
      kind,
      uid,
      label: labelOf(kind, instances),
      instances: instances.length,
      destination,
    }));
  });

  app.post("/:kind{studies|series|instances}/:uid/delete", async (c) => {
    const kind = kindOf(c);
    const uid = c.req.param("uid");
    const instances = deps.actions.instances(LEVEL[kind], uid);
    if (instances.length === 0) return deps.fail(c, 404, `no such ${LEVEL[kind]}`);
    const studyUid = instances[0].studyInstanceUid;
    const r = await deps.actions.delete(LEVEL[kind], uid, webRequester(c));
    const studyLeft = kind !== "studies" && deps.catalog.getStudy(studyUid) !== null;
    return c.html(resultPage(ae(), {
      ok: r.instances > 0,
      title: `${LEVEL[kind][0].toUpperCase()}${LEVEL[kind].slice(1)} deleted`,
      message: `Deleted ${r.instances} instance${
        r.instances === 1 ? "" : "s"
      } from the index and the disk.`,
      back: studyLeft ? `/studies/${studyUid}` : "/studies",
      backLabel: studyLeft ? "Back to the study" : "Back to the studies",
    }));
  });
}
