// WADO-RS (PS3.18 10.4): studies, series and instances as multipart/related Part 10 objects,
// their metadata as DICOM JSON, frames, bulk data, and rendered images. Objects go out as
// stored (transfer-syntax=*) or re-encoded through core/dicom/transcode.ts when a client asks
// for another syntax it can produce; otherwise 406.
import type { Context } from "hono";
import { findElement } from "../../core/dicom/dataset.ts";
import { imagePixelInfo } from "../../core/dicom/instance_header.ts";
import {
  encodeRendered,
  RenderError,
  renderFrame,
  type RenderOptions,
} from "../../core/dicom/rendered.ts";
import { Tag } from "../../core/dicom/tags.ts";
import { canTranscode } from "../../core/dicom/transcode.ts";
import { EXPLICIT_VR_LE } from "../../core/dicom/transfer_syntaxes.ts";
import { isValidUid } from "../../core/query/qido.ts";
import type { InstanceScope, StoredInstanceEntry } from "../../storage/dicomweb_db.ts";
import type { DicomWebContext } from "./context.ts";
import {
  absoluteBulkUris,
  frameMediaType,
  FrameRequestError,
  isEncapsulated,
  parseFrameList,
  readFrames,
  readHeader,
  UnreadableObject,
} from "./instances.ts";
import { noteCount } from "./audit.ts";
import { computeMetadata } from "./metadata_builder.ts";
import type { InstanceMetadata } from "../../storage/instance_metadata.ts";
import { framesDecodable, nativeFrames, NotDecodable } from "./frames.ts";
import { multipartObjects, objectBytes } from "./retrieve_parts.ts";
import { type MediaRange, parseAccept, rangeAdmits } from "./media_type.ts";
import { closeDelimiter, newBoundary, partHeader } from "./multipart.ts";
import { DICOM_JSON } from "./qido.ts";

const APPLICATION_DICOM = "application/dicom";
const OCTET_STREAM = "application/octet-stream";

/** The scope named by the path, or a 400 answer for a malformed UID. */
function scopeOf(c: Context): InstanceScope | null {
  const study = c.req.param("study");
  const series = c.req.param("series");
  const sop = c.req.param("instance");
  for (const uid of [study, series, sop]) if (uid !== undefined && !isValidUid(uid)) return null;
  return { studyInstanceUid: study!, seriesInstanceUid: series, sopInstanceUid: sop };
}

function entriesOf(
  c: Context,
  ctx: DicomWebContext,
): StoredInstanceEntry[] | Response {
  const scope = scopeOf(c);
  if (!scope) return ctx.problem(c, 400, "malformed UID in the path");
  const entries = ctx.index.instances(scope);
  if (entries.length === 0) return ctx.problem(c, 404, "no such study, series or instance");
  noteCount(c, entries.length);
  return entries;
}

// ---- retrieve: Part 10 objects ----

/** What the client accepts for Part 10 objects: multipart or (one instance) a bare body. */
interface DicomChoice {
  multipart: boolean;
  /** "*" = as stored; undefined = the default (see below); else a transfer syntax UID. */
  transferSyntax?: string;
}

function chooseDicom(ranges: MediaRange[], single: boolean): DicomChoice | null {
  for (const r of ranges) {
    if (r.type === "multipart/related" || r.type === "multipart/*") {
      const type = (r.params.type ?? APPLICATION_DICOM).toLowerCase();
      if (type !== APPLICATION_DICOM && type !== "*/*" && type !== "application/*") continue;
      return { multipart: true, transferSyntax: r.params["transfer-syntax"] };
    }
    if (r.type === APPLICATION_DICOM && single) {
      return { multipart: false, transferSyntax: r.params["transfer-syntax"] };
    }
    if (r.type === "*/*") return { multipart: true };
  }
  return null;
}

/**
 * The syntax an object goes out in: as stored for "*"; a requested one when stored so or
 * when it can be produced; without a request Explicit VR Little Endian where the object can
 * be re-encoded to it (PS3.18 8.7.3.5.2), else as stored. Null when it cannot be met.
 */
function targetSyntax(stored: string, requested: string | undefined): string | null {
  if (requested === "*") return stored;
  if (requested === undefined) {
    return stored === EXPLICIT_VR_LE || canTranscode(stored, EXPLICIT_VR_LE)
      ? EXPLICIT_VR_LE
      : stored;
  }
  if (requested === stored || canTranscode(stored, requested)) return requested;
  return null;
}

