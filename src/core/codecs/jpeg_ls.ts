// JPEG-LS lossless and near-lossless (PS3.5 8.2.3, A.4.3), decoded by CharLS (npm
// @cornerstonejs/codec-charls, WebAssembly). Colour coded without interleaving comes out
// plane by plane and is interleaved here; the Photometric Interpretation stays. The encoder
// (lossless, NEAR = 0) codes colour sample-interleaved, with no colour transform.
import type { FrameDecoder, FrameEncoder } from "./codec.ts";
import {
  type EmbindDecoder,
  type EmbindEncoder,
  embindFrameDecoder,
  embindFrameEncoder,
  type EmbindModule,
} from "./emscripten.ts";
import { lazyModule, type ModuleFactory } from "./wasm_module.ts";

interface JpegLsDecoder extends EmbindDecoder {
  /** 0 none (planes), 1 line, 2 sample (ISO 14495-1 C.2.3). */
  getInterleaveMode(): number;
}

interface JpegLsEncoder extends EmbindEncoder {
  setNearLossless(near: number): void;
  setInterleaveMode(mode: number): void;
}

interface CharLs extends EmbindModule {
  JpegLSDecoder: new () => JpegLsDecoder;
  JpegLSEncoder: new () => JpegLsEncoder;
}

const load = lazyModule(async () => ({
  factory: (await import("@cornerstonejs/codec-charls/wasmjs")).default as unknown as ModuleFactory<
    CharLs
  >,
  base64: (await import("./wasm/charls.ts")).WASM_BASE64,
}));

export async function jpegLsDecoder(): Promise<FrameDecoder> {
  const module = await load();
  return embindFrameDecoder(
    module,
    () => new module.JpegLSDecoder(),
    "JPEG-LS",
    (d) => d.getInterleaveMode() === 0,
  );
}

/** JPEG-LS Lossless (1.2.840.10008.1.2.4.80): NEAR = 0, colour sample-interleaved. */
export async function jpegLsEncoder(): Promise<FrameEncoder> {
  const module = await load();
  return embindFrameEncoder(module, () => new module.JpegLSEncoder(), "JPEG-LS", (e, image) => {
    e.setNearLossless(0);
    if (image.samplesPerPixel > 1) e.setInterleaveMode(2);
  });
}
