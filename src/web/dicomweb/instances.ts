// Reading stored instances for WADO-RS: headers (for metadata and frames), the DICOM JSON
// of an instance, and frames of native or encapsulated Pixel Data (PS3.5 8.2, A.4), by byte
// ranges of the stored Part 10 object, so a large multi-frame object is never read whole.
import { type DataElement, DatasetError } from "../../core/dicom/dataset.ts";
import { tagKey, toDicomJson } from "../../core/dicom/dicom_json.ts";
import {
  basicOffsets,
  type Fragment,
  FrameError,
  framesOfFragments,
} from "../../core/dicom/encapsulated.ts";
import {
  imagePixelInfo,
  type InstanceHeader,
  nativeFrameLength,
  parseInstanceHeader,
} from "../../core/dicom/instance_header.ts";
import { decodeFileMetaInformation, DicomError } from "../../core/dicom/part10.ts";
import { Tag } from "../../core/dicom/tags.ts";
import { EXPLICIT_VR_BE, TRANSFER_SYNTAXES } from "../../core/dicom/transfer_syntaxes.ts";
import type { StoredObjectStream } from "../../core/ports.ts";

/** Stored objects by SOP Instance UID (FsObjectStore). */
export interface ObjectSource {
  readObjectRange(
    sopInstanceUid: string,
    start: number,
    length: number,
  ): Promise<{ bytes: Uint8Array; total: number; seq: number } | null>;
  readObject(sopInstanceUid: string): Promise<StoredObjectStream | null>;
}

/** A stored object that cannot be read as DICOM. */
export class UnreadableObject extends Error {}

const FIRST_READ = 64 * 1024;
const MAX_HEADER = 64 * 1024 * 1024;
/** Deflated objects are inflated whole: up to this size. */
const MAX_DEFLATED = 256 * 1024 * 1024;

export interface ReadHeader {
  header: InstanceHeader;
  /** The Part 10 object's size. */
  total: number;
  seq: number;
}

