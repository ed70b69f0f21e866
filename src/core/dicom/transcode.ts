// Streaming re-encoding of a dataset into an uncompressed transfer syntax. Between the
// uncompressed syntaxes, losslessly: Implicit VR LE <-> Explicit VR LE, and from Explicit VR
// Big Endian (PS3.5 7.1, 7.3, 7.5, A.1-A.3). A deflated dataset is inflated first (A.5); one
// with encapsulated Pixel Data is decoded frame by frame (decompression.ts, A.4). Values keep
// their bytes (byte-swapped from Big Endian); only element headers change. Lengths of
// sequences and items change with the headers, so every sequence and item is written with
// undefined length and delimiters. Memory: an element header, a partial word and the stack of
// open sequences, whatever the object's size.
import { canDecodeFrames } from "../codecs/registry.ts";
import { inflateDataset } from "../codecs/deflate.ts";
import { decompressDataset, type FrameInto } from "./decompression.ts";
import { dictionaryVrCode } from "./dictionary.ts";
import { Tag, tagString } from "./tags.ts";
import {
  DEFLATED_EXPLICIT_VR_LE,
  EXPLICIT_VR_BE,
  EXPLICIT_VR_LE,
  IMPLICIT_VR_LE,
} from "./transfer_syntaxes.ts";
import { LONG_VRS, SHORT_VRS } from "./vr.ts";

export class TranscodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TranscodeError";
  }
}

const SOURCES = new Set([IMPLICIT_VR_LE, EXPLICIT_VR_LE, EXPLICIT_VR_BE]);
const TARGETS = new Set([IMPLICIT_VR_LE, EXPLICIT_VR_LE]);

/**
 * True when a dataset in `from` can be re-encoded here into `to` (and they differ): between
 * the uncompressed syntaxes, from Deflated Explicit VR LE, and by decoding every encapsulated
 * syntax a codec is there for (into Explicit VR Big Endian too, for 8 and 16-bit images).
 */
export function canTranscode(from: string, to: string): boolean {
  if (from === to) return false;
  if (SOURCES.has(from) || from === DEFLATED_EXPLICIT_VR_LE) return TARGETS.has(to);
  return canDecodeFrames(from) && (TARGETS.has(to) || to === EXPLICIT_VR_BE);
}

/** True when going from `from` to `to` decodes pixels (not only re-encodes headers). */
export function decodesPixels(from: string, to: string): boolean {
  return canTranscode(from, to) && canDecodeFrames(from);
}

const UNDEFINED = 0xffffffff;
const MAX_DEPTH = 128;
const BITS_ALLOCATED = 0x00280100;
const PIXEL_REPRESENTATION = 0x00280103;

const words = (text: string) => text.trim().split(/\s+/);
/** Binary VRs and their word size, swapped between byte orders (PS3.5 7.3); AT as halves. */
const WORD_SIZE: ReadonlyMap<string, number> = new Map(
  words("AT2 FD8 FL4 OD8 OF4 OL4 OV8 OW2 SL4 SS2 SV8 UL4 US2 UV8").map((w) => [
    w.slice(0, 2),
    Number(w.slice(2)),
  ]),
);

/** An open sequence or item. */
interface Container {
  kind: "sequence" | "item";
  /** Inside a UN of undefined length: Implicit VR LE (PS3.5 6.2.2), passed on unchanged. */
  raw: boolean;
  /** Input offset where a defined-length container ends; undefined when delimited. */
  end?: number;
}

type ValueMode = "copy" | "swap" | "drop";

/**
 * Re-encodes a dataset (no file meta) fed chunk by chunk. push() returns the output bytes the
 * chunk completed (pieces may be views into the chunk: use them before the next push).
 * Throws TranscodeError for malformed data or encapsulated Pixel Data.
 */
export class DatasetTranscoder {
  readonly #sourceExplicit: boolean;
  readonly #sourceLittle: boolean;
  readonly #targetExplicit: boolean;
  readonly #stack: Container[] = [];
  readonly #head = new Uint8Array(12);
  readonly #headView = new DataView(this.#head.buffer);
  #headHave = 0;
  #headNeed = 8;
  #inValue = false;
  #remaining = 0;
  #mode: ValueMode = "copy";
  #wordSize = 0;
  readonly #carry = new Uint8Array(8);
  #carryHave = 0;
  /** Top-level values that decide the VR of ambiguous tags in Implicit VR. */
  #capture: number | undefined;
  #captured: number[] = [];
  #bitsAllocated = 16;
  #pixelRepresentation = 0;
  #position = 0;
  #out: Uint8Array[] = [];

