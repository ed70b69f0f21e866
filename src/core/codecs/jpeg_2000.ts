// JPEG 2000 lossless and lossy (PS3.5 8.2.4, A.4.4), decoded by OpenJPEG (npm
// @cornerstonejs/codec-openjpeg, WebAssembly). OpenJPEG undoes the multi-component transform,
// so YBR_RCT and YBR_ICT become RGB (PS3.5 8.2.4).
import factory from "@cornerstonejs/codec-openjpeg/decodewasmjs";
import { checkGeometry, type FrameDecoder, nativeFrame } from "./codec.ts";
import { type EmbindDecoder, type EmbindModule, runDecoder } from "./emscripten.ts";
import { lazyModule, type ModuleFactory } from "./wasm_module.ts";
import { WASM_BASE64 } from "./wasm/openjpeg.ts";

interface OpenJpeg extends EmbindModule {
  J2KDecoder: new () => EmbindDecoder;
}

const load = lazyModule(factory as unknown as ModuleFactory<OpenJpeg>, () => WASM_BASE64);

export async function jpeg2000Decoder(): Promise<FrameDecoder> {
  const module = await load();
  return {
    decode(frame, image, into) {
      return runDecoder(module, new module.J2KDecoder(), frame, "JPEG 2000", (_, info, out) => {
        checkGeometry(image, {
          width: info.width,
          height: info.height,
          components: info.componentCount,
          bits: info.bitsPerSample,
        }, "JPEG 2000");
        return nativeFrame(out, info.bitsPerSample > 8 ? 2 : 1, image, into);
      });
    },
  };
}
