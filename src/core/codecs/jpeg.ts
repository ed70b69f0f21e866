// JPEG Baseline (Process 1) and JPEG Extended (Process 2 and 4) with 8-bit samples
// (PS3.5 8.2.1, A.4.1), decoded by libjpeg-turbo (npm @cornerstonejs/codec-libjpeg-turbo-8bit,
// WebAssembly). libjpeg converts YCbCr to RGB: colour comes out RGB (photometric.ts). 12-bit
// Process 4 frames are refused here with a CodecError: jpeg_12bit.ts decodes those.
import { CodecError, type FrameDecoder } from "./codec.ts";
import { type EmbindDecoder, embindFrameDecoder, type EmbindModule } from "./emscripten.ts";
import { lazyModule, type ModuleFactory } from "./wasm_module.ts";

interface LibJpegTurbo extends EmbindModule {
  JPEGDecoder: new () => EmbindDecoder;
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
  const decoder = embindFrameDecoder(module, () => new module.JPEGDecoder(), "JPEG");
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
