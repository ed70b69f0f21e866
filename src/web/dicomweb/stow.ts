// STOW-RS (PS3.18 10.5): a multipart/related; type="application/dicom" request, each part a
// Part 10 object, stored by the C-STORE service itself: the same acceptance rules (storage
// classes, transfer syntaxes, min_free_mb, duplicates), the same journal, the same "only once
// durable" answer. Each part streams from the request into the journal; the request is one
// pseudo-association with its own journal segment.
import { requesterOf } from "./audit.ts";
import type { Context } from "hono";
import {
  type DataElement,
  decodeDatasetPart,
  encodingOf,
  findElement,
  textOf,
} from "../../core/dicom/dataset.ts";
import { decodeFileMetaInformation, DicomError, type FileMeta } from "../../core/dicom/part10.ts";
import { TRANSFER_SYNTAXES } from "../../core/dicom/transfer_syntaxes.ts";
import { trimUid } from "../../core/dicom/uid.ts";
import { CommandField, DATASET_PRESENT } from "../../core/dimse/command.ts";
import { DatasetStream } from "../../core/dimse/dataset_stream.ts";
import { Status, statusCategory } from "../../core/dimse/status.ts";
import type { DicomJsonDataset } from "../../core/dicom/dicom_json.ts";
import { isValidUid } from "../../core/query/qido.ts";
import type { DimseService, ServiceContext } from "../../core/dimse/service_contract.ts";
import type { DicomWebContext } from "./context.ts";
import { parseMediaType } from "./media_type.ts";
import { MultipartError, readMultipart } from "./multipart.ts";
import { DICOM_JSON } from "./qido.ts";

export interface StowDeps {
  /** The C-STORE service (StorageService): its syntaxes() say what is accepted. */
  storage: DimseService;
  /** Ends the pseudo-association: its journal segment takes no more records. */
  endAssociation(assocId: string): Promise<void>;
  /** Our AE title (the called AE of the pseudo-association, for logs). */
  aeTitle(): string;
}

/** Calling AE title that STOW-RS stores carry (file meta Source AE, logs). */
export const STOW_CALLING_AE = "STOW-RS";

/** Bytes of a part read ahead to find its file meta and Study Instance UID. */
const MAX_LOOKAHEAD = 4 * 1024 * 1024;
const STUDY_UID = 0x0020000d;
const SERIES_UID = 0x0020000e;

interface PartResult {
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  status: number;
  comment?: string;
}

let nextStow = 1;

/** POST {root}/studies[/{study}] (PS3.18 10.5.1). */
export async function stowRoute(
  c: Context,
  ctx: DicomWebContext,
  deps: StowDeps | undefined,
): Promise<Response> {
  const targetStudy = c.req.param("study");
  if (targetStudy !== undefined && !isValidUid(targetStudy)) {
    return ctx.problem(c, 400, "malformed Study Instance UID in the path");
  }
  const contentType = parseMediaType(c.req.header("Content-Type") ?? "");
  const partType = (contentType.params.type ?? "").toLowerCase();
  if (contentType.type !== "multipart/related" || partType !== "application/dicom") {
    return ctx.problem(
      c,
      415,
      'STOW-RS takes multipart/related; type="application/dicom" (Part 10 objects)',
    );
  }
  if (!deps) return ctx.problem(c, 503, "storing is not available");
  const boundary = contentType.params.boundary;
  if (!boundary || boundary.length > 200) return ctx.problem(c, 400, "multipart boundary missing");
  const body = c.req.raw.body;
  if (!body) return ctx.problem(c, 400, "empty request");

  const assocId = `stow-${nextStow++}`;
  // Deno.serve hands the connection's info to the app as its environment.
  const addr = (c.env as { remoteAddr?: { hostname?: string; port?: number } } | undefined)
    ?.remoteAddr;
  const remote = addr?.hostname ? `${addr.hostname}:${addr.port}` : "http";
  const httpUser = requesterOf(c);
  const results: PartResult[] = [];
  let framing: string | undefined;
  const started = performance.now();
  try {
    for await (const part of readMultipart(requestBytes(body), boundary)) {
      results.push(await storePart(ctx, deps, assocId, remote, httpUser, part, targetStudy));
    }
  } catch (e) {
    if (e instanceof MultipartError) framing = e.message;
    else if (e instanceof RequestCutOff) framing = `request cut off: ${e.message}`;
    else throw e;
  } finally {
    await deps.endAssociation(assocId).catch((e) =>
      ctx.logger.log("error", "closing a STOW-RS journal segment failed", { error: String(e) })
    );
  }
  const stored = results.filter((r) => r.status === Status.Success || isWarning(r.status));
  ctx.logger.log(framing ? "warn" : "info", "STOW-RS request done", {
    assoc: assocId,
    parts: results.length,
    stored: stored.length,
    failed: results.length - stored.length,
    ms: (performance.now() - started).toFixed(1),
    ...(framing ? { error: framing } : {}),
  });
  if (framing !== undefined) {
    return ctx.problem(c, 400, `malformed multipart request: ${framing}`);
  }
  if (results.length === 0) return ctx.problem(c, 400, "the request holds no parts");
  const root = ctx.rootUrl(c);
  const json = responseBody(results, root, targetStudy);
  const status = stored.length === 0
    ? 409
    : stored.length < results.length || results.some((r) => isWarning(r.status))
    ? 202
    : 200;
  return c.body(JSON.stringify(json), status, { "Content-Type": `${DICOM_JSON}; charset=utf-8` });
}