async function inflateRaw(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** An instance's header up to Pixel Data; null when it is not stored. */
export async function readHeader(
  source: ObjectSource,
  sopInstanceUid: string,
): Promise<ReadHeader | null> {
  let size = FIRST_READ;
  for (let attempt = 0; attempt < 12; attempt++) {
    const got = await source.readObjectRange(sopInstanceUid, 0, size);
    if (!got) return null;
    try {
      const result = parseInstanceHeader(got.bytes, got.total);
      if ("need" in result && result.need >= got.total && got.bytes.length < got.total) {
        size = got.total;
        if (size > MAX_DEFLATED) throw new UnreadableObject("object too large to inflate");
        continue;
      }
      if ("need" in result) {
        if (size >= MAX_HEADER) throw new UnreadableObject("header larger than 64 MiB");
        size = Math.min(MAX_HEADER, Math.max(result.need, size * 4));
        continue;
      }
      return { header: result, total: got.total, seq: got.seq };
    } catch (e) {
      if (e instanceof DatasetError && /deflated/.test(e.message)) {
        // Deflated Explicit VR Little Endian (PS3.5 A.5): the whole object inflated.
        const all = got.bytes.length < got.total
          ? (await source.readObjectRange(sopInstanceUid, 0, got.total))?.bytes
          : got.bytes;
        if (!all) return null;
        const meta = decodeFileMetaInformation(all);
        const inflated = await inflateRaw(all.subarray(meta.datasetOffset));
        const result = parseInstanceHeader(all, got.total, inflated);
        if ("need" in result) throw new UnreadableObject("deflated object cannot be read");
        return { header: result, total: got.total, seq: got.seq };
      }
      if (e instanceof DatasetError || e instanceof DicomError) {
        throw new UnreadableObject(e.message);
      }
      throw e;
    }
  }
  throw new UnreadableObject("header cannot be read");
}

/** Path of an attribute for a bulk data URI: tags and item indexes. */
export function bulkPath(path: readonly number[]): string {
  return path.map((p, i) => (i % 2 === 0 ? tagKey(p) : String(p))).join("/");
}

/**
 * The DICOM JSON of an instance; bulk data URIs relative to the DICOMweb root
 * ("studies/.../bulk/7FE00010") until absoluteBulkUris() is applied on the way out.
 */
export function instanceJson(
  header: InstanceHeader,
  ids: { study: string; series: string; instance: string },
): string {
  const base = `studies/${ids.study}/series/${ids.series}/instances/${ids.instance}`;
  const elements: DataElement[] = header.elements;
  const json = toDicomJson(elements, {
    specificCharacterSet: header.specificCharacterSet,
    bulkDataUri: (path) => `${base}/bulk/${bulkPath(path)}`,
  });
  if (header.pixelData) {
    json[tagKey(Tag.PixelData)] = {
      vr: header.pixelData.vr,
      BulkDataURI: `${base}/bulk/${tagKey(Tag.PixelData)}`,
    };
  }
  return JSON.stringify(json);
}

/** Makes the relative bulk data URIs of instanceJson() absolute under `root` (no slash at end). */
export function absoluteBulkUris(json: string, root: string): string {
  return json.replaceAll('"BulkDataURI":"', `"BulkDataURI":"${root}/`);
}

/** Media types of encapsulated frames (PS3.18 Table 8.7.3-2). */
const FRAME_MEDIA_TYPES: Record<string, string> = {
  "1.2.840.10008.1.2.4.50": "image/jpeg",
  "1.2.840.10008.1.2.4.51": "image/jpeg",
  "1.2.840.10008.1.2.4.57": "image/jpeg",
  "1.2.840.10008.1.2.4.70": "image/jpeg",
  "1.2.840.10008.1.2.4.80": "image/jls",
  "1.2.840.10008.1.2.4.81": "image/jls",
  "1.2.840.10008.1.2.4.90": "image/jp2",
  "1.2.840.10008.1.2.4.91": "image/jp2",
  "1.2.840.10008.1.2.4.92": "image/jpx",
  "1.2.840.10008.1.2.4.93": "image/jpx",
  "1.2.840.10008.1.2.4.201": "image/jphc",
  "1.2.840.10008.1.2.4.202": "image/jphc",
  "1.2.840.10008.1.2.4.203": "image/jphc",
  "1.2.840.10008.1.2.5": "image/x-dicom-rle",
};

/** The media type a frame in this transfer syntax is sent as. */
export function frameMediaType(transferSyntaxUid: string): string {
  return FRAME_MEDIA_TYPES[transferSyntaxUid] ?? "application/octet-stream";
}

export function isEncapsulated(transferSyntaxUid: string): boolean {
  return TRANSFER_SYNTAXES.get(transferSyntaxUid)?.encapsulated ?? false;
}

/** A frame number that is not in the object (404) or a list that is malformed (400). */
export class FrameRequestError extends Error {
  constructor(readonly status: 400 | 404, message: string) {
    super(message);
  }
}

/** "1,3,5" -> [1, 3, 5]; throws FrameRequestError 400 for anything else. */
export function parseFrameList(text: string): number[] {
  const items = text.split(",").map((s) => s.trim());
  if (items.length > 10000 || items.some((s) => !/^[1-9]\d{0,8}$/.test(s))) {
    throw new FrameRequestError(400, "frame list must be positive integers, comma-separated");
  }
  return items.map(Number);
}

/**
 * The requested frames as stored: native frames in little endian byte order (Big Endian
 * objects' words swapped), encapsulated frames as their fragments joined.
 */
export async function readFrames(
  source: ObjectSource,
  sopInstanceUid: string,
  read: ReadHeader,
  frameNumbers: readonly number[],
): Promise<Uint8Array[]> {
  const { header } = read;
  const info = imagePixelInfo(header.elements);
  const pixel = header.pixelData;
  if (!info || !pixel) throw new FrameRequestError(404, "the instance has no Pixel Data");
  for (const n of frameNumbers) {
    if (n > info.numberOfFrames) {
      throw new FrameRequestError(404, `frame ${n} is past the last (${info.numberOfFrames})`);
    }
  }
  const ts = header.meta.transferSyntaxUid;
  if (pixel.length !== undefined) {
    if (info.bitsAllocated === 1 && info.numberOfFrames > 1) {
      throw new FrameRequestError(400, "bit-packed multi-frame Pixel Data is not served by frame");
    }
    const length = nativeFrameLength(info);
    const out: Uint8Array[] = [];
    for (const n of frameNumbers) {
      const start = pixel.valueOffset + (n - 1) * length;
      const got = await source.readObjectRange(sopInstanceUid, start, length);
      if (!got) throw new FrameRequestError(404, "the instance is gone");
      if (got.bytes.length < length) throw new UnreadableObject("Pixel Data is cut short");
      out.push(ts === EXPLICIT_VR_BE && info.bitsAllocated === 16 ? swap16(got.bytes) : got.bytes);
    }
    return out;
  }
  const { offsets, fragments } = await readFragments(source, sopInstanceUid, pixel.valueOffset);
  let frames: Fragment[][];
  try {
    frames = framesOfFragments(fragments, offsets, info.numberOfFrames);
  } catch (e) {
    if (e instanceof FrameError) throw new UnreadableObject(e.message);
    throw e;
  }
  const out: Uint8Array[] = [];
  for (const n of frameNumbers) {
    const parts = frames[n - 1];
    const total = parts.reduce((s, f) => s + f.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const f of parts) {
      const got = await source.readObjectRange(sopInstanceUid, f.offset, f.length);
      if (!got || got.bytes.length < f.length) throw new UnreadableObject("fragment cut short");
      bytes.set(got.bytes, at);
      at += f.length;
    }
    out.push(bytes);
  }
  return out;
}

function swap16(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    out[i] = bytes[i + 1];
    out[i + 1] = bytes[i];
  }
  return out;
}

