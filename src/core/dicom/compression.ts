// Lossless compression of a stored object (PS3.5 A.4): an uncompressed image dataset becomes
// one with encapsulated Pixel Data in JPEG-LS Lossless, JPEG 2000 Lossless Only or RLE
// Lossless, one fragment per frame with a Basic Offset Table. The attributes before and after
// Pixel Data keep their bytes (re-encoded once from Implicit VR, whose values do not change);
// only a colour image JPEG 2000 coded with its reversible colour transform says YBR_RCT
// (PS3.5 8.2.4). Every frame is decoded again and compared before the result is returned:
// anything that would not decode to the very bytes it came from is left as it is.
import { frameLength, type ImageDescription } from "../codecs/codec.ts";
import { jpeg2000UsesColourTransform } from "../codecs/jpeg_2000.ts";
import {
  canEncodeFrames,
  frameDecoder,
  frameEncoder,
  JPEG_2000_LOSSLESS,
} from "../codecs/registry.ts";
import { concatBytes } from "./bytes.ts";
import {
  type DataElement,
  decodeDatasetPart,
  encodeDataset,
  findElement,
  numbersOf,
  textOf,
} from "./dataset.ts";
import { Tag } from "./tags.ts";
import { transcodeWhole } from "./transcode_whole.ts";
import { EXPLICIT_VR_LE, IMPLICIT_VR_LE } from "./transfer_syntaxes.ts";

/** Why an object is kept as it arrived, or its compressed dataset. */
export type CompressionResult =
  | { compressed: true; dataset: Uint8Array }
  | { compressed: false; reason: string; mismatch?: boolean };

const UNDEFINED = 0xffffffff;
const PhotometricInterpretation = 0x00280004;
const NumberOfFrames = 0x00280008;
const FLOAT_PIXEL_DATA = new Set<number>([Tag.FloatPixelData, Tag.DoubleFloatPixelData]);
const MONOCHROME = new Set(["MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"]);
/** Offsets in a Basic Offset Table are 32-bit (PS3.5 A.4). */
const MAX_ENCAPSULATED = 0xfffffff0;

/** The syntaxes an object may arrive in to be compressed. */
export function canCompressFrom(transferSyntaxUid: string): boolean {
  return transferSyntaxUid === IMPLICIT_VR_LE || transferSyntaxUid === EXPLICIT_VR_LE;
}

const kept = (reason: string): CompressionResult => ({ compressed: false, reason });

function num(elements: DataElement[], tag: number): number | undefined {
  const el = findElement(elements, tag);
  return el ? numbersOf(el)[0] : undefined;
}

/** The image, when it is one that compresses losslessly: else why not. */
function compressibleImage(
  elements: DataElement[],
): (ImageDescription & { frames: number }) | string {
  if (elements.some((e) => FLOAT_PIXEL_DATA.has(e.tag))) return "float pixel data";
  const photometricEl = findElement(elements, PhotometricInterpretation);
  const photometric = photometricEl ? textOf(photometricEl, "").trim() : "";
  const framesEl = findElement(elements, NumberOfFrames);
  const image = {
    rows: num(elements, 0x00280010) ?? 0,
    columns: num(elements, 0x00280011) ?? 0,
    samplesPerPixel: num(elements, 0x00280002) ?? 1,
    bitsAllocated: num(elements, 0x00280100) ?? 0,
    bitsStored: num(elements, 0x00280101) ?? 0,
    pixelRepresentation: num(elements, 0x00280103) ?? 0,
    photometricInterpretation: photometric,
    planarConfiguration: num(elements, 0x00280006) ?? 0,
    frames: framesEl ? Number(textOf(framesEl, "").trim() || "1") : 1,
  };
  if (!(image.rows > 0 && image.columns > 0)) return "no image geometry";
  if (!Number.isInteger(image.frames) || image.frames < 1) return "bad Number of Frames";
  if (image.bitsStored < 1 || image.bitsStored > image.bitsAllocated) return "bad Bits Stored";
  if (image.samplesPerPixel === 1) {
    if (image.bitsAllocated !== 8 && image.bitsAllocated !== 16) {
      return `Bits Allocated ${image.bitsAllocated}`;
    }
    if (!MONOCHROME.has(photometric)) return `Photometric Interpretation "${photometric}"`;
    return image;
  }
  if (image.samplesPerPixel !== 3) return `Samples per Pixel ${image.samplesPerPixel}`;
  if (photometric !== "RGB") return `Photometric Interpretation "${photometric}"`;
  if (image.bitsAllocated !== 8) return `colour with Bits Allocated ${image.bitsAllocated}`;
  if (image.planarConfiguration !== 0) return "colour plane by plane (Planar Configuration 1)";
  return image;
}

/**
 * Compresses a whole dataset (no file meta) received in Implicit or Explicit VR LE into the
 * lossless syntax `to`. Checks each frame by decoding it again; a mismatch is reported, not
 * thrown. Throws only when a codec cannot be loaded.
 */
