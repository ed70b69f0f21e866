// The audit records of DICOMweb (PS3.15 A.5.3), with the same fields as their DIMSE
// counterparts: each QIDO-RS search a "Query" (as C-FIND), each WADO-RS retrieve a "DICOM
// Instances Transferred" with action R (as C-GET: the instances go to the requester). The
// requester is the HTTP user ("anonymous" when nobody logs in). STOW-RS stores are recorded
// per object by the store itself (app/audit.ts), as C-STOREs are.
import type { Context, MiddlewareHandler } from "hono";
import type { AuditRecord, AuditTrail, EventOutcomeIndicator } from "../../core/audit.ts";
import { httpUserOf } from "../security.ts";

/** The requester recorded when nobody logs in (no [[http.users]]). */
export const ANONYMOUS = "anonymous";

/** How many matches or instances a request had, noted by its handler. */
const counts = new WeakMap<Request, number>();

/** Notes the number of matches (QIDO) or instances (WADO) of this request. */
export function noteCount(c: Context, n: number): void {
  counts.set(c.req.raw, n);
}

/** The requester of a request: the HTTP user, or "anonymous". */
export function requesterOf(c: Context): string {
  return httpUserOf(c.req.raw) ?? ANONYMOUS;
}

/** The peer address of a request ("host:port"), when the server gave it. */
export function remoteOf(c: Context): string | undefined {
  const addr = (c.env as { remoteAddr?: { hostname?: string; port?: number } } | undefined)
    ?.remoteAddr;
  return addr?.hostname ? `${addr.hostname}:${addr.port}` : undefined;
}

function outcomeOf(status: number): EventOutcomeIndicator {
  if (status < 400) return 0;
  return status >= 500 ? 8 : 4;
}

/** The UIDs a DICOMweb path names (/studies/{uid}/series/{uid}/instances/{uid}). */
function uidsOf(path: string) {
  const at = (name: string) => {
    const m = new RegExp(`/${name}/([0-9.]{1,64})(?:/|$)`).exec(path);
    return m?.[1];
  };
  return {
    StudyInstanceUID: at("studies"),
    SeriesInstanceUID: at("series"),
    SOPInstanceUID: at("instances"),
  };
}

const DICOMWEB_RESOURCE = /\/(studies|series|instances)(\/|$)/;
const SEARCH = /\/(studies|series|instances)$/;
const WADO_RESOURCE = /\/(metadata|rendered|thumbnail)$|\/(frames|bulk)\//;

/**
 * Records each GET under the DICOMweb root once its answer is ready (for a streamed
 * retrieve: when the first bytes go out).
 */
export function dicomWebAudit(audit: () => AuditTrail | undefined): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const trail = audit();
    if (!trail || c.req.method !== "GET") return;
    const path = c.req.path;
    if (!DICOMWEB_RESOURCE.test(path)) return; // not a DICOMweb resource: nothing was read
    const status = c.res.status;
    const base: Pick<
      AuditRecord,
      "EventOutcomeIndicator" | "EventOutcomeDescription" | "UserID" | "NetworkAccessPointID"
    > = {
      EventOutcomeIndicator: outcomeOf(status),
      EventOutcomeDescription: status < 400 ? undefined : `HTTP ${status}`,
      UserID: requesterOf(c),
      NetworkAccessPointID: remoteOf(c),
    };
    const count = counts.get(c.req.raw);
    const uids = uidsOf(path);
    if (SEARCH.test(path)) {
      const keys: Record<string, string> = {};
      if (uids.StudyInstanceUID) keys.StudyInstanceUID = uids.StudyInstanceUID;
      if (uids.SeriesInstanceUID) keys.SeriesInstanceUID = uids.SeriesInstanceUID;
      for (const [k, v] of new URL(c.req.url).searchParams) {
        keys[k] = k in keys ? `${keys[k]},${v}` : v;
      }
      trail.record({
        EventID: "Query",
        EventActionCode: "E",
        EventTypeCode: "QIDO-RS",
        ...base,
        QueryKeys: keys,
        QueryLevel: SEARCH.exec(path)![1],
        NumberOfMatches: status === 204 ? 0 : count,
      });
      return;
    }
    const m = WADO_RESOURCE.exec(path);
    trail.record({
      EventID: "DICOM Instances Transferred",
      EventActionCode: "R",
      EventTypeCode: "WADO-RS",
      ...base,
      DestinationUserID: base.UserID,
      ...uids,
      Resource: m ? (m[1] ?? m[2]) : "instances",
      NumberOfInstances: status < 400 ? count : undefined,
    });
  };
}