/** GET a study, series or instance (PS3.18 10.4.1). */
export function retrieve(c: Context, ctx: DicomWebContext): Response {
  const entries = entriesOf(c, ctx);
  if (entries instanceof Response) return entries;
  const single = c.req.param("instance") !== undefined;
  const choice = chooseDicom(parseAccept(c.req.header("Accept")), single);
  if (!choice) {
    return ctx.problem(
      c,
      406,
      `objects are sent as multipart/related; type="${APPLICATION_DICOM}"`,
    );
  }
  const targets = entries.map((e) => targetSyntax(e.transferSyntaxUid, choice.transferSyntax));
  const missing = targets.indexOf(null);
  if (missing >= 0) {
    return ctx.problem(
      c,
      406,
      `transfer syntax ${choice.transferSyntax} cannot be produced from ` +
        entries[missing].transferSyntaxUid,
    );
  }
  if (!choice.multipart) {
    const body = ReadableStream.from(objectBytes(ctx, entries[0], targets[0]!));
    return new Response(body, {
      headers: { "Content-Type": `${APPLICATION_DICOM}; transfer-syntax=${targets[0]}` },
    });
  }
  const boundary = newBoundary();
  const root = ctx.rootUrl(c);
  const header = (i: number) => {
    const e = entries[i];
    return partHeader(boundary, {
      "Content-Type": `${APPLICATION_DICOM}; transfer-syntax=${targets[i]}`,
      "Content-Location":
        `${root}/studies/${e.studyInstanceUid}/series/${e.seriesInstanceUid}/instances/${e.sopInstanceUid}`,
    });
  };
  const body = ReadableStream.from((async function* () {
    yield* multipartObjects(ctx, entries, targets as string[], header);
    yield closeDelimiter(boundary);
  })());
  return new Response(body, {
    headers: {
      "Content-Type": `multipart/related; type="${APPLICATION_DICOM}"; boundary=${boundary}`,
    },
  });
}

// ---- metadata ----

/** Misses computed at once. */
const METADATA_CONCURRENCY = 8;

/**
 * GET .../metadata at study, series or instance level (PS3.18 10.4.1.1.2): each instance's
 * kept DICOM JSON, read with the instance list in one query; an instance whose metadata is
 * not kept yet (stored a moment ago) is read from its object now and kept.
 */
export async function metadata(c: Context, ctx: DicomWebContext): Promise<Response> {
  const scope = scopeOf(c);
  if (!scope) return ctx.problem(c, 400, "malformed UID in the path");
  const ranges = parseAccept(c.req.header("Accept"));
  if (!ranges.some((r) => rangeAdmits(r, DICOM_JSON) || r.type === "application/json")) {
    return ctx.problem(c, 406, `metadata is sent as ${DICOM_JSON}`);
  }
  const listed = ctx.index.instances(scope);
  if (listed.length === 0) return ctx.problem(c, 404, "no such study, series or instance");
  noteCount(c, listed.length);
  const root = ctx.rootUrl(c);
  const key = `${root}\n${c.req.path}`;
  const fingerprintOf = (list: StoredInstanceEntry[]) =>
    list.map((e) => `${e.sopInstanceUid}:${e.seq}`).join(",");
  const headers = { "Content-Type": `${DICOM_JSON}; charset=utf-8` };
  const kept = ctx.responses.get(key, fingerprintOf(listed));
  if (kept) return new Response(kept as Uint8Array<ArrayBuffer>, { headers });
  // Not answered lately: the kept JSON, read with the list again in one query.
  const entries = ctx.index.instancesWithMetadata(scope);
  const fingerprint = fingerprintOf(entries);
  const jsons: (string | undefined)[] = entries.map((e) => e.json);
  const misses = entries.map((_, i) => i).filter((i) => jsons[i] === undefined);
  const computed: InstanceMetadata[] = [];
  for (let at = 0; at < misses.length; at += METADATA_CONCURRENCY) {
    await Promise.all(
      misses.slice(at, at + METADATA_CONCURRENCY).map(async (i) => {
        try {
          const m = await computeMetadata(ctx.objects, entries[i]);
          if (!m) return; // deleted meanwhile
          jsons[i] = m.json;
          computed.push(m);
        } catch (err) {
          if (!(err instanceof UnreadableObject)) throw err;
          ctx.logger.log("warn", "stored object unreadable for metadata", { error: err.message });
        }
      }),
    );
  }
  try {
    ctx.metadataStore.putAll(computed);
  } catch (e) {
    ctx.logger.log("warn", "metadata not kept", { error: String(e) });
  }
  // Kept whole only when every instance was read as listed (none replaced meanwhile).
  const seqs = new Map(entries.map((e) => [e.sopInstanceUid, e.seq]));
  const complete = jsons.every((j) => j !== undefined) &&
    computed.every((x) => seqs.get(x.sopInstanceUid) === x.seq);
  const text = absoluteBulkUris(`[${jsons.filter((j) => j !== undefined).join(",")}]`, root);
  const body = new TextEncoder().encode(text);
  if (complete) ctx.responses.set(key, fingerprint, body);
  return new Response(body, { headers });
}

