// The DICOM JSON Model (PS3.18 F.2): a dataset as an object keyed by "GGGGEEEE", each
// attribute with its "vr" and a "Value" array, "BulkDataURI" or "InlineBinary".
import { decodeString } from "./charset.ts";
import { type DataElement, numbersOf, usesCharset } from "./dataset.ts";
import { Tag } from "./tags.ts";

/** One attribute (PS3.18 F.2.2). */
export interface DicomJsonAttribute {
  vr: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}

export type DicomJsonDataset = Record<string, DicomJsonAttribute>;

export interface DicomJsonOptions {
  /** The dataset's Specific Character Set (0008,0005): text is decoded with it. */
  specificCharacterSet: string;
  /**
   * The URI of a binary value sent as bulk data; `path` names it from the top: tag, item
   * index, tag... Without it every binary value is inline.
   */
  bulkDataUri?(path: readonly number[]): string;
  /** Binary values longer than this many bytes go as BulkDataURI (default 1024). */
  inlineBinaryMax?: number;
}

/** Binary VRs: their values are base64 (InlineBinary) or a URI (PS3.18 F.2.7). */
const BINARY_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "UN"]);
/** Text VRs holding one value: a backslash is part of the text (PS3.5 6.2). */
const SINGLE_VALUE_VRS = new Set(["LT", "ST", "UT", "UR"]);
/** VRs whose leading spaces are significant (PS3.5 6.2): only trailing ones are padding. */
const KEEP_LEADING = new Set(["LT", "ST", "UT", "UC"]);
const PIXEL_DATA_TAGS = new Set<number>([
  Tag.PixelData,
  Tag.FloatPixelData,
  Tag.DoubleFloatPixelData,
]);

/** "GGGGEEEE" in upper case, as DICOM JSON keys are (PS3.18 F.2.1.1). */
export function tagKey(tag: number): string {
  return (tag >>> 0).toString(16).toUpperCase().padStart(8, "0");
}

/** A dataset in the DICOM JSON Model. Group lengths are left out (PS3.18 F.2.1.1.2). */
export function toDicomJson(
  elements: readonly DataElement[],
  options: DicomJsonOptions,
): DicomJsonDataset {
  return datasetJson(elements, options, []);
}

function datasetJson(
  elements: readonly DataElement[],
  options: DicomJsonOptions,
  path: number[],
): DicomJsonDataset {
  const out: DicomJsonDataset = {};
  const sorted = [...elements].sort((a, b) => a.tag - b.tag);
  for (const el of sorted) {
    if ((el.tag & 0xffff) === 0) continue; // group length
    if ((el.tag >>> 16) === 0xfffe) continue; // items and delimiters
    out[tagKey(el.tag)] = attributeJson(el, options, [...path, el.tag]);
  }
  return out;
}

function attributeJson(
  el: DataElement,
  options: DicomJsonOptions,
  path: number[],
): DicomJsonAttribute {
  if (el.items) {
    const items = el.items.map((item, i) => datasetJson(item, options, [...path, i]));
    return items.length ? { vr: "SQ", Value: items } : { vr: "SQ" };
  }
  const vr = el.vr;
  if (BINARY_VRS.has(vr) || PIXEL_DATA_TAGS.has(el.tag)) {
    return binaryJson(el, options, path);
  }
  if (el.value.length === 0) return { vr };
  switch (vr) {
    case "PN":
      return withValues(vr, personNames(el, options.specificCharacterSet));
    case "IS":
    case "DS":
      return withValues(vr, texts(el, options.specificCharacterSet).map(numberOrText));
    case "US":
    case "SS":
    case "UL":
    case "SL":
    case "FL":
    case "FD":
    case "SV":
    case "UV":
      return withValues(vr, numbersOf(el).map(finiteOrNull));
    case "AT":
      return withValues(vr, attributeTags(el.value));
    default:
      return withValues(vr, texts(el, options.specificCharacterSet));
  }
}

function withValues(vr: string, values: unknown[]): DicomJsonAttribute {
  return values.length === 0 || values.every((v) => v === null) ? { vr } : { vr, Value: values };
}

function binaryJson(
  el: DataElement,
  options: DicomJsonOptions,
  path: number[],
): DicomJsonAttribute {
  const vr = el.vr === "UN" && PIXEL_DATA_TAGS.has(el.tag) ? "OW" : el.vr;
  const max = options.inlineBinaryMax ?? 1024;
  if (options.bulkDataUri && (PIXEL_DATA_TAGS.has(el.tag) || el.value.length > max)) {
    return { vr, BulkDataURI: options.bulkDataUri(path) };
  }
  if (el.value.length === 0) return { vr };
  return { vr, InlineBinary: base64(el.value) };
}

/** The values of a text element, decoded, padding trimmed; empty values as null (F.2.5). */
function texts(el: DataElement, charset: string): (string | null)[] {
  const text = decodeString(el.value, usesCharset(el.vr) ? charset : "", false);
  const values = SINGLE_VALUE_VRS.has(el.vr) ? [text] : text.split("\\");
  return values.map((v) => {
    const t = KEEP_LEADING.has(el.vr) || SINGLE_VALUE_VRS.has(el.vr)
      ? v.replace(/[ \0]+$/, "")
      : v.replace(/^[ \0]+|[ \0]+$/g, "");
    return t === "" ? null : t;
  });
}

/** IS and DS values are JSON numbers (PS3.18 F.2.3); one that is not a number stays text. */
function numberOrText(value: string | null): number | string | null {
  if (value === null) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : value;
}

function finiteOrNull(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

/** Person names as objects of component groups (PS3.18 F.2.2). */
function personNames(el: DataElement, charset: string): (Record<string, string> | null)[] {
  const text = decodeString(el.value, charset, true);
  return text.split("\\").map((value) => {
    const groups = value.replace(/[ \0]+$/, "").split("=");
    const out: Record<string, string> = {};
    const names = ["Alphabetic", "Ideographic", "Phonetic"];
    groups.slice(0, 3).forEach((g, i) => {
      const trimmed = g.replace(/^ +| +$/g, "");
      if (trimmed !== "") out[names[i]] = trimmed;
    });
    return Object.keys(out).length ? out : null;
  });
}

function attributeTags(value: Uint8Array): string[] {
  const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const out: string[] = [];
  for (let i = 0; i + 4 <= value.length; i += 4) {
    out.push(tagKey(((dv.getUint16(i, true) << 16) | dv.getUint16(i + 2, true)) >>> 0));
  }
  return out;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Standard base64 with padding (RFC 4648 4), as InlineBinary is (PS3.18 F.2.7). */
export function base64(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += B64[n >> 18] + B64[(n >> 12) & 63] + "==";
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + "=";
  }
  return out;
}
