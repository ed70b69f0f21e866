// RLE Lossless (PS3.5 8.2.2, Annex G): a 64-byte header of segment offsets, then one PackBits
// segment per byte of each sample, most significant byte first. Segments are decoded straight
// into a native frame, pixel by pixel and little endian; the Photometric Interpretation stays.
// The encoder writes the same shape from a native frame.
import {
  CodecError,
  type FrameDecoder,
  type FrameEncoder,
  frameLength,
  type ImageDescription,
  output,
} from "./codec.ts";

const HEADER = 64;
const MAX_SEGMENTS = 15;

/** Decodes one RLE frame into native pixels (Planar Configuration 0). */
export function decodeRleFrame(
  frame: Uint8Array,
  image: ImageDescription,
  into?: Uint8Array,
): Uint8Array {
  if (frame.length < HEADER) throw new CodecError("RLE frame shorter than its 64-byte header");
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segments = dv.getUint32(0, true);
  const bytesPerSample = image.bitsAllocated / 8;
  const expected = image.samplesPerPixel * bytesPerSample;
  if (segments !== expected || segments > MAX_SEGMENTS) {
    throw new CodecError(`RLE frame has ${segments} segments, the dataset needs ${expected}`);
  }
  const pixels = image.rows * image.columns;
  const out = output(frameLength(image), into); // every byte is written below
  const stride = expected; // bytes per pixel in the output
  for (let s = 0; s < segments; s++) {
    const start = dv.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? dv.getUint32(8 + 4 * s, true) : frame.length;
    if (start < HEADER || end < start || end > frame.length) {
      throw new CodecError(`RLE segment ${s + 1} has bad offsets ${start}..${end}`);
    }
    const sample = Math.floor(s / bytesPerSample);
    const byte = bytesPerSample - 1 - (s % bytesPerSample); // little endian position
    unpackBits(frame, start, end, out, sample * bytesPerSample + byte, stride, pixels, s);
  }
  return out;
}

/** PackBits (PS3.5 G.3.1) into every `stride`-th byte of `out` from `first`. */
function unpackBits(
  src: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  first: number,
  stride: number,
  count: number,
  segment: number,
): void {
  let at = start;
  let n = 0;
  let dst = first;
  while (n < count && at < end) { // each pass consumes a header byte
    const h = src[at++];
    if (h < 128) {
      const len = h + 1;
      if (at + len > end || n + len > count) break;
      for (let i = 0; i < len; i++, dst += stride) out[dst] = src[at + i];
      at += len;
      n += len;
    } else if (h > 128) {
      const len = 257 - h;
      if (at >= end || n + len > count) break;
      const v = src[at++];
      for (let i = 0; i < len; i++, dst += stride) out[dst] = v;
      n += len;
    } // 128: no operation
  }
  if (n !== count) {
    throw new CodecError(`RLE segment ${segment + 1} decodes to ${n} bytes, expected ${count}`);
  }
}

export function rleDecoder(): FrameDecoder {
  return {
    decode(frame, image, into) {
      if (image.bitsAllocated % 8 !== 0) {
        throw new CodecError(`RLE with Bits Allocated ${image.bitsAllocated} is not supported`);
      }
      return decodeRleFrame(frame, image, into);
    },
  };
}

/** Encodes one native frame (Planar Configuration 0, little endian) as RLE (PS3.5 G.3, G.5). */
export function encodeRleFrame(pixels: Uint8Array, image: ImageDescription): Uint8Array {
  const bytesPerSample = image.bitsAllocated / 8;
  const segments = image.samplesPerPixel * bytesPerSample;
  if (!Number.isInteger(bytesPerSample) || segments > MAX_SEGMENTS) {
    throw new CodecError(`RLE cannot encode ${image.samplesPerPixel}x${image.bitsAllocated} bits`);
  }
  const count = image.rows * image.columns;
  if (pixels.length < count * segments) throw new CodecError("frame shorter than its image");
  // Worst case: one header byte per 128 literal bytes of a row, plus an even pad.
  const perSegment = image.rows * (image.columns + Math.ceil(image.columns / 128)) + 2;
  const out = new Uint8Array(HEADER + segments * perSegment);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, segments, true);
  let at = HEADER;
  for (let s = 0; s < segments; s++) {
    dv.setUint32(4 + 4 * s, at, true);
    const sample = Math.floor(s / bytesPerSample);
    const byte = bytesPerSample - 1 - (s % bytesPerSample); // most significant byte first
    const first = sample * bytesPerSample + byte;
    // Each row is packed on its own (PS3.5 G.3.1: runs do not cross rows).
    for (let r = 0; r < image.rows; r++) {
      at = packBits(pixels, first + r * image.columns * segments, segments, image.columns, out, at);
    }
    if (at % 2) out[at++] = 0; // segments have even length (PS3.5 G.5)
  }
  return out.slice(0, at);
}

/** PackBits (PS3.5 G.3.1) of `count` bytes, every `stride`-th from `first`, into out at `at`. */
function packBits(
  src: Uint8Array,
  first: number,
  stride: number,
  count: number,
  out: Uint8Array,
  at: number,
): number {
  let i = 0;
  while (i < count) { // each pass writes one run or one literal block
    const v = src[first + i * stride];
    let run = 1;
    while (run < 128 && i + run < count && src[first + (i + run) * stride] === v) run++;
    if (run >= 2) {
      out[at++] = 257 - run;
      out[at++] = v;
      i += run;
      continue;
    }
    // Literal bytes, until a run of three starts (or 128 are gathered).
    let n = 1;
    while (n < 128 && i + n < count) {
      const a = src[first + (i + n) * stride];
      if (
        i + n + 2 < count && a === src[first + (i + n + 1) * stride] &&
        a === src[first + (i + n + 2) * stride]
      ) break;
      n++;
    }
    out[at++] = n - 1;
    for (let k = 0; k < n; k++) out[at++] = src[first + (i + k) * stride];
    i += n;
  }
  return at;
}

export function rleEncoder(): FrameEncoder {
  return { encode: encodeRleFrame };
}
