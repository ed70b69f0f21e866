// The state-changing and download routes of the JSON API: delete, send to a known AE, download
// as ZIP, and the tag dump of an instance. The work is done behind WebActions (src/actions.ts);
// here are the HTTP shapes, the checks and the answers.
import type { Context, Hono } from "hono";
import type { Config, KnownAe } from "../config.ts";
import { type DicomDump, dumpPart10, dumpText } from "../core/dicom/dump.ts";
import type { StoredObjectStream } from "../core/ports.ts";
import type { SendResult } from "../core/services/send.ts";
import type { DeleteLevel, DeleteResult } from "../storage/delete.ts";
import type { EntityInstance } from "../storage/entity_instances.ts";
import type { Requester, SendJobs } from "./send_jobs.ts";
import { registerSendRoutes, webRequester } from "./send_routes.ts";
import { zipStream } from "./zip.ts";
import { fileSetEntries } from "./archive.ts";
import type { StudyDetail } from "../storage/catalog.ts";

export type { DeleteLevel } from "../storage/delete.ts";
export type { Requester } from "./send_jobs.ts";

/** What the routes need done (built from the running server in src/actions.ts). */
export interface WebActions {
  /** The instances of a study, a series or one instance; empty when unknown. */
  instances(level: DeleteLevel, uid: string): EntityInstance[];
  /** A stored object's Part 10 bytes; null when gone. */
  readObject(sopInstanceUid: string): Promise<StoredObjectStream | null>;
  /** Deletes from the index and the disk (crash-safe); `by`: who asked, for the log and audit. */
  delete(level: DeleteLevel, uid: string, by: Requester): Promise<DeleteResult>;
  /** C-STORE of the instances to a known AE over a new association; progress per instance. */
  send(
    level: DeleteLevel,
    uid: string,
    destination: KnownAe,
    by: Requester,
    onProgress?: (r: SendResult) => void,
  ): Promise<SendResult>;
}

export interface ActionRouteDeps {
  actions: WebActions;
  config(): Config;
  fail(c: Context, status: 400 | 404 | 413 | 502, message: string): Response | Promise<Response>;
  /** The patient, study and series keys of a study, for the DICOMDIR of a download. */
  study?(studyInstanceUid: string): StudyDetail | null;
  /** The running and recent sends (created here when not given). */
  sends?: SendJobs;
}

const PLURAL: Record<string, DeleteLevel> = {
  studies: "study",
  series: "series",
  instances: "instance",
};

/** The bytes of a stored object up to Pixel Data (at most `max`), and its whole length. */
async function readHead(
  stored: StoredObjectStream,
  max: number,
): Promise<{ head: Uint8Array; total: number }> {
  const reader = stored.stream.getReader();
  const parts: Uint8Array[] = [];
  let have = 0;
  try {
    while (have < max) { // each read adds a chunk or ends
      const r = await reader.read();
      if (r.done) break;
      parts.push(r.value);
      have += r.value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const head = new Uint8Array(have);
  let at = 0;
  for (const p of parts) {
    head.set(p, at);
    at += p.length;
  }
  return { head, total: stored.length };
}

/** Headers larger than this are dumped as far as they go. */
const DUMP_HEAD_BYTES = 4 * 1024 * 1024;

/** The tag dump of a stored instance; null when it is not stored. */
export async function dumpOf(
  actions: Pick<WebActions, "readObject">,
  uid: string,
): Promise<DicomDump | { error: string } | null> {
  const stored = await actions.readObject(uid);
  if (!stored) return null;
  const { head, total } = await readHead(stored, Math.min(stored.length, DUMP_HEAD_BYTES));
  try {
    return dumpPart10(head, total);
  } catch (e) {
    return { error: `cannot read the stored object: ${(e as Error).message}` };
  }
}

export function registerActionRoutes(app: Hono, deps: ActionRouteDeps): SendJobs {
  const { actions } = deps;
  const sends = registerSendRoutes(app, deps);
  const levelOf = (c: Context) => PLURAL[c.req.param("kind") ?? ""];

  app.delete("/api/:kind{studies|series|instances}/:uid", async (c) => {
    const level = levelOf(c);
    const uid = c.req.param("uid");
    const result = await actions.delete(level, uid, webRequester(c));
    if (result.instances === 0) return deps.fail(c, 404, `no such ${level}`);
    return c.json({
      deleted: level,
      uid,
      instances: result.instances,
      bytes: result.bytes,
      studies: result.studies,
    });
  });

  app.get("/api/:kind{studies|series}/:uid/archive", (c) => {
    const level = levelOf(c);
    const uid = c.req.param("uid");
    const instances = actions.instances(level, uid);
    if (instances.length === 0) return deps.fail(c, 404, `no such ${level}`);
    const s = deps.config().server;
    const stream = zipStream(fileSetEntries(instances, {
      open: async (sop) => (await actions.readObject(sop))?.stream ?? null,
      study: (study) => deps.study?.(study) ?? null,
      sopInstanceUid: `2.25.${BigInt(`0x${crypto.randomUUID().replace(/-/g, "")}`)}`,
      implementationClassUid: s.implementationClassUid,
      implementationVersionName: s.implementationVersionName,
      fileSetId: s.aeTitle.toUpperCase().replace(/[^A-Z0-9_ ]/g, "_"),
    }));
    const name = `${level}-${uid.replace(/[^0-9A-Za-z.]/g, "_").slice(0, 64)}.zip`;
    return c.body(stream, 200, {
      "Content-Type": "application/zip",
      "Content-Disposition": `attachment; filename="${name}"`,
    });
  });

  app.get("/api/instances/:uid/file", async (c) => {
    const uid = c.req.param("uid");
    const stored = await actions.readObject(uid);
    if (!stored) return deps.fail(c, 404, "no such instance");
    const name = `${uid.replace(/[^0-9A-Za-z.]/g, "_").slice(0, 64)}.dcm`;
    return c.body(stored.stream, 200, {
      "Content-Type": "application/dicom",
      "Content-Length": String(stored.length),
      "Content-Disposition": `attachment; filename="${name}"`,
    });
  });

  app.get("/api/instances/:uid/tags", async (c) => {
    const uid = c.req.param("uid");
    const dump = await dumpOf(actions, uid);
    if (!dump) return deps.fail(c, 404, "no such instance");
    if ("error" in dump) return deps.fail(c, 400, dump.error);
    if (c.req.query("format") === "text") {
      return c.body(dumpText(dump), 200, { "Content-Type": "text/plain; charset=utf-8" });
    }
    return c.json({ sopInstanceUid: uid, ...dump });
  });
  return sends;
}
