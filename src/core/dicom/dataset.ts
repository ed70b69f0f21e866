// A small dataset codec for query identifiers and stored headers: element lists with
// sequences in Implicit VR Little Endian, Explicit VR Little Endian and Explicit VR Big Endian
// (PS3.5 7.1, 7.3, 7.5). Values are kept in little-endian byte order whatever the syntax.
import { decodeString, encodeString } from "./charset.ts";
import { Tag, tagString } from "./tags.ts";
import { EXPLICIT_VR_LE, TRANSFER_SYNTAXES } from "./transfer_syntaxes.ts";
import { KNOWN_VRS, LONG_VRS } from "./vr.ts";

/** One data element. A sequence (SQ) has `items` and an empty `value`. */
export interface DataElement {
  /** 0xGGGGEEEE */
  tag: number;
  /** Two letters; "UN" when an Implicit VR element's tag is not in the dictionary. */
  vr: string;
  /** Value bytes in little-endian order (strings as encoded, padding included). */
  value: Uint8Array;
  /** Items of a sequence, each an element list in ascending tag order. */
  items?: DataElement[][];
}

export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatasetError";
  }
}

/** How a transfer syntax lays out elements. */
export interface Encoding {
  explicitVr: boolean;
  littleEndian: boolean;
}

/** The encoding of a transfer syntax; throws DatasetError for deflated syntaxes. */
export function encodingOf(transferSyntaxUid: string): Encoding {
  const ts = TRANSFER_SYNTAXES.get(transferSyntaxUid) ?? TRANSFER_SYNTAXES.get(EXPLICIT_VR_LE)!;
  if (ts.deflated) {
    throw new DatasetError(`deflated transfer syntax ${ts.uid} is not supported here`);
  }
  return { explicitVr: ts.explicitVr, littleEndian: ts.littleEndian };
}

const words = (text: string) =>
  text.trim().split(
    /\s+/,
  ); /** Binary VRs and their word size, byte-swapped in Big Endian (PS3.5 7.3); AT as 16-bit halves. */
const WORD_SIZE: ReadonlyMap<string, number> = new Map(
  words("AT2 FD8 FL4 OD8 OF4 OL4 OV8 OW2 SL4 SS2 SV8 UL4 US2 UV8").map((
    w,
  ) => [w.slice(0, 2), Number(w.slice(2))]),
);
/** VRs whose text is in the Specific Character Set (PS3.5 6.1.2.3); others are ASCII. */
const CHARSET_VRS = new Set(words("LO LT PN SH ST UC UT"));
/** String VRs (PS3.5 6.2): padded to even length, with NUL for UI and space otherwise. */
const STRING_VRS = new Set(words("AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT"));

export function isStringVr(vr: string): boolean {
  return STRING_VRS.has(vr);
}

export function usesCharset(vr: string): boolean {
  return CHARSET_VRS.has(vr);
}

