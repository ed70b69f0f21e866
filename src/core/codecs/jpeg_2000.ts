// JPEG 2000 lossless and lossy (PS3.5 8.2.4, A.4.4), decoded by OpenJPEG (npm
// @cornerstonejs/codec-openjpeg, WebAssembly). OpenJPEG undoes the multi-component transform,
// so YBR_RCT and YBR_ICT become RGB (PS3.5 8.2.4). The encoder writes a lossless (5/3
// reversible) J2K code stream; when it applied the reversible colour transform the image is
// YBR_RCT (jpeg2000UsesColourTransform()).
import type { FrameDecoder, FrameEncoder } from "./codec.ts";
import {
  type EmbindDecoder,
  type EmbindEncoder,
  embindFrameDecoder,
  embindFrameEncoder,
  type EmbindModule,
} from "./emscripten.ts";
import { lazyModule, type ModuleFactory } from "./wasm_module.ts";

interface J2kEncoder extends EmbindEncoder {
  setQuality(lossless: boolean, quality: number): void;
}

interface OpenJpeg extends EmbindModule {
  J2KDecoder: new () => EmbindDecoder;
  J2KEncoder: new () => J2kEncoder;
}

const load = lazyModule(async () => ({
  factory: (await import("@cornerstonejs/codec-openjpeg/wasmjs"))
    .default as unknown as ModuleFactory<OpenJpeg>,
  base64: (await import("./wasm/openjpeg.ts")).WASM_BASE64,
}));

export async function jpeg2000Decoder(): Promise<FrameDecoder> {
  const module = await load();
  return embindFrameDecoder(module, () => new module.J2KDecoder(), "JPEG 2000");
}

/** JPEG 2000 Lossless Only (1.2.840.10008.1.2.4.90): the reversible 5/3 wavelet. */
export async function jpeg2000Encoder(): Promise<FrameEncoder> {
  const module = await load();
  return embindFrameEncoder(module, () => new module.J2KEncoder(), "JPEG 2000", (e) => {
    e.setQuality(true, 0);
  }, { isSigned: false });
}

/**
 * True when a J2K code stream applies the multiple component transformation (ISO 15444-1
 * A.6.1, the COD marker's SGcod): its colour image is then YBR_RCT (PS3.5 8.2.4).
 */
export function jpeg2000UsesColourTransform(codeStream: Uint8Array): boolean {
  let at = 2; // after SOC
  for (let k = 0; k < 64 && at + 4 <= codeStream.length; k++) { // main header markers
    const marker = (codeStream[at] << 8) | codeStream[at + 1];
    const length = (codeStream[at + 2] << 8) | codeStream[at + 3];
    if (marker === 0xff52) return at + 8 < codeStream.length && codeStream[at + 8] !== 0;
    if (marker === 0xff90 || length < 2) return false; // SOT: no COD in the main header
    at += 2 + length;
  }
  return false;
}