/** The request body broke off (the client went away mid-request). */
class RequestCutOff extends Error {}

/** The request's bytes; an error reading them becomes RequestCutOff. */
async function* requestBytes(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      let next;
      try {
        next = await reader.read();
      } catch (e) {
        throw new RequestCutOff(e instanceof Error ? e.message : String(e));
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    reader.releaseLock();
  }
}

function isWarning(status: number): boolean {
  return statusCategory(status) === "warning";
}

/** Stores one part through the C-STORE service; never throws for a bad part. */
async function storePart(
  ctx: DicomWebContext,
  deps: StowDeps,
  assocId: string,
  remote: string,
  httpUser: string,
  part: { headers: Headers; body: AsyncIterable<Uint8Array> },
  targetStudy: string | undefined,
): Promise<PartResult> {
  const iterator = part.body[Symbol.asyncIterator]();
  const drain = async () => {
    for (;;) if ((await iterator.next()).done) return;
  };
  const type = parseMediaType(part.headers.get("Content-Type") ?? "application/dicom").type;
  if (type !== "application/dicom") {
    await drain();
    return {
      sopClassUid: "",
      sopInstanceUid: "",
      status: Status.CannotUnderstand,
      comment: `part is ${type}`,
    };
  }
  // Read ahead: the file meta, and the dataset as far as the Study Instance UID.
  const head: Uint8Array[] = [];
  let headBytes = 0;
  let meta: FileMeta | undefined;
  let datasetOffset = 0;
  let ids: { study?: string; series?: string } = {};
  let ended = false;
  for (;;) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
    } else {
      head.push(next.value.slice());
      headBytes += next.value.length;
    }
    const bytes = joined(head, headBytes);
    if (!meta) {
      try {
        ({ meta, datasetOffset } = decodeFileMetaInformation(bytes));
        if (datasetOffset >= bytes.length && !ended) meta = undefined; // group 0002 may go on
      } catch (e) {
        if (!(e instanceof DicomError)) throw e;
        const notPart10 = headBytes >= 132 &&
          !/^DICM/.test(String.fromCharCode(...bytes.subarray(128, 132)));
        if (ended || headBytes > MAX_LOOKAHEAD || notPart10) {
          if (!ended) await drain();
          return {
            sopClassUid: "",
            sopInstanceUid: "",
            status: Status.CannotUnderstand,
            comment: e.message,
          };
        }
        continue;
      }
    }
    if (meta) {
      const found = uidsOf(bytes.subarray(datasetOffset), meta.transferSyntaxUid, ended);
      if (found !== null || ended || headBytes > MAX_LOOKAHEAD) {
        ids = found ?? {};
        break;
      }
    }
    if (ended) break;
  }
  const sopClassUid = trimUid(meta!.sopClassUid);
  const sopInstanceUid = trimUid(meta!.sopInstanceUid);
  const transferSyntaxUid = trimUid(meta!.transferSyntaxUid);
  const study = ids.study;
  const result: PartResult = {
    sopClassUid,
    sopInstanceUid,
    status: Status.Success,
    studyInstanceUid: study,
    seriesInstanceUid: ids.series,
  };
  const refuse = async (status: number, comment: string) => {
    if (!ended) await drain();
    ctx.logger.log("warn", `STOW-RS part refused: ${comment}`, { assoc: assocId });
    return { ...result, status, comment };
  };
  let syntax;
  for (const s of deps.storage.syntaxes()) {
    if (s.abstractSyntax === sopClassUid) {
      syntax = s;
      break;
    }
  }
  if (!syntax) {
    return await refuse(Status.SopClassNotSupported, `SOP Class ${sopClassUid} not accepted`);
  }
  if (!syntax.acceptsTransferSyntax(transferSyntaxUid)) {
    return await refuse(0xc122, `transfer syntax ${transferSyntaxUid} not accepted`);
  }
  if (targetStudy !== undefined && study !== undefined && study !== targetStudy) {
    return await refuse(
      Status.DataSetDoesNotMatchSopClass,
      "Study Instance UID differs from the study in the request path",
    );
  }

  // The C-STORE service reads the dataset from a DatasetStream, with backpressure.
  const dataset = new DatasetStream();
  let response: { status: number; comment?: string } | undefined;
  const serviceContext: ServiceContext = {
    association: {
      id: assocId,
      callingAeTitle: STOW_CALLING_AE,
      calledAeTitle: deps.aeTitle(),
      remote,
      httpUser,
    },
    logger: ctx.logger,
    send: (command) => {
      response = {
        status: command.status ?? Status.ProcessingFailure,
        comment: command.errorComment,
      };
      return Promise.resolve();
    },
    cancelled: new AbortController().signal,
    contexts: () => [],
    request: () => Promise.reject(new Error("no sub-operations on a STOW-RS request")),
  };
  const handled = deps.storage.handle({
    context: {
      id: 1,
      abstractSyntax: sopClassUid,
      transferSyntax: transferSyntaxUid,
      requestorIsScu: true,
      requestorIsScp: false,
    },
    command: {
      commandField: CommandField.CStoreRq,
      commandDataSetType: DATASET_PRESENT,
      messageId: 1,
      affectedSopClassUid: sopClassUid,
      affectedSopInstanceUid: sopInstanceUid,
      priority: 0,
    },
    dataset,
  }, serviceContext);
  let cutOff: unknown;
  try {
    const rest = joined(head, headBytes).subarray(datasetOffset);
    if (rest.length) await dataset.push(rest);
    if (!ended) {
      for (;;) {
        const next = await iterator.next();
        if (next.done) break;
        await dataset.push(next.value);
      }
    }
    dataset.end();
  } catch (e) {
    // The request broke off inside this part: the service sees a cancelled dataset and
    // stores nothing of it.
    cutOff = e;
    dataset.cancel();
  }
  await handled;
  if (cutOff !== undefined) throw cutOff;
  const status = response?.status ?? Status.ProcessingFailure;
  return { ...result, status, comment: response?.comment };
}

