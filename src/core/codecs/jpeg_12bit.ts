// JPEG Extended with 12-bit samples (Process 4; PS3.5 8.2.1, A.4.1), decoded by the IJG
// 12-bit library of DCMTK as npm dcmjs-codecs (MIT) builds it to WebAssembly, driven through
// that module's plain C API (a codecs context: geometry in, encoded bytes in, decoded out).
// libjpeg-turbo's build here is 8-bit only. The module (4 MB) is loaded the first time a
// 12-bit frame is met; colour comes out RGB, as from the 8-bit decoder (photometric.ts).
import {
  CodecError,
  type FrameDecoder,
  frameLength,
  type ImageDescription,
  output,
} from "./codec.ts";
import { decodeBase64 } from "./wasm_module.ts";

interface CodecsApi {
  memory: WebAssembly.Memory;
  _initialize(): void;
  CreateCodecsContext(): number;
  ReleaseCodecsContext(ctx: number): void;
  CreateDecoderParameters(): number;
  ReleaseDecoderParameters(params: number): void;
  SetConvertColorspaceToRgb(params: number, on: number): void;
  SetColumns(ctx: number, v: number): void;
  SetRows(ctx: number, v: number): void;
  SetBitsAllocated(ctx: number, v: number): void;
  SetBitsStored(ctx: number, v: number): void;
  SetSamplesPerPixel(ctx: number, v: number): void;
  SetPixelRepresentation(ctx: number, v: number): void;
  SetPlanarConfiguration(ctx: number, v: number): void;
  SetPhotometricInterpretation(ctx: number, v: number): void;
  SetEncodedBufferSize(ctx: number, n: number): void;
  GetEncodedBuffer(ctx: number): number;
  GetDecodedBuffer(ctx: number): number;
  GetDecodedBufferSize(ctx: number): number;
  GetPlanarConfiguration(ctx: number): number;
  DecodeJpeg(ctx: number, params: number): void;
}

/** The module's Photometric Interpretation codes, in its order. */
const PHOTOMETRIC = [
  "MONOCHROME1",
  "MONOCHROME2",
  "PALETTE COLOR",
  "RGB",
  "YBR_FULL",
  "YBR_FULL_422",
];
/** WASI "function not supported": the module never needs files, clocks or its environment. */
const ENOSYS = 52;

let loaded: Promise<CodecsApi> | undefined;

/** Instantiates the module; its error callback becomes a thrown CodecError. */
async function instantiate(): Promise<CodecsApi> {
  const { WASM_BASE64 } = await import("./wasm/dcmjs_codecs.ts");
  const module: { api?: CodecsApi } = {}; // set once instantiated, read by the callbacks
  const text = (at: number, n: number) =>
    module.api ? new TextDecoder().decode(new Uint8Array(module.api.memory.buffer, at, n)) : "";
  const zeros = (a: number, b: number) => {
    const dv = new DataView(module.api!.memory.buffer);
    dv.setUint32(a, 0, true);
    dv.setUint32(b, 0, true);
    return 0;
  };
  const imports = {
    env: {
      onCodecsException: (at: number, n: number) => {
        throw new CodecError(`12-bit JPEG decoder failed: ${text(at, n)}`);
      },
      onCodecsInfo: () => {},
      onCodecsTrace: () => {},
      emscripten_notify_memory_growth: () => {},
    },
    wasi_snapshot_preview1: {
      proc_exit: () => {
        throw new CodecError("12-bit JPEG decoder exited");
      },
      clock_time_get: () => ENOSYS,
      fd_write: () => ENOSYS,
      fd_close: () => ENOSYS,
      fd_seek: () => ENOSYS,
      environ_sizes_get: zeros,
      environ_get: () => 0,
    },
  };
  const bytes = decodeBase64(WASM_BASE64) as Uint8Array<ArrayBuffer>;
  const { instance } = await WebAssembly.instantiate(bytes, imports);
  const api = module.api = instance.exports as unknown as CodecsApi;
  api._initialize();
  return api;
}

function load(): Promise<CodecsApi> {
  loaded ??= instantiate().catch((e) => {
    loaded = undefined;
    throw e;
  });
  return loaded;
}

function decodeFrame(
  api: CodecsApi,
  frame: Uint8Array,
  image: ImageDescription,
  into?: Uint8Array,
): Uint8Array {
  const ctx = api.CreateCodecsContext();
  const params = api.CreateDecoderParameters();
  try {
    api.SetColumns(ctx, image.columns);
    api.SetRows(ctx, image.rows);
    api.SetBitsAllocated(ctx, image.bitsAllocated);
    api.SetBitsStored(ctx, image.bitsStored);
    api.SetSamplesPerPixel(ctx, image.samplesPerPixel);
    api.SetPixelRepresentation(ctx, image.pixelRepresentation);
    api.SetPlanarConfiguration(ctx, 0);
    const photometric = PHOTOMETRIC.indexOf(image.photometricInterpretation);
    api.SetPhotometricInterpretation(ctx, photometric < 0 ? 1 : photometric);
    api.SetConvertColorspaceToRgb(params, 1);
    api.SetEncodedBufferSize(ctx, frame.length);
    new Uint8Array(api.memory.buffer).set(frame, api.GetEncodedBuffer(ctx));
    api.DecodeJpeg(ctx, params);
    const length = frameLength(image);
    const size = api.GetDecodedBufferSize(ctx);
    if (size < length) {
      throw new CodecError(`12-bit JPEG decoded ${size} bytes, expected ${length}`);
    }
    if (image.samplesPerPixel > 1 && api.GetPlanarConfiguration(ctx) !== 0) {
      throw new CodecError("12-bit JPEG decoder gave colour plane by plane");
    }
    const out = output(length, into);
    out.set(new Uint8Array(api.memory.buffer, api.GetDecodedBuffer(ctx), length));
    return out;
  } finally {
    api.ReleaseDecoderParameters(params);
    api.ReleaseCodecsContext(ctx);
  }
}

/** Decodes JPEG frames of 12-bit precision (16-bit samples, little endian). */
export async function jpeg12BitDecoder(): Promise<FrameDecoder> {
  const api = await load();
  return {
    decode(frame, image, into) {
      if (image.bitsAllocated !== 16) {
        throw new CodecError(`12-bit JPEG in Bits Allocated ${image.bitsAllocated}`);
      }
      try {
        return decodeFrame(api, frame, image, into);
      } catch (e) {
        if (e instanceof CodecError) throw e;
        throw new CodecError(`12-bit JPEG decoder failed: ${(e as Error).message}`);
      }
    },
  };
}