// ---- frames and bulk data ----

interface FrameChoice {
  /** "*": as stored; else the syntax of native frames sent (Explicit VR LE). */
  transferSyntax: "*" | string;
}

/** Frames: octet-stream of native pixels, or with transfer-syntax=* the stored compressed frame. */
function chooseFrames(ranges: MediaRange[], stored: string): FrameChoice | null {
  const compressed = isEncapsulated(stored);
  for (const r of ranges) {
    let type: string;
    let ts: string | undefined;
    if (r.type === "multipart/related" || r.type === "multipart/*") {
      type = (r.params.type ?? OCTET_STREAM).toLowerCase();
      ts = r.params["transfer-syntax"];
    } else if (r.type === "*/*") {
      return { transferSyntax: compressed ? "*" : EXPLICIT_VR_LE };
    } else continue;
    if (type === OCTET_STREAM || type === "*/*") {
      if (ts === "*") return { transferSyntax: "*" };
      if (!compressed && (ts === undefined || ts === EXPLICIT_VR_LE)) {
        return { transferSyntax: EXPLICIT_VR_LE };
      }
      if (compressed && (ts === undefined || ts === EXPLICIT_VR_LE)) {
        if (canTranscode(stored, EXPLICIT_VR_LE)) return { transferSyntax: EXPLICIT_VR_LE };
      }
      continue;
    }
    // image/jpeg and the like: the stored compressed frames when they are of that kind.
    if (
      compressed && type === frameMediaType(stored) &&
      (ts === undefined || ts === "*" || ts === stored)
    ) {
      return { transferSyntax: "*" };
    }
  }
  return null;
}

/** GET .../instances/{uid}/frames/{list} (PS3.18 10.4.1.1.4). */
export async function frames(c: Context, ctx: DicomWebContext): Promise<Response> {
  const entries = entriesOf(c, ctx);
  if (entries instanceof Response) return entries;
  const entry = entries[0];
  try {
    const numbers = parseFrameList(c.req.param("frames") ?? "");
    const choice = chooseFrames(parseAccept(c.req.header("Accept")), entry.transferSyntaxUid);
    if (!choice) {
      return ctx.problem(
        c,
        406,
        `frames of ${entry.transferSyntaxUid} objects cannot be sent as asked`,
      );
    }
    let list: Uint8Array[];
    let stored: string;
    if (choice.transferSyntax === "*") {
      const read = await readHeader(ctx.objects, entry.sopInstanceUid);
      if (!read) return ctx.problem(c, 404, "no such instance");
      stored = read.header.meta.transferSyntaxUid;
      list = await readFrames(ctx.objects, entry.sopInstanceUid, read, numbers);
    } else {
      // Decoded one by one, only the frames asked for.
      const native = await nativeFrames(ctx.objects, entry.sopInstanceUid, numbers);
      if (!native) return ctx.problem(c, 404, "no such instance");
      stored = EXPLICIT_VR_LE;
      list = native.frames;
    }
    const encapsulated = isEncapsulated(stored);
    const type = encapsulated ? frameMediaType(stored) : OCTET_STREAM;
    const ts = encapsulated ? stored : EXPLICIT_VR_LE;
    const boundary = newBoundary();
    const base = `${
      ctx.rootUrl(c)
    }/studies/${entry.studyInstanceUid}/series/${entry.seriesInstanceUid}/instances/${entry.sopInstanceUid}/frames/`;
    const parts: Uint8Array[] = [];
    list.forEach((frame, i) => {
      parts.push(
        partHeader(boundary, {
          "Content-Type": `${type}; transfer-syntax=${ts}`,
          "Content-Location": base + numbers[i],
        }),
        frame,
      );
    });
    parts.push(closeDelimiter(boundary));
    return new Response(new Blob(parts as Uint8Array<ArrayBuffer>[]), {
      headers: {
        "Content-Type":
          `multipart/related; type="${type}"; transfer-syntax=${ts}; boundary=${boundary}`,
      },
    });
  } catch (e) {
    if (e instanceof FrameRequestError) return ctx.problem(c, e.status, e.message);
    if (e instanceof NotDecodable) return ctx.problem(c, 406, e.message);
    if (e instanceof UnreadableObject) {
      ctx.logger.log("warn", "frames of a stored object cannot be read", { error: e.message });
      return ctx.problem(c, 500, `the stored object cannot be read: ${e.message}`);
    }
    throw e;
  }
}

