// Decoding an object with encapsulated Pixel Data (PS3.5 A.4) into a native one, streamed: the
// attributes before Pixel Data are read and rewritten (Photometric Interpretation, Planar
// Configuration, Lossy Image Compression, PS3.3 C.7.6.3 and C.7.6.1.1.5), then each frame is
// gathered from its fragments, decoded and written out before the next is read. Memory: the
// header, one compressed and one decoded frame, whatever the number of frames.
import { CodecError, frameLength, type ImageDescription } from "../codecs/codec.ts";
import { frameDecoder, isLossySyntax, lossyMethod, RLE_LOSSLESS } from "../codecs/registry.ts";
import { decodedPhotometric } from "../codecs/photometric.ts";
import {
  type DataElement,
  decodeDatasetPart,
  encodeDataset,
  type Encoding,
  encodingOf,
  findElement,
  numbersOf,
  textOf,
} from "./dataset.ts";
import { Tag, tagString } from "./tags.ts";
import { EXPLICIT_VR_LE } from "./transfer_syntaxes.ts";

export class DecompressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecompressionError";
  }
}

const UNDEFINED = 0xffffffff;
/** The attributes before Pixel Data never need more than this. */
const MAX_HEADER = 64 * 1024 * 1024;
/** Elements after Pixel Data (signatures, padding) are read whole, up to this. */
const MAX_TRAILER = 16 * 1024 * 1024;
const ExtendedOffsetTable = 0x7fe00001;
const ExtendedOffsetTableLengths = 0x7fe00002;
const SamplesPerPixel = 0x00280002;
const PhotometricInterpretation = 0x00280004;
const PlanarConfiguration = 0x00280006;
const NumberOfFrames = 0x00280008;
const Rows = 0x00280010;
const Columns = 0x00280011;
const BitsAllocated = 0x00280100;
const BitsStored = 0x00280101;
const PixelRepresentation = 0x00280103;
const LossyImageCompression = 0x00282110;
const LossyImageCompressionMethod = 0x00282114;
const DataSetTrailingPadding = 0xfffcfffc;

