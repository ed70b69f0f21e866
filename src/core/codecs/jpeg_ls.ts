// JPEG-LS lossless and near-lossless (PS3.5 8.2.3, A.4.3), decoded by CharLS (npm
// @cornerstonejs/codec-charls, WebAssembly). Colour coded without interleaving comes out
// plane by plane and is interleaved here; the Photometric Interpretation stays.
import factory from "@cornerstonejs/codec-charls/decodewasmjs";
import { checkGeometry, type FrameDecoder, interleave, nativeFrame } from "./codec.ts";
import { type EmbindDecoder, type EmbindModule, runDecoder } from "./emscripten.ts";
import { lazyModule, type ModuleFactory } from "./wasm_module.ts";
import { WASM_BASE64 } from "./wasm/charls.ts";

interface JpegLsDecoder extends EmbindDecoder {
  /** 0 none (planes), 1 line, 2 sample (ISO 14495-1 C.2.3). */
  getInterleaveMode(): number;
}

interface CharLs extends EmbindModule {
  JpegLSDecoder: new () => JpegLsDecoder;
}

const load = lazyModule(factory as unknown as ModuleFactory<CharLs>, () => WASM_BASE64);

export async function jpegLsDecoder(): Promise<FrameDecoder> {
  const module = await load();
  return {
    decode(frame, image, into) {
      return runDecoder(module, new module.JpegLSDecoder(), frame, "JPEG-LS", (d, info, out) => {
        checkGeometry(image, {
          width: info.width,
          height: info.height,
          components: info.componentCount,
          bits: info.bitsPerSample,
        }, "JPEG-LS");
        if (image.samplesPerPixel > 1 && d.getInterleaveMode() === 0) {
          return interleave(nativeFrame(out, info.bitsPerSample > 8 ? 2 : 1, image), image, into);
        }
        return nativeFrame(out, info.bitsPerSample > 8 ? 2 : 1, image, into);
      });
    },
  };
}
