// QIDO-RS search routes (PS3.18 10.6): the request becomes the C-FIND Query (core/query/
// qido.ts), the same index answers it, in a stable order so that pages neither repeat nor
// skip; 200 with a DICOM JSON array, 204 when nothing matches, 400 with the reason.
import { noteCount } from "./audit.ts";
import type { Context } from "hono";
import { elementsMatch } from "../../core/query/matching.ts";
import {
  parseQido,
  QidoError,
  type QidoQuery,
  type QidoResource,
  qidoResult,
} from "../../core/query/qido.ts";
import type { FileAttributes } from "../../core/query/response.ts";
import type { DicomWebContext } from "./context.ts";

export const DICOM_JSON = "application/dicom+json";

/** Answers a QIDO-RS search at `resource`, scoped by the path's UIDs. */
export async function search(
  c: Context,
  ctx: DicomWebContext,
  resource: QidoResource,
): Promise<Response> {
  const accept = c.req.header("Accept") ?? "";
  if (!acceptsJson(accept)) {
    return ctx.problem(c, 406, `search results are ${DICOM_JSON} only`);
  }
  const url = new URL(c.req.url);
  let q: QidoQuery;
  try {
    q = parseQido({
      resource,
      studyInstanceUid: c.req.param("study"),
      seriesInstanceUid: c.req.param("series"),
      params: url.searchParams.entries(),
    }, { caseInsensitivePn: ctx.config().query.caseInsensitivePn });
  } catch (e) {
    if (e instanceof QidoError) return ctx.problem(c, 400, e.message);
    throw e;
  }
  const root = ctx.rootUrl(c);
  const max = ctx.config().query.maxResults;
  const limit = q.limit ?? (max > 0 ? max : undefined);
  const out: string[] = [];
  let skipped = 0;
  let more = false;
  const controller = new AbortController();
  try {
    for await (const row of ctx.queryIndex.find(q.query, controller.signal, { ordered: true })) {
      let file: FileAttributes | undefined;
      if (q.query.fileTags.length) {
        file = (await ctx.queryIndex.readAttributes(row.sopInstanceUid, q.query.fileTags)) ??
          undefined;
        if (
          q.query.fileMatches.length &&
          (!file || !elementsMatch(q.query.fileMatches, file.elements, file.specificCharacterSet))
        ) continue;
      }
      if (skipped < q.offset) {
        skipped++;
        continue;
      }
      if (limit !== undefined && out.length >= limit) {
        more = true;
        break;
      }
      out.push(JSON.stringify(qidoResult(q, row, file, retrieveUrl(root, resource, row))));
    }
  } finally {
    controller.abort();
  }
  const headers: Record<string, string> = {};
  const warnings: string[] = [];
  if (q.ignoredKeys.length) {
    warnings.push(`299 MiniPACS "not matched (universal matching): ${q.ignoredKeys.join(",")}"`);
  }
  if (more && q.limit === undefined) {
    warnings.push(`299 MiniPACS "There are additional results that can be requested"`);
  }
  if (warnings.length) headers["Warning"] = warnings.join(", ");
  noteCount(c, out.length);
  if (out.length === 0) return c.body(null, 204, headers);
  return c.body(`[${out.join(",")}]`, 200, {
    ...headers,
    "Content-Type": `${DICOM_JSON}; charset=utf-8`,
  });
}

function acceptsJson(accept: string): boolean {
  if (accept.trim() === "") return true;
  return accept.split(",").some((r) => {
    const t = r.split(";")[0].trim().toLowerCase();
    return t === DICOM_JSON || t === "application/json" || t === "*/*" || t === "application/*";
  });
}

function retrieveUrl(
  root: string,
  resource: QidoResource,
  row: Readonly<Record<string, string>>,
): string {
  const study = `${root}/studies/${row.studyInstanceUid}`;
  if (resource === "studies") return study;
  const series = `${study}/series/${row.seriesInstanceUid}`;
  if (resource === "series") return series;
  return `${series}/instances/${row.sopInstanceUid}`;
}
