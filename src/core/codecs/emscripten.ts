// The shape shared by the Emscripten/embind decoders of the codec packages: the caller writes
// the compressed bytes into the decoder's own WebAssembly memory, calls decode(), and reads
// the result from there before delete() frees it.
import {
  checkGeometry,
  CodecError,
  type FrameDecoder,
  type FrameEncoder,
  type ImageDescription,
  interleave,
  nativeFrame,
  significantBits,
} from "./codec.ts";

export interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned?: boolean;
}

export interface EmbindDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): FrameInfo;
  decode(): void;
  delete(): void;
}

export interface EmbindModule {
  /** Present where the module was built with exception messages (CharLS). */
  getExceptionMessage?(e: unknown): unknown;
}

/** Where a decoder's output is read from: getDecodedBuffer() unless the codec knows better. */
export type DecodedBytes<D> = (decoder: D, info: FrameInfo) => Uint8Array;

/**
 * Runs one decoder over `frame` and hands its output to `read` (a view into WebAssembly
 * memory, valid until the decoder is deleted). Any codec failure becomes a CodecError.
 */
export function runDecoder<D extends EmbindDecoder, T>(
  module: EmbindModule,
  decoder: D,
  frame: Uint8Array,
  what: string,
  read: (decoder: D, info: FrameInfo, decoded: Uint8Array) => T,
  decoded: DecodedBytes<D> = (d) => d.getDecodedBuffer(),
): T {
  try {
    decoder.getEncodedBuffer(frame.length).set(frame);
    decoder.decode();
    const info = decoder.getFrameInfo();
    return read(decoder, info, decoded(decoder, info));
  } catch (e) {
    if (e instanceof CodecError) throw e;
    throw new CodecError(`${what} decoder failed: ${describe(module, e)}`);
  } finally {
    decoder.delete();
  }
}

function describe(module: EmbindModule, e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === "number" && module.getExceptionMessage) {
    try {
      const m = module.getExceptionMessage(e);
      return Array.isArray(m) ? m.filter(Boolean).join(": ") : String(m);
    } catch { /* fall through */ }
  }
  return typeof e === "string" ? e : "corrupt or unsupported data";
}

export interface EmbindEncoder {
  /** The buffer in WebAssembly memory the native frame is written to. */
  getDecodedBuffer(info: FrameInfo): Uint8Array;
  getEncodedBuffer(): Uint8Array;
  encode(): void;
  delete(): void;
}

/**
 * Runs one encoder over a native frame (samples little endian, as the codecs take them) and
 * returns a copy of the code stream. Any codec failure becomes a CodecError.
 */
export function runEncoder<E extends EmbindEncoder>(
  module: EmbindModule,
  encoder: E,
  pixels: Uint8Array,
  info: FrameInfo,
  what: string,
  setup?: (encoder: E) => void,
): Uint8Array {
  try {
    setup?.(encoder);
    encoder.getDecodedBuffer(info).set(pixels);
    encoder.encode();
    return encoder.getEncodedBuffer().slice();
  } catch (e) {
    if (e instanceof CodecError) throw e;
    throw new CodecError(`${what} encoder failed: ${describe(module, e)}`);
  } finally {
    encoder.delete();
  }
}

/**
 * The FrameDecoder of an embind decoder class: one decoder per frame, its output checked
 * against the dataset's geometry and placed as a native frame; `planar` says when the codec
 * gave colour plane by plane (then interleaved here); `decoded` reads its output.
 */
export function embindFrameDecoder<D extends EmbindDecoder>(
  module: EmbindModule,
  create: () => D,
  what: string,
  planar?: (decoder: D) => boolean,
  decoded?: DecodedBytes<D>,
): FrameDecoder {
  return {
    decode(frame, image, into) {
      return runDecoder(module, create(), frame, what, (decoder, info, out) => {
        checkGeometry(image, {
          width: info.width,
          height: info.height,
          components: info.componentCount,
          bits: info.bitsPerSample,
        }, what);
        const bytesPerSample = info.bitsPerSample > 8 ? 2 : 1;
        if (image.samplesPerPixel > 1 && planar?.(decoder)) {
          return interleave(nativeFrame(out, bytesPerSample, image), image, into);
        }
        return nativeFrame(out, bytesPerSample, image, into);
      }, decoded);
    },
  };
}

/**
 * The lossless FrameEncoder of an embind encoder class, for grayscale and colour images: the
 * samples keep the bits significantBits() finds; `setup` sets the codec's own options.
 */
export function embindFrameEncoder<E extends EmbindEncoder>(
  module: EmbindModule,
  create: () => E,
  what: string,
  setup: (encoder: E, image: ImageDescription) => void,
  extra: Partial<FrameInfo> = {},
): FrameEncoder {
  return {
    encode(pixels, image) {
      if (image.samplesPerPixel !== 1 && image.samplesPerPixel !== 3) {
        throw new CodecError(`${what} cannot encode ${image.samplesPerPixel} samples per pixel`);
      }
      const info = {
        width: image.columns,
        height: image.rows,
        bitsPerSample: significantBits(pixels, image),
        componentCount: image.samplesPerPixel,
        ...extra,
      };
      return runEncoder(module, create(), pixels, info, what, (e) => setup(e, image));
    },
  };
}
