// High-Throughput JPEG 2000 (PS3.5 8.2.14, A.4.11: .201 and .202 lossless, .203), decoded by
// OpenJPH (npm @cornerstonejs/codec-openjph, WebAssembly), which undoes the colour transform:
// YBR_RCT and YBR_ICT become RGB.
import type { FrameDecoder } from "./codec.ts";
import { type EmbindDecoder, embindFrameDecoder, type EmbindModule } from "./emscripten.ts";
import { lazyModule, type ModuleFactory } from "./wasm_module.ts";

interface OpenJph extends EmbindModule {
  HTJ2KDecoder: new () => EmbindDecoder;
}

const load = lazyModule(async () => ({
  factory: (await import("@cornerstonejs/codec-openjph")).default as unknown as ModuleFactory<
    OpenJph
  >,
  base64: (await import("./wasm/openjph.ts")).WASM_BASE64,
}));

export async function htj2kDecoder(): Promise<FrameDecoder> {
  const module = await load();
  return embindFrameDecoder(module, () => new module.HTJ2KDecoder(), "HTJ2K");
}
