// Which decoder serves which transfer syntax (PS3.5 Annex A.4). The WebAssembly codecs are
// loaded on first use, once.
import type { FrameDecoder, FrameEncoder } from "./codec.ts";
import { htj2kDecoder } from "./htj2k.ts";
import { jpegDecoder, jpegPrecision } from "./jpeg.ts";
import { jpeg12BitDecoder } from "./jpeg_12bit.ts";
import { jpeg2000Decoder, jpeg2000Encoder } from "./jpeg_2000.ts";
import { jpegLosslessDecoder } from "./jpeg_lossless.ts";
import { jpegLsDecoder, jpegLsEncoder } from "./jpeg_ls.ts";
import { rleDecoder, rleEncoder } from "./rle.ts";

const JPEG = "1.2.840.10008.1.2.4.";
export const RLE_LOSSLESS = "1.2.840.10008.1.2.5";

interface Family {
  name: string;
  /** True when the syntax may lose information: Lossy Image Compression is "01". */
  lossy: (ts: string) => boolean;
  load: () => Promise<FrameDecoder>;
}

const FAMILIES: ReadonlyMap<string, Family> = (() => {
  const jpeg: Family = { name: "JPEG", lossy: () => true, load: jpegDecoder };
  // Process 2 and 4: 8-bit frames by libjpeg-turbo, 12-bit ones by the 12-bit decoder.
  const extended: Family = {
    name: "JPEG Extended",
    lossy: () => true,
    load: async () => {
      const [eight, twelve] = await Promise.all([jpegDecoder(), jpeg12BitDecoder()]);
      return {
        decode: (frame, image, into) =>
          (jpegPrecision(frame) > 8 ? twelve : eight).decode(frame, image, into),
      };
    },
  };
  const lossless: Family = {
    name: "JPEG Lossless",
    lossy: () => false,
    load: () => Promise.resolve(jpegLosslessDecoder()),
  };
  const ls: Family = { name: "JPEG-LS", lossy: (ts) => ts === JPEG + "81", load: jpegLsDecoder };
  const j2k: Family = {
    name: "JPEG 2000",
    lossy: (ts) => ts === JPEG + "91",
    load: jpeg2000Decoder,
  };
  const ht: Family = { name: "HTJ2K", lossy: (ts) => ts === JPEG + "203", load: htj2kDecoder };
  const rle: Family = {
    name: "RLE",
    lossy: () => false,
    load: () => Promise.resolve(rleDecoder()),
  };
  return new Map([
    [JPEG + "50", jpeg],
    [JPEG + "51", extended],
    [JPEG + "57", lossless],
    [JPEG + "70", lossless],
    [JPEG + "80", ls],
    [JPEG + "81", ls],
    [JPEG + "90", j2k],
    [JPEG + "91", j2k],
    [JPEG + "201", ht],
    [JPEG + "202", ht],
    [JPEG + "203", ht],
    [RLE_LOSSLESS, rle],
  ]);
})();

/** True when frames of this (encapsulated) transfer syntax can be decoded here. */
export function canDecodeFrames(transferSyntaxUid: string): boolean {
  return FAMILIES.has(transferSyntaxUid);
}

/**
 * True when this syntax may have lost information (PS3.3 C.7.6.1.1.5): JPEG 8 and 12-bit,
 * JPEG-LS near-lossless, JPEG 2000 and HTJ2K that are not "Lossless Only". A .91 or .203
 * stream may in fact be reversible; it is still reported as possibly lossy, as DCMTK does.
 */
export function isLossySyntax(transferSyntaxUid: string): boolean {
  return FAMILIES.get(transferSyntaxUid)?.lossy(transferSyntaxUid) ?? false;
}

/** The Lossy Image Compression Method (0028,2114) term of a lossy syntax (PS3.3 C.7.6.1.1.5.1). */
export function lossyMethod(transferSyntaxUid: string): string {
  const family = FAMILIES.get(transferSyntaxUid)?.name;
  if (family === "JPEG" || family === "JPEG Extended") return "ISO_10918_1";
  if (family === "JPEG-LS") return "ISO_14495_1";
  if (family === "JPEG 2000") return "ISO_15444_1";
  if (family === "HTJ2K") return "ISO_15444_15";
  return "";
}

const loaded = new Map<string, Promise<FrameDecoder>>();

/** The frame decoder of a transfer syntax; throws for one not in canDecodeFrames(). */
export function frameDecoder(transferSyntaxUid: string): Promise<FrameDecoder> {
  const family = FAMILIES.get(transferSyntaxUid);
  if (!family) {
    return Promise.reject(new Error(`no decoder for transfer syntax ${transferSyntaxUid}`));
  }
  let decoder = loaded.get(family.name);
  if (!decoder) {
    decoder = family.load();
    loaded.set(family.name, decoder);
    decoder.catch(() => loaded.delete(family.name));
  }
  return decoder;
}

export const JPEG_LS_LOSSLESS = JPEG + "80";
export const JPEG_2000_LOSSLESS = JPEG + "90";

/** The lossless syntaxes objects can be compressed into, and their encoders. */
const ENCODERS: ReadonlyMap<string, () => Promise<FrameEncoder>> = new Map([
  [JPEG_LS_LOSSLESS, jpegLsEncoder],
  [JPEG_2000_LOSSLESS, jpeg2000Encoder],
  [RLE_LOSSLESS, () => Promise.resolve(rleEncoder())],
]);

const encoders = new Map<string, Promise<FrameEncoder>>();

/** True when frames can be encoded (losslessly) into this transfer syntax here. */
export function canEncodeFrames(transferSyntaxUid: string): boolean {
  return ENCODERS.has(transferSyntaxUid);
}

/** The frame encoder of a lossless transfer syntax; throws for one not in canEncodeFrames(). */
export function frameEncoder(transferSyntaxUid: string): Promise<FrameEncoder> {
  const load = ENCODERS.get(transferSyntaxUid);
  if (!load) {
    return Promise.reject(new Error(`no encoder for transfer syntax ${transferSyntaxUid}`));
  }
  let encoder = encoders.get(transferSyntaxUid);
  if (!encoder) {
    encoder = load();
    encoders.set(transferSyntaxUid, encoder);
    encoder.catch(() => encoders.delete(transferSyntaxUid));
  }
  return encoder;
}