/** Reads a stream of chunks as exact byte counts. */
class ByteReader {
  readonly #source: AsyncIterator<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #have = 0;
  #ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  get buffered(): number {
    return this.#have;
  }

  get ended(): boolean {
    return this.#ended && this.#have === 0;
  }

  /** Reads one more chunk into the buffer; false at the end of the stream. */
  async more(): Promise<boolean> {
    if (this.#ended) return false;
    const r = await this.#source.next();
    if (r.done) {
      this.#ended = true;
      return false;
    }
    if (r.value.length) {
      this.#chunks.push(r.value);
      this.#have += r.value.length;
    }
    return true;
  }

  /** Everything buffered, as one array (joined once; later reads see the joined copy). */
  peekAll(): Uint8Array {
    if (this.#chunks.length > 1) this.#chunks = [join(this.#chunks, this.#have)];
    return this.#chunks[0] ?? new Uint8Array(0);
  }

  /** Exactly n bytes, or throws when the stream ends first. */
  async take(n: number, what: string): Promise<Uint8Array> {
    while (this.#have < n) { // each pass reads a chunk or throws
      if (!(await this.more())) {
        throw new DecompressionError(`the dataset ends inside ${what}`);
      }
    }
    const first = this.#chunks[0];
    if (first.length >= n) {
      this.#chunks[0] = first.subarray(n);
      if (this.#chunks[0].length === 0) this.#chunks.shift();
      this.#have -= n;
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.#chunks[0];
      const k = Math.min(c.length, n - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#have -= n;
    return out;
  }

  /** The rest of the stream, at most `limit` bytes. */
  async rest(limit: number, what: string): Promise<Uint8Array> {
    while (await this.more()) {
      if (this.#have > limit) throw new DecompressionError(`${what} is over ${limit} bytes`);
    }
    return this.#have ? await this.take(this.#have, what) : new Uint8Array(0);
  }

  async close(): Promise<void> {
    if (!this.#ended) await this.#source.return?.();
  }
}

function join(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function number(elements: DataElement[], tag: number, fallback?: number): number {
  const el = findElement(elements, tag);
  const n = el ? numbersOf(el)[0] : undefined;
  if (n !== undefined) return n;
  if (fallback !== undefined) return fallback;
  throw new DecompressionError(`${tagString(tag)} is missing: the image cannot be decoded`);
}

/** The Image Pixel Module of a header (PS3.3 C.7.6.3), checked for what can be decoded. */
export function imageDescription(elements: DataElement[]): ImageDescription & { frames: number } {
  const text = (tag: number) => {
    const el = findElement(elements, tag);
    return el ? textOf(el, "").trim() : "";
  };
  const image = {
    rows: number(elements, Rows),
    columns: number(elements, Columns),
    samplesPerPixel: number(elements, SamplesPerPixel, 1),
    bitsAllocated: number(elements, BitsAllocated),
    bitsStored: number(elements, BitsStored, number(elements, BitsAllocated)),
    pixelRepresentation: number(elements, PixelRepresentation, 0),
    photometricInterpretation: text(PhotometricInterpretation) || "MONOCHROME2",
    planarConfiguration: number(elements, PlanarConfiguration, 0),
    frames: Number(text(NumberOfFrames) || "1"),
  };
  if (image.bitsAllocated !== 8 && image.bitsAllocated !== 16) {
    throw new DecompressionError(`Bits Allocated ${image.bitsAllocated} cannot be decoded`);
  }
  if (image.samplesPerPixel !== 1 && image.samplesPerPixel !== 3) {
    throw new DecompressionError(`Samples per Pixel ${image.samplesPerPixel} cannot be decoded`);
  }
  if (!(image.rows > 0 && image.columns > 0)) {
    throw new DecompressionError(`an image of ${image.columns}x${image.rows} cannot be decoded`);
  }
  if (!Number.isInteger(image.frames) || image.frames < 1) {
    throw new DecompressionError(`Number of Frames "${text(NumberOfFrames)}" is not valid`);
  }
  return image;
}

function csElement(tag: number, value: string): DataElement {
  return { tag, vr: "CS", value: new TextEncoder().encode(value) };
}

function usElement(tag: number, value: number): DataElement {
  return { tag, vr: "US", value: new Uint8Array([value & 0xff, value >> 8]) };
}

/** The header of the decoded object: the attributes that describe its pixels now. */
export function decodedHeader(
  elements: DataElement[],
  image: ImageDescription,
  transferSyntaxUid: string,
): DataElement[] {
  const out = elements.filter((e) =>
    (e.tag & 0xffff) !== 0 && // group lengths would be wrong once re-encoded
    e.tag !== ExtendedOffsetTable && e.tag !== ExtendedOffsetTableLengths
  );
  const set = (el: DataElement) => {
    const i = out.findIndex((e) => e.tag === el.tag);
    if (i >= 0) out[i] = el;
    else out.push(el);
  };
  set(csElement(PhotometricInterpretation, decodedPhotometric(transferSyntaxUid, image)));
  if (image.samplesPerPixel > 1) set(usElement(PlanarConfiguration, 0));
  if (isLossySyntax(transferSyntaxUid)) {
    // Once lossy, always reported as lossy (PS3.3 C.7.6.1.1.5).
    set(csElement(LossyImageCompression, "01"));
    if (!findElement(out, LossyImageCompressionMethod)) {
      set(csElement(LossyImageCompressionMethod, lossyMethod(transferSyntaxUid)));
    }
  }
  return out;
}

function elementHeader(tag: number, vr: string, length: number, e: Encoding): Uint8Array {
  const explicit = e.explicitVr;
  const out = new Uint8Array(explicit ? 12 : 8);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, tag >>> 16, e.littleEndian);
  dv.setUint16(2, tag & 0xffff, e.littleEndian);
  if (!explicit) {
    dv.setUint32(4, length, e.littleEndian);
  } else {
    out[4] = vr.charCodeAt(0);
    out[5] = vr.charCodeAt(1);
    dv.setUint32(8, length, e.littleEndian);
  }
  return out;
}

function swap16(bytes: Uint8Array): Uint8Array {
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const t = bytes[i];
    bytes[i] = bytes[i + 1];
    bytes[i + 1] = t;
  }
  return bytes;
}

/** True when a fragment starts a new compressed frame (JPEG SOI, J2K SOC, JP2 signature). */
function startsFrame(fragment: Uint8Array): boolean {
  if (fragment.length < 2 || fragment[0] !== 0xff && fragment[0] !== 0x00) return false;
  if (fragment[0] === 0xff) return fragment[1] === 0xd8 || fragment[1] === 0x4f;
  return fragment.length >= 8 && fragment[4] === 0x6a && fragment[5] === 0x50; // "jP"
}

/**
 * Decodes a dataset (no file meta) in the encapsulated transfer syntax `from` into the native
 * syntax `to` (Explicit VR LE, Implicit VR LE or Explicit VR BE). Throws DecompressionError or
 * CodecError when it cannot; the caller decides what becomes of what was already yielded.
 * A yielded piece may be overwritten once the next one is asked for: use or copy it first.
 * `frameInto(length)` may give the buffer each frame is decoded into (a view of the caller's
 * own output, yielded as that frame's piece); else one buffer serves every frame.
 */
export async function* decompressDataset(
  source: AsyncIterable<Uint8Array>,
  from: string,
  to: string,
  frameInto?: FrameInto,
): AsyncGenerator<Uint8Array> {
  const target = encodingOf(to);
  const reader = new ByteReader(source);
  try {
    // ---- the attributes before Pixel Data ----
    let part;
    for (;;) { // each pass reads one more chunk or ends
      const bytes = reader.peekAll();
      try {
        part = decodeDatasetPart(bytes, { explicitVr: true, littleEndian: true }, {
          allowTruncated: true,
        });
      } catch (e) {
        throw new DecompressionError(`the header cannot be read: ${(e as Error).message}`);
      }
      if (part.stopped) break;
      if (reader.buffered > MAX_HEADER) {
        throw new DecompressionError(`no Pixel Data in the first ${MAX_HEADER} bytes`);
      }
      if (!(await reader.more())) {
        if (part.truncated) throw new DecompressionError("the dataset is cut short");
        break;
      }
    }
    await reader.take(part.end, "the header");
    if (!part.stopped) {
      // No Pixel Data at all: only the encoding changes.
      yield encodeDataset(part.elements.filter((e) => (e.tag & 0xffff) !== 0), target);
      return;
    }
    const image = imageDescription(part.elements);
    const pixelHeader = await reader.take(12, "the Pixel Data header");
    const pdv = new DataView(pixelHeader.buffer, pixelHeader.byteOffset, 12);
    if (pdv.getUint32(8, true) !== UNDEFINED) {
      throw new DecompressionError("Pixel Data is not encapsulated");
    }
    const decoder = await frameDecoder(from);
    const length = frameLength(image);
    const total = length * image.frames;
    const pad = total % 2; // values have even length (PS3.5 7.1.1)
    const vr = image.bitsAllocated > 8 ? "OW" : "OB";
    yield encodeDataset(decodedHeader(part.elements, image, from), target);
    yield elementHeader(Tag.PixelData, vr, total + pad, target);

    // ---- fragments, gathered into frames (PS3.5 A.4) ----
    const item = async (what: string) => {
      const h = await reader.take(8, what);
      const dv = new DataView(h.buffer, h.byteOffset, 8);
      const tag = ((dv.getUint16(0, true) << 16) | dv.getUint16(2, true)) >>> 0;
      const n = dv.getUint32(4, true);
      if (tag === Tag.SequenceDelimitationItem) return null;
      if (tag !== Tag.Item || n === UNDEFINED) {
        throw new DecompressionError(`bad ${what} ${tagString(tag)}`);
      }
      return n;
    };
    const botLength = await item("Basic Offset Table");
    if (botLength === null) throw new DecompressionError("Pixel Data has no Basic Offset Table");
    const bot = (await reader.take(botLength, "the Basic Offset Table")).slice();
    const offsets: number[] = [];
    const botView = new DataView(bot.buffer);
    for (let i = 0; i + 4 <= bot.length; i += 4) offsets.push(botView.getUint32(i, true));
    const useOffsets = image.frames > 1 && offsets.length === image.frames;

    let decoded = 0;
    let pending: Uint8Array[] = [];
    /** One frame buffer for all frames: the consumer is done with a piece when it asks for more. */
    let reuse: Uint8Array | undefined;
    let position = 0; // of the next fragment's item header, from the first one
    const flush = function* (): Generator<Uint8Array> {
      if (!pending.length) return;
      if (decoded >= image.frames) {
        throw new DecompressionError(`more than the ${image.frames} frames announced`);
      }
      const frame = pending.length === 1 ? pending[0] : join(pending, sum(pending));
      pending = [];
      const into = frameInto?.(length);
      let pixels = decoder.decode(frame, image, into ?? reuse);
      if (!into) reuse = pixels;
      if (pixels.length !== length) {
        throw new CodecError(
          `frame ${decoded + 1} decoded to ${pixels.length} bytes, not ${length}`,
        );
      }
      if (!target.littleEndian && image.bitsAllocated === 16) pixels = swap16(pixels);
      decoded++;
      yield pixels;
    };
    for (let k = 0;; k++) { // one fragment per pass, until the sequence delimiter
      const n = await item("fragment");
      if (n === null) break;
      const fragment = await reader.take(n, "a fragment");
      let starts: boolean;
      if (image.frames === 1) starts = k === 0;
      else if (useOffsets) starts = offsets.includes(position);
      else if (from === RLE_LOSSLESS) starts = true; // one fragment per frame (PS3.5 A.4.2)
      else starts = k === 0 || startsFrame(fragment);
      if (starts) yield* flush();
      pending.push(fragment.slice());
      position += 8 + n;
    }
    yield* flush();
    if (decoded !== image.frames) {
      throw new DecompressionError(`${decoded} frames found, ${image.frames} announced`);
    }
    if (pad) yield new Uint8Array(1);

    // ---- elements after Pixel Data ----
    const rest = await reader.rest(MAX_TRAILER, "what follows Pixel Data");
    if (rest.length) {
      let trailer;
      try {
        trailer = decodeDatasetPart(rest, encodingOf(EXPLICIT_VR_LE)).elements;
      } catch (e) {
        throw new DecompressionError(`after Pixel Data: ${(e as Error).message}`);
      }
      const kept = trailer.filter((e) => e.tag !== DataSetTrailingPadding);
      if (kept.length) yield encodeDataset(kept, target);
    }
  } finally {
    await reader.close();
  }
}

/** Where the caller wants the next frame of `length` bytes decoded; undefined: anywhere. */
export type FrameInto = (length: number) => Uint8Array | undefined;

function sum(parts: Uint8Array[]): number {
  return parts.reduce((n, p) => n + p.length, 0);
}