function joined(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  parts.splice(0, parts.length, out);
  return out;
}

/**
 * The Study and Series Instance UIDs once the bytes reach them; null while they do not
 * (absent ones are undefined).
 */
function uidsOf(
  dataset: Uint8Array,
  transferSyntaxUid: string,
  complete: boolean,
): { study?: string; series?: string } | null {
  if (TRANSFER_SYNTAXES.get(transferSyntaxUid)?.deflated) return {}; // not checked before storing
  let elements: DataElement[];
  let stopped: boolean;
  try {
    const part = decodeDatasetPart(dataset, encodingOf(transferSyntaxUid), {
      stopAfterTag: SERIES_UID,
      allowTruncated: true,
    });
    elements = part.elements;
    stopped = part.stopped;
  } catch {
    return {}; // malformed: the service's own scan will say so
  }
  const uid = (tag: number) => {
    const el = findElement(elements, tag);
    return el ? trimUid(textOf(el, "")) : undefined;
  };
  if (!stopped && !complete && !findElement(elements, SERIES_UID)) return null;
  return { study: uid(STUDY_UID), series: uid(SERIES_UID) };
}

/** The response dataset (PS3.18 10.5.3, Table 10.5.3-2). */
function responseBody(
  results: PartResult[],
  root: string,
  targetStudy: string | undefined,
): DicomJsonDataset {
  const referenced: DicomJsonDataset[] = [];
  const failed: DicomJsonDataset[] = [];
  const studies = new Set<string>();
  for (const r of results) {
    const ids: DicomJsonDataset = {};
    if (r.sopClassUid) ids["00081150"] = { vr: "UI", Value: [r.sopClassUid] };
    else ids["00081150"] = { vr: "UI" };
    if (r.sopInstanceUid) ids["00081155"] = { vr: "UI", Value: [r.sopInstanceUid] };
    else ids["00081155"] = { vr: "UI" };
    if (r.status === Status.Success || isWarning(r.status)) {
      if (r.studyInstanceUid) studies.add(r.studyInstanceUid);
      const url = r.studyInstanceUid && r.seriesInstanceUid
        ? `${root}/studies/${r.studyInstanceUid}/series/${r.seriesInstanceUid}/instances/${r.sopInstanceUid}`
        : undefined;
      const item: DicomJsonDataset = { ...ids };
      if (url) item["00081190"] = { vr: "UR", Value: [url] };
      if (isWarning(r.status)) item["00081196"] = { vr: "US", Value: [r.status] };
      referenced.push(item);
    } else {
      failed.push({ ...ids, "00081197": { vr: "US", Value: [r.status] } });
    }
  }
  const out: DicomJsonDataset = {};
  const study = targetStudy ?? (studies.size === 1 ? [...studies][0] : undefined);
  if (study !== undefined) out["00081190"] = { vr: "UR", Value: [`${root}/studies/${study}`] };
  if (failed.length) out["00081198"] = { vr: "SQ", Value: failed };
  if (referenced.length) out["00081199"] = { vr: "SQ", Value: referenced };
  return out;
}
