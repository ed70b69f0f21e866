// The codec port: one compressed frame in, native pixels out (PS3.5 8.2, Annex A.4). Each
// family of transfer syntaxes has its own file behind this interface; registry.ts picks one.

/** What the dataset says about the image (PS3.3 C.7.6.3 Image Pixel Module). */
export interface ImageDescription {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  photometricInterpretation: string;
  planarConfiguration: number;
}

/**
 * Decodes the frames of one transfer syntax family; loaded once, then synchronous. A frame
 * comes out native: rows x columns x samples x bitsAllocated / 8 bytes, little endian, colour
 * pixel by pixel (Planar Configuration 0), in the Photometric Interpretation photometric.ts
 * names.
 */
export interface FrameDecoder {
  /**
   * Decodes one frame, into `into` when given (a buffer of frameLength(image) bytes, reused
   * from frame to frame), else into a new buffer.
   */
  decode(frame: Uint8Array, image: ImageDescription, into?: Uint8Array): Uint8Array;
}

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CodecError";
  }
}

/** Bytes of one native frame (PS3.5 8.1.1). */
export function frameLength(image: ImageDescription): number {
  return image.rows * image.columns * image.samplesPerPixel * (image.bitsAllocated / 8);
}

/** Checks that a codec's output has the dataset's geometry; throws CodecError if not. */
export function checkGeometry(
  image: ImageDescription,
  got: { width: number; height: number; components: number; bits?: number },
  what: string,
): void {
  if (
    got.width !== image.columns || got.height !== image.rows ||
    got.components !== image.samplesPerPixel
  ) {
    throw new CodecError(
      `${what} frame is ${got.width}x${got.height}x${got.components}, the dataset says ` +
        `${image.columns}x${image.rows}x${image.samplesPerPixel}`,
    );
  }
  if (got.bits !== undefined && got.bits > image.bitsAllocated) {
    throw new CodecError(
      `${what} frame has ${got.bits}-bit samples, more than Bits Allocated ${image.bitsAllocated}`,
    );
  }
}

/**
 * Copies a codec's output samples into a native frame: bytes as they are for 8 bits, 16-bit
 * samples little endian. `bytesPerSample` is the codec's own sample size.
 */
export function nativeFrame(
  samples: Uint8Array,
  bytesPerSample: number,
  image: ImageDescription,
  into?: Uint8Array,
): Uint8Array {
  const length = frameLength(image);
  const out = output(length, into);
  const count = image.rows * image.columns * image.samplesPerPixel;
  if (bytesPerSample * 8 === image.bitsAllocated) {
    if (samples.length < length) {
      throw new CodecError(`decoded ${samples.length} bytes, expected ${length}`);
    }
    out.set(samples.subarray(0, length)); // WebAssembly memory is little endian
    return out;
  }
  if (bytesPerSample === 1 && image.bitsAllocated === 16) {
    if (samples.length < count) {
      throw new CodecError(`decoded ${samples.length} samples, expected ${count}`);
    }
    for (let i = 0; i < count; i++) (out[2 * i] = samples[i], out[2 * i + 1] = 0);
    return out;
  }
  throw new CodecError(
    `cannot place ${bytesPerSample * 8}-bit samples in Bits Allocated ${image.bitsAllocated}`,
  );
}

/** `into` when it has the right length, else a new buffer of `length` bytes. */
export function output(length: number, into?: Uint8Array): Uint8Array {
  return into?.length === length ? into : new Uint8Array(length);
}

/** Pixel by pixel from plane by plane (Planar Configuration 1 -> 0). */
export function interleave(
  planes: Uint8Array,
  image: ImageDescription,
  into?: Uint8Array,
): Uint8Array {
  const n = image.rows * image.columns;
  const spp = image.samplesPerPixel;
  const size = image.bitsAllocated / 8;
  const out = output(planes.length, into);
  for (let s = 0; s < spp; s++) {
    for (let p = 0; p < n; p++) {
      for (let b = 0; b < size; b++) out[(p * spp + s) * size + b] = planes[(s * n + p) * size + b];
    }
  }
  return out;
}

/**
 * Encodes native frames losslessly into one transfer syntax (the reverse of FrameDecoder): a
 * frame goes in as FrameDecoder gives it out (little endian, Planar Configuration 0).
 */
export interface FrameEncoder {
  encode(pixels: Uint8Array, image: ImageDescription): Uint8Array;
}

/**
 * Bits a lossless encoder must keep of each sample: Bits Stored when every sample fits in
 * it, else all of Bits Allocated (signed samples, or bits above Bits Stored in use), so that
 * decoding gives back every byte.
 */
export function significantBits(pixels: Uint8Array, image: ImageDescription): number {
  const stored = Math.min(Math.max(image.bitsStored, 2), image.bitsAllocated);
  if (stored === image.bitsAllocated) return stored;
  const limit = 1 << stored;
  if (image.bitsAllocated === 8) {
    for (let i = 0; i < pixels.length; i++) if (pixels[i] >= limit) return 8;
    return stored;
  }
  const high = limit >> 8; // first byte value of the high byte that is out of range
  for (let i = 1; i < pixels.length; i += 2) if (pixels[i] >= high) return 16;
  return stored;
}