// The VRs of the attributes queries and headers commonly carry (PS3.6 Table 6-1), as
// "GGGGEEEE VR" pairs. Tags not listed read as UN in Implicit VR.
const DICTIONARY_TEXT = `
00080005CS 00080008CS 00080012DA 00080013TM 00080014UI 00080016UI 00080018UI 00080020DA
00080021DA 00080022DA 00080023DA 0008002ADT 00080030TM 00080031TM 00080032TM 00080033TM
00080050SH 00080051SQ 00080052CS 00080053CS 00080054AE 00080055AE 00080056CS 00080058UI
00080060CS 00080061CS 00080062UI 00080064CS 00080068CS 00080070LO 00080080LO 00080081ST
00080090PN 00080096SQ 00080100SH 00080102SH 00080103SH 00080104LO 00080201SH 00081010SH
00081030LO 00081032SQ 0008103ELO 00081040LO 00081048PN 00081050PN 00081060PN 00081070PN
00081080LO 00081090LO 00081110SQ 00081111SQ 00081115SQ 00081120SQ 00081140SQ 00081150UI
00081155UI 00081160IS 00081190UR 00081195UI 00081197US 00081198SQ 00081199SQ 00082111ST 00082218SQ 00083001SQ 00083002UI
00089007CS 00100010PN 00100020LO 00100021LO 00100022CS 00100024SQ 00100030DA 00100032TM
00100040CS 00100050SQ 00101000LO 00101001PN 00101002SQ 00101005PN 00101010AS 00101020DS
00101030DS 00101040LO 00101060PN 00102000LO 00102110LO 00102150LO 00102154SH 00102160SH
00102180SH 001021B0LT 001021C0US 00104000LT 00180010LO 00180015CS 00180020CS 00180050DS
00180060DS 00180087DS 00180088DS 00181000LO 00181020LO 00181030LO 00181150IS 00181151IS
00181152IS 00185100CS 00185101CS 0020000DUI 0020000EUI 00200010SH 00200011IS 00200012IS
00200013IS 00200020CS 00200032DS 00200037DS 00200052UI 00200060CS 00200062CS 00201002IS
00201040LO 00201041DS 00201200IS 00201202IS 00201204IS 00201206IS 00201208IS 00201209IS
00204000LT 00280002US 00280004CS 00280008IS 00280010US 00280011US 00280030DS 00280100US
00280101US 00280102US 00280103US 00281050DS 00281051DS 00281052DS 00281053DS 00282110CS
00321032PN 00321033LO 00321060LO 00321064SQ 00324000LT 00380010LO 00380500LO 00400007LO
00400009SH 00400244DA 00400245TM 00400253SH 00400254LO 00400275SQ 00401001SH 0040A032DT
0040A043SQ 0040A073SQ 0040A075PN 0040A491CS 0040A493CS 0040A730SQ 00420010ST 00420011OB
00420012LO 00540081US 00700080CS 00700081LO 00700084PN 00880130SH 00880140UI 30060002SH
300A0002SH 7FE00010OW`;

const DICTIONARY: ReadonlyMap<number, string> = new Map(
  words(DICTIONARY_TEXT).map((e) => [parseInt(e.slice(0, 8), 16), e.slice(8)]),
);

/** The VR of a tag for Implicit VR data: dictionary, group lengths, private creators, or UN. */
export function vrOf(tag: number): string {
  const known = DICTIONARY.get(tag);
  if (known) return known;
  const element = tag & 0xffff;
  if (element === 0) return "UL"; // group length
  if ((tag >>> 16) & 1 && element >= 0x0010 && element <= 0x00ff) return "LO"; // private creator
  return "UN";
}

const UNDEFINED = 0xffffffff;
const MAX_DEPTH = 64;

interface Reader {
  bytes: Uint8Array;
  dv: DataView;
  le: boolean;
  vrOf: (tag: number) => string;
}

export interface DecodeOptions {
  /** Stop before the first top-level element whose tag is above this one. */
  stopAfterTag?: number;
  /** A value cut short at the end of the bytes ends decoding instead of throwing. */
  allowTruncated?: boolean;
  /** The VR of an Implicit VR element (default: the small dictionary of vrOf()). */
  vrOf?: (tag: number) => string;
}

export interface DecodeResult {
  elements: DataElement[];
  /** True when decoding stopped at stopAfterTag or Pixel Data: later bytes are not needed. */
  stopped: boolean;
  /** True when the bytes ended inside an element (only with allowTruncated). */
  truncated: boolean;
  /** Where decoding ended: the offset of the element it stopped at, or of the cut. */
  end: number;
}

/** Decodes a dataset (no file meta). Throws DatasetError on malformed data. */
export function decodeDataset(bytes: Uint8Array, encoding: Encoding): DataElement[] {
  return decodeDatasetPart(bytes, encoding).elements;
}