  constructor(from: string, to: string) {
    if (from === to || !SOURCES.has(from) || !TARGETS.has(to)) {
      throw new TranscodeError(`cannot re-encode ${from} as ${to}`);
    }
    this.#sourceExplicit = from !== IMPLICIT_VR_LE;
    this.#sourceLittle = from !== EXPLICIT_VR_BE;
    this.#targetExplicit = to === EXPLICIT_VR_LE;
  }

  /** Input bytes consumed so far. */
  get position(): number {
    return this.#position;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    let at = 0;
    while (at < chunk.length) { // each pass consumes at least one byte
      if (this.#inValue) {
        const n = Math.min(this.#remaining, chunk.length - at);
        this.#value(chunk.subarray(at, at + n));
        at += n;
        this.#position += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#endValue();
        continue;
      }
      const n = Math.min(this.#headNeed - this.#headHave, chunk.length - at);
      this.#head.set(chunk.subarray(at, at + n), this.#headHave);
      this.#headHave += n;
      this.#position += n;
      at += n;
      if (this.#headHave === this.#headNeed) this.#onHeader();
    }
    return this.#take();
  }

  /** All input given: returns the last bytes, or throws if the dataset is cut short. */
  end(): Uint8Array[] {
    if (this.#inValue || this.#headHave > 0) {
      throw new TranscodeError(`dataset ends inside an element at byte ${this.#position}`);
    }
    if (this.#stack.length > 0) {
      throw new TranscodeError("dataset ends inside a sequence");
    }
    return this.#take();
  }

  #take(): Uint8Array[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  // ---- headers ----

  #onHeader(): void {
    const top = this.#stack.at(-1);
    const view = this.#headView;
    if (top?.raw) {
      this.#headHave = 0;
      const rawTag = ((view.getUint16(0, true) << 16) | view.getUint16(2, true)) >>> 0;
      return this.#rawElement(rawTag, view.getUint32(4, true));
    }
    const le = this.#sourceLittle;
    const tag = ((view.getUint16(0, le) << 16) | view.getUint16(2, le)) >>> 0;
    // Items and delimiters have no VR in any transfer syntax (PS3.5 7.5).
    if (tag >>> 16 === 0xfffe) {
      this.#headHave = 0;
      return this.#delimiter(tag, view.getUint32(4, le));
    }
    if (!this.#sourceExplicit) {
      this.#headHave = 0;
      const length = view.getUint32(4, le);
      return this.#element(tag, this.#implicitVr(tag, length), length);
    }
    const vr = String.fromCharCode(this.#head[4], this.#head[5]);
    if (LONG_VRS.has(vr)) {
      if (this.#headNeed === 8) {
        this.#headNeed = 12; // 2 reserved bytes and a 4-byte length follow
        return;
      }
      this.#headNeed = 8;
      this.#headHave = 0;
      return this.#element(tag, vr, view.getUint32(8, le));
    }
    if (SHORT_VRS.has(vr)) {
      this.#headHave = 0;
      return this.#element(tag, vr, view.getUint16(6, le));
    }
    throw new TranscodeError(
      `bad VR ${JSON.stringify(vr)} for ${tagString(tag)} at byte ${this.#position - 8}`,
    );
  }

  /** The VR an Implicit VR element gets in Explicit VR (PS3.5 6.2.2, A.1). */
  #implicitVr(tag: number, length: number): string {
    const element = tag & 0xffff;
    if (element === 0) return "UL"; // group length
    if ((tag >>> 16) & 1) return element >= 0x10 && element <= 0xff ? "LO" : "UN"; // private
    const vr = dictionaryVrCode(tag);
    switch (vr) {
      case "up":
        return "UL";
      case "ox": // OB or OW
        return tag === Tag.PixelData && this.#bitsAllocated <= 8 ? "OB" : "OW";
      case "xs": // US or SS
        return this.#pixelRepresentation === 1 ? "SS" : "US";
      case "lt": // US or SS or OW (LUT Data)
        return length === UNDEFINED || length > 0xffff ? "OW" : "US";
    }
    if (!LONG_VRS.has(vr) && !SHORT_VRS.has(vr)) return "UN";
    // A value too long for a 2-byte length cannot keep a short VR (PS3.5 6.2.2 note).
    if (SHORT_VRS.has(vr) && length !== UNDEFINED && length > 0xffff) return "UN";
    return vr;
  }

  #delimiter(tag: number, length: number): void {
    const top = this.#stack.at(-1);
    const at = `${tagString(tag)} at byte ${this.#position - 8}`;
    if (tag === Tag.Item) {
      if (top?.kind !== "sequence") throw new TranscodeError(`item outside a sequence: ${at}`);
      this.#open({
        kind: "item",
        raw: false,
        end: length === UNDEFINED ? undefined : this.#position + length,
      });
      this.#emitHeader(Tag.Item, "", UNDEFINED);
    } else if (tag === Tag.ItemDelimitationItem) {
      if (top?.kind !== "item" || top.end !== undefined) {
        throw new TranscodeError(`item delimiter outside an undefined-length item: ${at}`);
      }
      this.#stack.pop();
      this.#emitHeader(Tag.ItemDelimitationItem, "", 0);
    } else if (tag === Tag.SequenceDelimitationItem) {
      if (top?.kind !== "sequence" || top.end !== undefined) {
        throw new TranscodeError(`sequence delimiter outside an undefined-length sequence: ${at}`);
      }
      this.#stack.pop();
      this.#emitHeader(Tag.SequenceDelimitationItem, "", 0);
    } else {
      throw new TranscodeError(`unexpected ${at}`);
    }
    this.#closeEnded();
  }

  #element(tag: number, vr: string, length: number): void {
    const top = this.#stack.at(-1);
    if (top?.kind === "sequence") {
      throw new TranscodeError(
        `${tagString(tag)} directly inside a sequence at byte ${this.#position}`,
      );
    }
    if ((tag & 0xffff) === 0) {
      // Group lengths (retired in datasets) would be wrong once headers change: dropped.
      if (length === UNDEFINED) throw new TranscodeError(`${tagString(tag)} of undefined length`);
      return this.#startValue(length, "drop", 0);
    }
    if (length === UNDEFINED) {
      if (vr === "SQ") {
        this.#open({ kind: "sequence", raw: false });
        this.#emitHeader(tag, "SQ", UNDEFINED);
        return;
      }
      if (vr === "UN" || !this.#sourceExplicit) {
        // PS3.5 6.2.2: its content is Implicit VR LE in every syntax; it stays as it is.
        this.#open({ kind: "sequence", raw: true });
        this.#emitHeader(tag, "UN", UNDEFINED);
        return;
      }
      if (tag === Tag.PixelData) {
        throw new TranscodeError("encapsulated Pixel Data cannot be re-encoded");
      }
      throw new TranscodeError(`undefined length for VR ${vr}: ${tagString(tag)}`);
    }
    if (vr === "SQ") {
      this.#open({ kind: "sequence", raw: false, end: this.#position + length });
      this.#emitHeader(tag, "SQ", UNDEFINED);
      return this.#closeEnded();
    }
    this.#emitHeader(tag, vr, length);
    if (!this.#sourceExplicit && !top && length === 2) {
      if (tag === BITS_ALLOCATED || tag === PIXEL_REPRESENTATION) {
        this.#capture = tag;
        this.#captured = [];
      }
    }
    const size = this.#sourceLittle ? 0 : WORD_SIZE.get(vr) ?? 0;
    this.#startValue(length, size > 1 ? "swap" : "copy", size);
  }

  /** An element inside a UN of undefined length: Implicit VR LE, copied as it is. */
  #rawElement(tag: number, length: number): void {
    const top = this.#stack.at(-1)!;
    this.#out.push(this.#head.slice(0, 8));
    if (tag === Tag.Item) {
      if (top.kind !== "sequence") throw new TranscodeError("item outside a sequence in UN");
      if (length === UNDEFINED) return this.#open({ kind: "item", raw: true });
    } else if (tag === Tag.ItemDelimitationItem || tag === Tag.SequenceDelimitationItem) {
      const kind = tag === Tag.ItemDelimitationItem ? "item" : "sequence";
      if (top.kind !== kind) {
        throw new TranscodeError(`misplaced delimiter ${tagString(tag)} in UN`);
      }
      this.#stack.pop();
      return this.#closeEnded();
    } else {
      if (top.kind !== "item") throw new TranscodeError("element directly inside a sequence in UN");
      if (length === UNDEFINED) return this.#open({ kind: "sequence", raw: true });
    }
    this.#startValue(length, "copy", 0);
  }

  #open(container: Container): void {
    if (this.#stack.length >= MAX_DEPTH) {
      throw new TranscodeError(`sequences nested deeper than ${MAX_DEPTH}`);
    }
    this.#stack.push(container);
  }

  /** Closes the defined-length sequences and items that end here, with delimiters. */
  #closeEnded(): void {
    for (;;) {
      const top = this.#stack.at(-1);
      if (!top || top.raw || top.end === undefined || this.#position < top.end) return;
      if (this.#position > top.end) {
        throw new TranscodeError(`an element overruns its ${top.kind} at byte ${this.#position}`);
      }
      this.#stack.pop();
      this.#emitHeader(
        top.kind === "item" ? Tag.ItemDelimitationItem : Tag.SequenceDelimitationItem,
        "",
        0,
      );
    }
  }

  /** Writes an element, item or delimiter header in the target syntax (always LE). */
  #emitHeader(tag: number, vr: string, length: number): void {
    const explicit = this.#targetExplicit && vr !== "";
    const long = explicit && LONG_VRS.has(vr);
    const out = new Uint8Array(long ? 12 : 8);
    const dv = new DataView(out.buffer);
    dv.setUint16(0, tag >>> 16, true);
    dv.setUint16(2, tag & 0xffff, true);
    if (!explicit) {
      dv.setUint32(4, length, true);
    } else {
      out[4] = vr.charCodeAt(0);
      out[5] = vr.charCodeAt(1);
      if (long) dv.setUint32(8, length, true);
      else dv.setUint16(6, length, true);
    }
    this.#out.push(out);
  }

  // ---- values ----

  #startValue(length: number, mode: ValueMode, wordSize: number): void {
    this.#mode = mode;
    this.#wordSize = wordSize;
    this.#carryHave = 0;
    if (length === 0) return this.#endValue();
    this.#inValue = true;
    this.#remaining = length;
  }

  #value(bytes: Uint8Array): void {
    if (this.#capture !== undefined) this.#captured.push(...bytes);
    if (this.#mode === "drop") return;
    if (this.#mode === "copy") {
      this.#out.push(bytes);
      return;
    }
    // Big Endian words, reversed; a word cut by the chunk boundary waits in the carry.
    const size = this.#wordSize;
    let at = 0;
    if (this.#carryHave > 0) {
      const n = Math.min(size - this.#carryHave, bytes.length);
      this.#carry.set(bytes.subarray(0, n), this.#carryHave);
      this.#carryHave += n;
      at = n;
      if (this.#carryHave < size) return;
      this.#out.push(swapped(this.#carry.subarray(0, size), size));
      this.#carryHave = 0;
    }
    const whole = at + Math.floor((bytes.length - at) / size) * size;
    if (whole > at) this.#out.push(swapped(bytes.subarray(at, whole), size));
    if (whole < bytes.length) {
      this.#carry.set(bytes.subarray(whole), 0);
      this.#carryHave = bytes.length - whole;
    }
  }

  #endValue(): void {
    this.#inValue = false;
    if (this.#carryHave > 0) {
      // A value whose length is not a whole number of words: its tail goes as it is.
      this.#out.push(this.#carry.slice(0, this.#carryHave));
      this.#carryHave = 0;
    }
    if (this.#capture !== undefined) {
      const v = this.#captured[0] | (this.#captured[1] << 8);
      if (this.#capture === BITS_ALLOCATED) this.#bitsAllocated = v;
      else this.#pixelRepresentation = v;
      this.#capture = undefined;
    }
    this.#closeEnded();
  }
}

/** A copy of `bytes` with each word of `size` bytes reversed. */
function swapped(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) {
    for (let k = 0; k < size; k++) out[i + k] = bytes[i + size - 1 - k];
  }
  return out;
}

/**
 * Re-encodes a streamed dataset; yields output pieces as the input arrives. Throws
 * TranscodeError when it cannot (corrupt data included); what was yielded by then is a
 * partial object the caller must not deliver. A piece is valid until the next one is asked
 * for (buffers are reused): use or copy it before. `frameInto` may say where each decoded
 * frame goes (decompressDataset()).
 */
export async function* transcodeDataset(
  source: AsyncIterable<Uint8Array>,
  from: string,
  to: string,
  frameInto?: FrameInto,
): AsyncGenerator<Uint8Array> {
  if (!canTranscode(from, to)) throw new TranscodeError(`cannot re-encode ${from} as ${to}`);
  if (canDecodeFrames(from)) {
    try {
      yield* decompressDataset(source, from, to, frameInto);
    } catch (e) {
      throw new TranscodeError(`cannot decode ${from}: ${(e as Error).message}`);
    }
    return;
  }
  if (from === DEFLATED_EXPLICIT_VR_LE) {
    const inflated = inflateDataset(source);
    if (to === EXPLICIT_VR_LE) {
      try {
        yield* inflated;
      } catch (e) {
        throw new TranscodeError((e as Error).message);
      }
      return;
    }
    source = inflated;
    from = EXPLICIT_VR_LE;
  }
  const t = new DatasetTranscoder(from, to);
  try {
    for await (const chunk of source) {
      for (const piece of t.push(chunk)) yield piece;
    }
  } catch (e) {
    if (e instanceof TranscodeError) throw e;
    throw new TranscodeError((e as Error).message);
  }
  for (const piece of t.end()) yield piece;
}
