// High-Throughput JPEG 2000 (PS3.5 8.2.14, A.4.11: .201 and .202 lossless, .203), decoded by
// OpenJPH (npm @cornerstonejs/codec-openjph, WebAssembly), which undoes the colour transform:
// YBR_RCT and YBR_ICT become RGB.
import factory from "@cornerstonejs/codec-openjph";
import type { FrameDecoder } from "./codec.ts";
import { type EmbindDecoder, embindFrameDecoder, type EmbindModule } from "./emscripten.ts";
import { lazyModule, type ModuleFactory } from "./wasm_module.ts";
import { WASM_BASE64 } from "./wasm/openjph.ts";

interface OpenJph extends EmbindModule {
  HTJ2KDecoder: new () => EmbindDecoder;
}

const load = lazyModule(factory as unknown as ModuleFactory<OpenJph>, () => WASM_BASE64);

export async function htj2kDecoder(): Promise<FrameDecoder> {
  const module = await load();
  return embindFrameDecoder(module, () => new module.HTJ2KDecoder(), "HTJ2K");
}