/** Decodes a dataset's top level, with the stopping rules of `options`. */
export function decodeDatasetPart(
  bytes: Uint8Array,
  encoding: Encoding,
  options: DecodeOptions = {},
): DecodeResult {
  const r: Reader = {
    bytes,
    dv: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    le: encoding.littleEndian,
    vrOf: options.vrOf ?? vrOf,
  };
  const elements: DataElement[] = [];
  let at = 0;
  const stopAfter = options.stopAfterTag ?? 0xffffffff;
  while (at < bytes.length) {
    if (bytes.length - at < 8) {
      if (options.allowTruncated) return { elements, stopped: false, truncated: true, end: at };
      throw new DatasetError(`dataset truncated in an element header at byte ${at}`);
    }
    const tag = readTag(r, at);
    if (tag > stopAfter || tag === Tag.PixelData) {
      return { elements, stopped: true, truncated: false, end: at };
    }
    try {
      const [element, next] = readElement(r, at, encoding.explicitVr, 0);
      elements.push(element);
      at = next;
    } catch (e) {
      if (options.allowTruncated && e instanceof TruncatedError) {
        return { elements, stopped: false, truncated: true, end: at };
      }
      throw e;
    }
  }
  return { elements, stopped: false, truncated: false, end: at };
}

class TruncatedError extends DatasetError {}

function readTag(r: Reader, at: number): number {
  return ((r.dv.getUint16(at, r.le) << 16) | r.dv.getUint16(at + 2, r.le)) >>> 0;
}

function need(r: Reader, at: number, n: number, what: string): void {
  if (n > r.bytes.length - at) {
    throw new TruncatedError(`dataset truncated: ${what} needs ${n} bytes at byte ${at}`);
  }
}

/** Reads one element at `at`; returns it and the offset after it. */
function readElement(
  r: Reader,
  at: number,
  explicit: boolean,
  depth: number,
): [DataElement, number] {
  need(r, at, 8, "an element header");
  const tag = readTag(r, at);
  let vr: string;
  let length: number;
  let pos: number;
  const vrText = String.fromCharCode(r.bytes[at + 4], r.bytes[at + 5]);
  if (explicit && KNOWN_VRS.has(vrText)) {
    vr = vrText;
    if (LONG_VRS.has(vr)) {
      need(r, at, 12, "an element header");
      length = r.dv.getUint32(at + 8, r.le);
      pos = at + 12;
    } else {
      length = r.dv.getUint16(at + 6, r.le);
      pos = at + 8;
    }
  } else if (explicit) {
    throw new DatasetError(`${tagString(tag)} has an unknown VR at byte ${at}`);
  } else {
    vr = r.vrOf(tag);
    length = r.dv.getUint32(at + 4, r.le);
    pos = at + 8;
  }
  if (vr === "SQ" || (length === UNDEFINED && vr === "UN")) {
    // PS3.5 6.2.2: a UN of undefined length holds an Implicit VR LE sequence.
    const nestedExplicit = vr === "SQ" ? explicit : false;
    const [items, next] = readItems(r, pos, length, nestedExplicit, depth + 1);
    return [{ tag, vr: "SQ", value: new Uint8Array(0), items }, next];
  }
  if (length === UNDEFINED) {
    // Encapsulated pixel data or similar: skip its fragments, keep no value.
    return [{ tag, vr, value: new Uint8Array(0) }, skipFragments(r, pos)];
  }
  need(r, pos, length, tagString(tag));
  let value: Uint8Array = r.bytes.slice(pos, pos + length);
  if (!r.le) value = swap(value, vr);
  return [{ tag, vr, value }, pos + length];
}

function readItems(
  r: Reader,
  start: number,
  length: number,
  explicit: boolean,
  depth: number,
): [DataElement[][], number] {
  if (depth > MAX_DEPTH) throw new DatasetError(`sequences nested deeper than ${MAX_DEPTH}`);
  const items: DataElement[][] = [];
  const end = length === UNDEFINED ? Infinity : start + length;
  if (end !== Infinity) need(r, start, length, "a sequence");
  let at = start;
  while (at < end) {
    need(r, at, 8, "an item header");
    const tag = readTag(r, at);
    const itemLength = r.dv.getUint32(at + 4, r.le);
    at += 8;
    if (tag === Tag.SequenceDelimitationItem) {
      if (end === Infinity) return [items, at];
      continue; // stray delimiter inside a defined-length sequence: tolerated
    }
    if (tag !== Tag.Item) throw new DatasetError(`${tagString(tag)} inside a sequence`);
    const item: DataElement[] = [];
    const itemEnd = itemLength === UNDEFINED ? Infinity : at + itemLength;
    if (itemEnd !== Infinity) need(r, at, itemLength, "an item");
    while (at < itemEnd) {
      need(r, at, 8, "an element header");
      if (readTag(r, at) === Tag.ItemDelimitationItem) {
        at += 8;
        break;
      }
      const [element, next] = readElement(r, at, explicit, depth);
      item.push(element);
      at = next;
    }
    if (itemEnd !== Infinity && at !== itemEnd) {
      throw new DatasetError(`item length disagrees with its elements at byte ${at}`);
    }
    items.push(item);
  }
  if (end !== Infinity && at !== end) {
    throw new DatasetError(`sequence length disagrees with its items at byte ${at}`);
  }
  return [items, at];
}