export async function compressDataset(
  dataset: Uint8Array,
  from: string,
  to: string,
): Promise<CompressionResult> {
  if (!canCompressFrom(from)) return kept(`received in ${from}`);
  if (!canEncodeFrames(to)) return kept(`no encoder for ${to}`);
  let bytes = dataset;
  if (from === IMPLICIT_VR_LE) {
    try {
      bytes = (await transcodeWhole(dataset, from, EXPLICIT_VR_LE, Infinity))!;
    } catch (e) {
      return kept(`cannot be read: ${(e as Error).message}`);
    }
  }
  let part;
  try {
    part = decodeDatasetPart(bytes, { explicitVr: true, littleEndian: true });
  } catch (e) {
    return kept(`cannot be read: ${(e as Error).message}`);
  }
  if (!part.stopped) return kept("no Pixel Data");
  const image = compressibleImage(part.elements);
  if (typeof image === "string") return kept(image);
  // The Pixel Data element header (PS3.5 7.1.2): tag, VR, 2 reserved bytes, 4-byte length.
  const at = part.end;
  if (at + 12 > bytes.length) return kept("Pixel Data cut short");
  const dv = new DataView(bytes.buffer, bytes.byteOffset + at, 12);
  const tag = ((dv.getUint16(0, true) << 16) | dv.getUint16(2, true)) >>> 0;
  const length = dv.getUint32(8, true);
  if (tag !== Tag.PixelData) return kept("no Pixel Data");
  if (length === UNDEFINED) return kept("Pixel Data already encapsulated");
  const frameBytes = frameLength(image);
  const total = frameBytes * image.frames;
  if (length !== total + (total % 2) || at + 12 + length > bytes.length) {
    return kept(`Pixel Data has ${length} bytes, the image needs ${total}`);
  }
  const pixels = bytes.subarray(at + 12, at + 12 + total);
  const trailer = bytes.subarray(at + 12 + length);

  const encoder = await frameEncoder(to);
  const decoder = await frameDecoder(to);
  const fragments: Uint8Array[] = [];
  let colourTransform = false;
  let size = 0;
  for (let f = 0; f < image.frames; f++) {
    const frame = pixels.subarray(f * frameBytes, (f + 1) * frameBytes);
    let encoded: Uint8Array;
    let decoded: Uint8Array;
    try {
      encoded = encoder.encode(frame, image);
      decoded = decoder.decode(encoded, image);
    } catch (e) {
      return { compressed: false, reason: `frame ${f + 1}: ${(e as Error).message}` };
    }
    if (!equalBytes(decoded, frame)) {
      return {
        compressed: false,
        reason: `frame ${f + 1} does not decode to the bytes it came from`,
        mismatch: true,
      };
    }
    if (to === JPEG_2000_LOSSLESS && image.samplesPerPixel === 3) {
      colourTransform ||= jpeg2000UsesColourTransform(encoded);
    }
    fragments.push(encoded);
    size += 8 + encoded.length + (encoded.length % 2);
    if (size > MAX_ENCAPSULATED) return kept("compressed Pixel Data over 4 GB");
  }
  if (size >= total) return kept("does not get smaller");

  let header = bytes.subarray(0, at);
  if (colourTransform) {
    // Group lengths would be wrong once a value changes: they go (PS3.5 7.2).
    const elements = part.elements.filter((e) => (e.tag & 0xffff) !== 0).map((e) =>
      e.tag === PhotometricInterpretation
        ? { ...e, value: new TextEncoder().encode("YBR_RCT ") }
        : e
    );
    header = encodeDataset(elements, { explicitVr: true, littleEndian: true });
  }
  return {
    compressed: true,
    dataset: concatBytes([header, ...encapsulate(fragments, image.frames > 1), trailer]),
  };
}

/**
 * Encapsulated Pixel Data (PS3.5 A.4): the element with undefined length, the Basic Offset
 * Table (filled for multi-frame images, empty for one frame), one item per frame (padded to
 * even length), the sequence delimiter.
 */
function encapsulate(fragments: Uint8Array[], withOffsets: boolean): Uint8Array[] {
  const parts: Uint8Array[] = [];
  const head = new Uint8Array(12);
  const hv = new DataView(head.buffer);
  hv.setUint16(0, 0x7fe0, true);
  hv.setUint16(2, 0x0010, true);
  head[4] = 0x4f; // "OB"
  head[5] = 0x42;
  hv.setUint32(8, UNDEFINED, true);
  parts.push(head);
  const bot = new Uint8Array(withOffsets ? 4 * fragments.length : 0);
  const bv = new DataView(bot.buffer);
  let offset = 0;
  fragments.forEach((f, i) => {
    if (withOffsets) bv.setUint32(4 * i, offset, true);
    offset += 8 + f.length + (f.length % 2);
  });
  parts.push(item(Tag.Item, bot.length), bot);
  for (const f of fragments) {
    parts.push(item(Tag.Item, f.length + (f.length % 2)), f);
    if (f.length % 2) parts.push(new Uint8Array(1));
  }
  parts.push(item(Tag.SequenceDelimitationItem, 0));
  return parts;
}

function item(tag: number, length: number): Uint8Array {
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint16(0, tag >>> 16, true);
  v.setUint16(2, tag & 0xffff, true);
  v.setUint32(4, length, true);
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
