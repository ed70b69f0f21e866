// JPEG Baseline (Process 1) and JPEG Extended (Process 2 and 4) with 8-bit samples
// (PS3.5 8.2.1, A.4.1), decoded by libjpeg-turbo (npm @cornerstonejs/codec-libjpeg-turbo-8bit,
// WebAssembly). libjpeg converts YCbCr to RGB: colour comes out RGB (photometric.ts). 12-bit
// Process 4 frames are refused here with a CodecError: jpeg_12bit.ts decodes those.
// The decoded samples are read where libjpeg-turbo left them in WebAssembly memory:
// getDecodedBuffer() would copy them into a new array on every frame.
import { CodecError, type FrameDecoder } from "./codec.ts";
import {
  type EmbindDecoder,
  embindFrameDecoder,
  type EmbindModule,
  type FrameInfo,
} from "./emscripten.ts";
import { lazyModule, type ModuleFactory } from "./wasm_module.ts";

interface LibJpegTurbo extends EmbindModule {
  JPEGDecoder: new () => JpegDecoder;
  HEAPU8: Uint8Array;
}

interface JpegDecoder extends EmbindDecoder {
  /** embind's handle: `ptr` is the C++ object's address in WebAssembly memory. */
  $$?: { ptr?: number };
}

/**
 * The package's JPEGDecoder (C++) holds its input, then its output, as std::vector<uint8_t>:
 * three 32-bit words each (begin, end, capacity). The output is read from words 3 and 4 once
 * the first frame showed them to hold exactly what getDecodedBuffer() returns.
 */
const DECODED_BEGIN = 3;
let layout: "unchecked" | "known" | "other" = "unchecked";

/** The decoded samples as a view of WebAssembly memory (valid until the decoder is deleted). */
function decodedBytes(module: LibJpegTurbo, decoder: JpegDecoder, info: FrameInfo): Uint8Array {
  if (layout === "other") return decoder.getDecodedBuffer();
  const expected = info.width * info.height * info.componentCount;
  const view = vectorAt(module, decoder.$$?.ptr, expected);
  if (layout === "known" && view) return view;
  const copy = decoder.getDecodedBuffer();
  if (layout === "unchecked") layout = view && sameBytes(view, copy) ? "known" : "other";
  return copy;
}

function vectorAt(module: LibJpegTurbo, ptr: number | undefined, length: number) {
  const heap = module.HEAPU8;
  if (typeof ptr !== "number" || ptr % 4 !== 0 || !heap) return undefined;
  const words = new Uint32Array(heap.buffer, ptr + 4 * DECODED_BEGIN, 2);
  const [begin, end] = words;
  if (end - begin !== length || end > heap.length) return undefined;
  return heap.subarray(begin, end);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const load = lazyModule(async () => ({
  factory: (await import("@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs"))
    .default as unknown as ModuleFactory<LibJpegTurbo>,
  base64: (await import("./wasm/libjpeg_turbo.ts")).WASM_BASE64,
}));

/** The sample precision of a JPEG stream, from its SOFn marker (ITU T.81 B.2.2); 0 if none. */
export function jpegPrecision(frame: Uint8Array): number {
  let at = 2;
  while (at + 4 < frame.length) { // markers and their lengths, until the frame header
    if (frame[at] !== 0xff) return 0;
    const marker = frame[at + 1];
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return frame[at + 4];
    }
    at += 2 + ((frame[at + 2] << 8) | frame[at + 3]);
  }
  return 0;
}

export async function jpegDecoder(): Promise<FrameDecoder> {
  const module = await load();
  const decoder = embindFrameDecoder(
    module,
    () => new module.JPEGDecoder(),
    "JPEG",
    undefined,
    (d, info) => decodedBytes(module, d, info),
  );
  return {
    decode(frame, image, into) {
      const precision = jpegPrecision(frame);
      if (precision > 8) {
        throw new CodecError(`${precision}-bit JPEG (Process 4) cannot be decoded here`);
      }
      return decoder.decode(frame, image, into);
    },
  };
}