function skipFragments(r: Reader, start: number): number {
  let at = start;
  for (;;) {
    need(r, at, 8, "a fragment header");
    const tag = readTag(r, at);
    const length = r.dv.getUint32(at + 4, r.le);
    at += 8;
    if (tag === Tag.SequenceDelimitationItem) return at;
    if (tag !== Tag.Item || length === UNDEFINED) {
      throw new DatasetError(`bad fragment ${tagString(tag)} at byte ${at - 8}`);
    }
    need(r, at, length, "a fragment");
    at += length;
  }
}

/** Reverses each word of a binary value (Big Endian <-> Little Endian). */
function swap(value: Uint8Array, vr: string): Uint8Array {
  const size = WORD_SIZE.get(vr);
  if (!size) return value;
  const out = new Uint8Array(value.length);
  const whole = value.length - (value.length % size);
  for (let i = 0; i < whole; i += size) {
    for (let k = 0; k < size; k++) out[i + k] = value[i + size - 1 - k];
  }
  out.set(value.subarray(whole), whole);
  return out;
}

/**
 * Encodes elements (sorted by tag at every level) in the given encoding: sizes measured first,
 * then every header and value written into one buffer (no buffer per element).
 */
export function encodeDataset(elements: readonly DataElement[], encoding: Encoding): Uint8Array {
  const sorted = sortedByTag(elements);
  const out = new Uint8Array(measure(sorted, encoding));
  const w: Writer = { out, dv: new DataView(out.buffer), e: encoding };
  writeElements(sorted, w, 0);
  return out;
}

interface Writer {
  out: Uint8Array;
  dv: DataView;
  e: Encoding;
}

/** The elements in ascending tag order (the same array when already so). */
function sortedByTag(elements: readonly DataElement[]): readonly DataElement[] {
  for (let i = 1; i < elements.length; i++) {
    if (elements[i].tag < elements[i - 1].tag) {
      return [...elements].sort((a, b) => a.tag - b.tag);
    }
  }
  return elements;
}

/** The VR written in the header: one this codec does not know goes out as UN. */
function headerVr(vr: string, e: Encoding): string {
  return e.explicitVr && !KNOWN_VRS.has(vr) ? "UN" : vr;
}

function headerSize(vr: string, e: Encoding): number {
  return !e.explicitVr || !LONG_VRS.has(vr) ? 8 : 12;
}

/** Encoded bytes of `elements`, already sorted (items are sorted as they are measured). */
function measure(elements: readonly DataElement[], e: Encoding): number {
  let n = 0;
  for (const el of elements) {
    if (el.items) {
      n += headerSize("SQ", e);
      for (const item of el.items) n += 8 + measure(sortedByTag(item), e);
      continue;
    }
    const length = el.value.length + (el.value.length & 1);
    const vr = headerVr(el.vr, e);
    if (e.explicitVr && !LONG_VRS.has(vr) && length > 0xffff) {
      throw new DatasetError(`${tagString(el.tag)} ${vr} value of ${length} bytes is too long`);
    }
    n += headerSize(vr, e) + length;
  }
  return n;
}

