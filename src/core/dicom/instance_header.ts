// A stored object's header: file meta, every top-level attribute up to Pixel Data, and where
// Pixel Data's value is (PS3.10 7.1, PS3.5 7.1, A.4). Read from the first bytes of the Part 10
// file; the caller reads more while more is needed.
import {
  type DataElement,
  DatasetError,
  decodeDatasetPart,
  encodingOf,
  findElement,
  numbersOf,
  textOf,
} from "./dataset.ts";
import { dictionaryVr } from "./dictionary.ts";
import { decodeFileMetaInformation, type FileMeta } from "./part10.ts";
import { Tag } from "./tags.ts";
import { EXPLICIT_VR_LE, TRANSFER_SYNTAXES } from "./transfer_syntaxes.ts";
import { LONG_VRS } from "./vr.ts";

/** Where Pixel Data (7FE0,0010) is in the Part 10 bytes. */
export interface PixelDataLocation {
  vr: string;
  /** Offset of the value (native) or of the first item (encapsulated) in the Part 10 bytes. */
  valueOffset: number;
  /** Value length; undefined for encapsulated (undefined length) Pixel Data. */
  length?: number;
}

export interface InstanceHeader {
  meta: FileMeta;
  /** Top-level elements before Pixel Data (values decoded in the object's byte order). */
  elements: DataElement[];
  specificCharacterSet: string;
  pixelData?: PixelDataLocation;
}

/** The header needs bytes past `have`: read at least `need` bytes from the start. */
export interface NeedMore {
  need: number;
}

/** The image attributes that say how Pixel Data is laid out (PS3.3 C.7.6.3). */
export interface ImagePixelInfo {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  planarConfiguration: number;
  photometricInterpretation: string;
  numberOfFrames: number;
}

/**
 * Parses the header from the first bytes of a Part 10 object (`total` bytes long). Returns
 * NeedMore when the bytes end inside it. Deflated objects: the caller inflates first and
 * passes `inflated` (the dataset), as their Pixel Data has no offset in the file.
 * Throws DatasetError or DicomError on malformed data.
 */
export function parseInstanceHeader(
  bytes: Uint8Array,
  total: number,
  inflated?: Uint8Array,
): InstanceHeader | NeedMore {
  const complete = bytes.length >= total;
  let parsed;
  try {
    parsed = decodeFileMetaInformation(bytes);
  } catch (e) {
    if (!complete) return { need: Math.min(total, Math.max(bytes.length * 4, 4096)) };
    throw e;
  }
  const { meta, datasetOffset } = parsed;
  const ts = TRANSFER_SYNTAXES.get(meta.transferSyntaxUid);
  const deflated = ts?.deflated ?? false;
  if (deflated && !inflated) {
    if (!complete) return { need: total };
    throw new DatasetError("a deflated object needs its dataset inflated");
  }
  const dataset = deflated ? inflated! : bytes.subarray(datasetOffset);
  const encoding = encodingOf(deflated ? EXPLICIT_VR_LE : meta.transferSyntaxUid);
  const part = decodeDatasetPart(dataset, encoding, {
    allowTruncated: !complete || deflated,
    vrOf: dictionaryVr,
  });
  if (part.truncated && !complete && !deflated) {
    return { need: Math.min(total, Math.max(bytes.length * 4, 4096)) };
  }
  const charset = findElement(part.elements, Tag.SpecificCharacterSet);
  const header: InstanceHeader = {
    meta,
    elements: part.elements,
    specificCharacterSet: charset ? textOf(charset, "").trim() : "",
  };
  if (!part.stopped || deflated) return header;
  // Decoding stopped at Pixel Data: its element header says where the value is.
  const at = datasetOffset + part.end;
  const headerBytes = encoding.explicitVr ? 12 : 8;
  if (bytes.length < at + headerBytes) {
    if (!complete) return { need: Math.min(total, at + headerBytes) };
    return header;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = encoding.littleEndian;
  let vr = "OW";
  let length: number;
  let valueOffset: number;
  const vrText = String.fromCharCode(bytes[at + 4], bytes[at + 5]);
  if (encoding.explicitVr && LONG_VRS.has(vrText)) {
    vr = vrText;
    length = dv.getUint32(at + 8, le);
    valueOffset = at + 12;
  } else {
    length = dv.getUint32(at + 4, le);
    valueOffset = at + 8;
  }
  header.pixelData = {
    vr: length === 0xffffffff ? "OB" : vr,
    valueOffset,
    length: length === 0xffffffff ? undefined : length,
  };
  return header;
}

/** The layout attributes of an image; null when it is not one (no Rows or Columns). */
export function imagePixelInfo(elements: readonly DataElement[]): ImagePixelInfo | null {
  const num = (tag: number, fallback: number): number => {
    const el = findElement(elements, tag);
    if (!el) return fallback;
    if (el.vr === "IS" || el.vr === "DS") {
      const n = Number(textOf(el, "").trim().split("\\")[0]);
      return Number.isFinite(n) ? n : fallback;
    }
    return numbersOf(el)[0] ?? fallback;
  };
  const rows = num(0x00280010, 0);
  const columns = num(0x00280011, 0);
  if (rows <= 0 || columns <= 0) return null;
  const photometric = findElement(elements, 0x00280004);
  return {
    rows,
    columns,
    samplesPerPixel: num(0x00280002, 1),
    bitsAllocated: num(0x00280100, 8),
    bitsStored: num(0x00280101, num(0x00280100, 8)),
    pixelRepresentation: num(0x00280103, 0),
    planarConfiguration: num(0x00280006, 0),
    photometricInterpretation: photometric ? textOf(photometric, "").trim() : "MONOCHROME2",
    numberOfFrames: Math.max(1, Math.floor(num(0x00280008, 1))),
  };
}

/** Bytes of one native frame (PS3.5 8.1.1); bit-packed frames (1 bit) round up per frame. */
export function nativeFrameLength(info: ImagePixelInfo): number {
  const bits = info.rows * info.columns * info.samplesPerPixel * info.bitsAllocated;
  return Math.ceil(bits / 8);
}