/** GET .../bulk/{tag}[/{item}/{tag}...]: one attribute's value (octet-stream). */
export async function bulk(c: Context, ctx: DicomWebContext): Promise<Response> {
  const entries = entriesOf(c, ctx);
  if (entries instanceof Response) return entries;
  const entry = entries[0];
  const path = (c.req.param("path") ?? "").split("/").filter((p) => p !== "");
  if (
    path.length === 0 || path.length % 2 === 0 ||
    path.some((p, i) => i % 2 === 0 ? !/^[0-9A-Fa-f]{8}$/.test(p) : !/^\d{1,6}$/.test(p))
  ) return ctx.problem(c, 400, "bulk data path must be tag[/item/tag...]");
  const read = await readHeader(ctx.objects, entry.sopInstanceUid);
  if (!read) return ctx.problem(c, 404, "no such instance");
  const tags = path.map((p, i) => (i % 2 === 0 ? parseInt(p, 16) : Number(p)));
  const ranges = parseAccept(c.req.header("Accept"));
  const single = !ranges.some((r) => r.type.startsWith("multipart/")) &&
    ranges.some((r) => rangeAdmits(r, OCTET_STREAM));
  let parts: { type: string; bytes: Uint8Array }[];
  if (tags.length === 1 && tags[0] === Tag.PixelData && read.header.pixelData) {
    const info = imagePixelInfo(read.header.elements);
    const n = info?.numberOfFrames ?? 1;
    try {
      const numbers = Array.from({ length: n }, (_, i) => i + 1);
      const frameBytes = await readFrames(ctx.objects, entry.sopInstanceUid, read, numbers);
      const ts = read.header.meta.transferSyntaxUid;
      const type = isEncapsulated(ts)
        ? `${frameMediaType(ts)}; transfer-syntax=${ts}`
        : OCTET_STREAM;
      parts = isEncapsulated(ts) ? frameBytes.map((bytes) => ({ type, bytes })) : [{
        type,
        bytes: new Uint8Array(
          await new Blob(frameBytes as Uint8Array<ArrayBuffer>[]).arrayBuffer(),
        ),
      }];
    } catch (e) {
      if (e instanceof FrameRequestError) return ctx.problem(c, e.status, e.message);
      if (e instanceof UnreadableObject) return ctx.problem(c, 500, e.message);
      throw e;
    }
  } else {
    let elements = read.header.elements;
    let value: Uint8Array | undefined;
    for (let i = 0; i < tags.length; i += 2) {
      const el = findElement(elements, tags[i]);
      if (!el) break;
      if (i + 1 === tags.length) {
        if (!el.items) value = el.value;
        break;
      }
      const item = el.items?.[tags[i + 1]];
      if (!item) break;
      elements = item;
    }
    if (!value) return ctx.problem(c, 404, `no bulk data at ${path.join("/")}`);
    parts = [{ type: OCTET_STREAM, bytes: value }];
  }
  if (single && parts.length === 1) {
    return new Response(parts[0].bytes as Uint8Array<ArrayBuffer>, {
      headers: { "Content-Type": OCTET_STREAM },
    });
  }
  const boundary = newBoundary();
  const body: Uint8Array[] = [];
  for (const p of parts) body.push(partHeader(boundary, { "Content-Type": p.type }), p.bytes);
  body.push(closeDelimiter(boundary));
  return new Response(new Blob(body as Uint8Array<ArrayBuffer>[]), {
    headers: { "Content-Type": `multipart/related; type="${OCTET_STREAM}"; boundary=${boundary}` },
  });
}