/** The Basic Offset Table and the fragments of encapsulated Pixel Data (PS3.5 A.4). */
async function readFragments(
  source: ObjectSource,
  sopInstanceUid: string,
  firstItem: number,
): Promise<{ offsets: number[]; fragments: Fragment[] }> {
  const WINDOW = 256 * 1024;
  let windowStart = -1;
  let window: Uint8Array = new Uint8Array(0);
  const header = async (at: number): Promise<[number, number]> => {
    if (at < windowStart || at + 8 > windowStart + window.length) {
      const got = await source.readObjectRange(sopInstanceUid, at, WINDOW);
      if (!got) throw new FrameRequestError(404, "the instance is gone");
      windowStart = at;
      window = got.bytes;
      if (window.length < 8) throw new UnreadableObject("Pixel Data items cut short");
    }
    const dv = new DataView(window.buffer, window.byteOffset, window.byteLength);
    const o = at - windowStart;
    const tag = ((dv.getUint16(o, true) << 16) | dv.getUint16(o + 2, true)) >>> 0;
    return [tag, dv.getUint32(o + 4, true)];
  };
  let at = firstItem;
  const [botTag, botLength] = await header(at);
  if (botTag !== Tag.Item) {
    throw new UnreadableObject("encapsulated Pixel Data lacks its offset table");
  }
  let offsets: number[] = [];
  if (botLength > 0) {
    const got = await source.readObjectRange(sopInstanceUid, at + 8, botLength);
    if (!got) throw new FrameRequestError(404, "the instance is gone");
    offsets = basicOffsets(got.bytes);
  }
  at += 8 + botLength;
  const fragments: Fragment[] = [];
  for (let i = 0; i < 1_000_000; i++) {
    const [tag, length] = await header(at);
    if (tag === Tag.SequenceDelimitationItem) return { offsets, fragments };
    if (tag !== Tag.Item || length === 0xffffffff) {
      throw new UnreadableObject("malformed Pixel Data fragment");
    }
    fragments.push({ offset: at + 8, length });
    at += 8 + length;
  }
  throw new UnreadableObject("too many Pixel Data fragments");
}
