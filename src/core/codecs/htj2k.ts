// High-Throughput JPEG 2000 (PS3.5 8.2.14, A.4.11: .201 and .202 lossless, .203), decoded by
// OpenJPH (npm @cornerstonejs/codec-openjph, WebAssembly), which undoes the colour transform:
// YBR_RCT and YBR_ICT become RGB.
import factory from "@cornerstonejs/codec-openjph";
import { checkGeometry, type FrameDecoder, nativeFrame } from "./codec.ts";
import { type EmbindDecoder, type EmbindModule, runDecoder } from "./emscripten.ts";
import { lazyModule, type ModuleFactory } from "./wasm_module.ts";
import { WASM_BASE64 } from "./wasm/openjph.ts";

interface OpenJph extends EmbindModule {
  HTJ2KDecoder: new () => EmbindDecoder;
}

const load = lazyModule(factory as unknown as ModuleFactory<OpenJph>, () => WASM_BASE64);

export async function htj2kDecoder(): Promise<FrameDecoder> {
  const module = await load();
  return {
    decode(frame, image, into) {
      return runDecoder(module, new module.HTJ2KDecoder(), frame, "HTJ2K", (_, info, out) => {
        checkGeometry(image, {
          width: info.width,
          height: info.height,
          components: info.componentCount,
          bits: info.bitsPerSample,
        }, "HTJ2K");
        return nativeFrame(out, info.bitsPerSample > 8 ? 2 : 1, image, into);
      });
    },
  };
}