/** Writes sorted elements from byte `at`; returns where they end. */
function writeElements(elements: readonly DataElement[], w: Writer, at: number): number {
  const e = w.e;
  for (const el of elements) {
    if (el.items) {
      const start = at;
      at += headerSize("SQ", e);
      for (const item of el.items) {
        const itemStart = at;
        at = writeElements(sortedByTag(item), w, at + 8);
        writeHeader(w, itemStart, Tag.Item, "", at - itemStart - 8, true);
      }
      writeHeader(w, start, el.tag, "SQ", at - start - headerSize("SQ", e), false);
      continue;
    }
    const value = el.value;
    const vr = headerVr(el.vr, e);
    const length = value.length + (value.length & 1);
    at = writeHeader(w, at, el.tag, vr, length, false);
    w.out.set(value, at);
    // Values have even length (PS3.5 7.1.1): UI pads with NUL, other strings with space.
    if (length > value.length) {
      w.out[at + value.length] = STRING_VRS.has(el.vr) && el.vr !== "UI" ? 0x20 : 0x00;
    }
    if (!e.littleEndian && WORD_SIZE.has(vr)) {
      const bytes = w.out.subarray(at, at + length);
      bytes.set(swap(bytes.slice(), vr));
    }
    at += length;
  }
  return at;
}

/** Writes an element or item header at `at`; returns where its value starts. */
function writeHeader(
  w: Writer,
  at: number,
  tag: number,
  vr: string,
  length: number,
  item: boolean,
): number {
  const { dv, e } = w;
  const le = e.littleEndian;
  dv.setUint16(at, tag >>> 16, le);
  dv.setUint16(at + 2, tag & 0xffff, le);
  if (item || !e.explicitVr) {
    dv.setUint32(at + 4, length, le);
    return at + 8;
  }
  w.out[at + 4] = vr.charCodeAt(0);
  w.out[at + 5] = vr.charCodeAt(1);
  if (LONG_VRS.has(vr)) {
    // Bytes 6-7 reserved (zero in a fresh buffer).
    dv.setUint32(at + 8, length, le);
    return at + 12;
  }
  dv.setUint16(at + 6, length, le);
  return at + 8;
}

// ---- values ----

/**
 * The text of a string element: decoded with the Specific Character Set where the VR uses it,
 * trailing padding removed (leading spaces kept, as in the index).
 */
export function textOf(el: DataElement, specificCharacterSet: string): string {
  const cs = CHARSET_VRS.has(el.vr) ? specificCharacterSet : "";
  const text = decodeString(el.value, cs, el.vr === "PN");
  return text.replace(/[ \0]+$/, "");
}

/**
 * A string element for `text` in the given character set; null when the set cannot hold it.
 * VRs outside the character set repertoire are written as ASCII.
 */
export function textElement(
  tag: number,
  vr: string,
  text: string,
  specificCharacterSet: string,
): DataElement | null {
  const value = CHARSET_VRS.has(vr)
    ? encodeString(text, specificCharacterSet)
    : encodeString(text, "");
  return value ? { tag, vr, value } : null;
}

/** Numbers of a binary element (US, SS, UL, SL, FL, FD, SV, UV), little endian. */
export function numbersOf(el: DataElement): number[] {
  const size = WORD_SIZE.get(el.vr);
  if (!size || el.vr.startsWith("O") || el.vr === "AT") return [];
  const dv = new DataView(el.value.buffer, el.value.byteOffset, el.value.byteLength);
  const out: number[] = [];
  for (let i = 0; i + size <= el.value.length; i += size) {
    switch (el.vr) {
      case "US":
        out.push(dv.getUint16(i, true));
        break;
      case "SS":
        out.push(dv.getInt16(i, true));
        break;
      case "UL":
        out.push(dv.getUint32(i, true));
        break;
      case "SL":
        out.push(dv.getInt32(i, true));
        break;
      case "FL":
        out.push(dv.getFloat32(i, true));
        break;
      case "FD":
        out.push(dv.getFloat64(i, true));
        break;
      case "SV":
        out.push(Number(dv.getBigInt64(i, true)));
        break;
      case "UV":
        out.push(Number(dv.getBigUint64(i, true)));
        break;
    }
  }
  return out;
}

/** Finds a top-level element by tag. */
export function findElement(
  elements: readonly DataElement[],
  tag: number,
): DataElement | undefined {
  return elements.find((e) => e.tag === tag);
}

/** The Specific Character Set (0008,0005) of an element list, or "". */
export function charsetOf(elements: readonly DataElement[]): string {
  const el = findElement(elements, Tag.SpecificCharacterSet);
  return el ? textOf(el, "").trim() : "";
}