// ---- rendered and thumbnail ----

const THUMBNAIL_SIZE = 128;

/**
 * GET .../rendered and .../thumbnail (PS3.18 10.4.1.1.3, 10.4.1.1.5) at study, series,
 * instance or frame level: a study or series shows its middle instance, a multi-frame
 * object its first frame unless a frame is named.
 */
export async function rendered(
  c: Context,
  ctx: DicomWebContext,
  thumbnail: boolean,
): Promise<Response> {
  const entries = entriesOf(c, ctx);
  if (entries instanceof Response) return entries;
  const ranges = parseAccept(c.req.header("Accept"));
  const media = ranges.map((r) =>
    rangeAdmits(r, "image/jpeg") ? "image/jpeg" : rangeAdmits(r, "image/png") ? "image/png" : null
  ).find((m) => m !== null);
  if (!media) return ctx.problem(c, 406, "rendered images are image/jpeg or image/png");
  const params = new URL(c.req.url).searchParams;
  const options: RenderOptions = {};
  let quality = 90;
  try {
    const window = params.get("window");
    if (window !== null) {
      const [center, width] = window.split(",").map((v) => Number(v));
      if (!Number.isFinite(center) || !Number.isFinite(width) || width < 1) {
        throw new RangeError("window must be center,width[,function]");
      }
      options.window = { center, width };
    }
    const viewport = params.get("viewport");
    if (viewport !== null) {
      const [w, h] = viewport.split(",").map((v) => Number(v));
      if (!(w >= 1 && h >= 1 && w <= 8192 && h <= 8192)) {
        throw new RangeError("viewport must be columns,rows (1 to 8192)");
      }
      options.viewport = { width: Math.floor(w), height: Math.floor(h) };
    } else if (thumbnail) options.viewport = { width: THUMBNAIL_SIZE, height: THUMBNAIL_SIZE };
    const q = params.get("quality");
    if (q !== null) {
      quality = Number(q);
      if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
        throw new RangeError("quality must be an integer from 1 to 100");
      }
    }
  } catch (e) {
    if (e instanceof RangeError) return ctx.problem(c, 400, e.message);
    throw e;
  }
  const frameParam = c.req.param("frames");
  let frameNumber = 1;
  try {
    if (frameParam !== undefined) {
      const list = parseFrameList(frameParam);
      if (list.length !== 1) return ctx.problem(c, 400, "render one frame at a time");
      frameNumber = list[0];
    }
  } catch (e) {
    if (e instanceof FrameRequestError) return ctx.problem(c, e.status, e.message);
    throw e;
  }
  const entry = representative(entries);
  noteCount(c, 1);
  try {
    if (!framesDecodable(entry.transferSyntaxUid)) {
      return ctx.problem(c, 406, `${entry.transferSyntaxUid} images cannot be decoded here`);
    }
    const native = await nativeFrames(ctx.objects, entry.sopInstanceUid, [frameNumber]);
    if (!native) return ctx.problem(c, 404, "no such instance");
    const info = imagePixelInfo(native.elements);
    if (!info) return ctx.problem(c, 406, "the instance has no image to render");
    const [frame] = native.frames;
    const image = renderFrame(frame, info, native.elements, options);
    const bytes = await encodeRendered(image, media, quality);
    return new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { "Content-Type": media } });
  } catch (e) {
    if (e instanceof FrameRequestError) return ctx.problem(c, e.status, e.message);
    if (e instanceof RenderError || e instanceof NotDecodable) {
      return ctx.problem(c, 406, e.message);
    }
    if (e instanceof UnreadableObject) return ctx.problem(c, 500, e.message);
    throw e;
  }
}

/** The instance a study or series is shown by: the middle one of its first series with images. */
function representative(entries: StoredInstanceEntry[]): StoredInstanceEntry {
  const series = entries[0].seriesInstanceUid;
  const first = entries.filter((e) => e.seriesInstanceUid === series);
  return first[Math.floor((first.length - 1) / 2)];
}
