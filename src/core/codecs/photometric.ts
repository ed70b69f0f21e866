// The Photometric Interpretation of decoded frames (PS3.5 8.2; PS3.3 C.7.6.3.1.2): the JPEG
// decoder converts YCbCr to RGB, JPEG 2000 and HTJ2K decoders undo their colour transforms
// (YBR_RCT, YBR_ICT); lossless JPEG, JPEG-LS and RLE leave the colour as it was coded.
import type { ImageDescription } from "./codec.ts";

const JPEG = "1.2.840.10008.1.2.4.";
const JPEG_LOSSY = new Set([JPEG + "50", JPEG + "51"]);
const J2K = new Set([JPEG + "90", JPEG + "91", JPEG + "201", JPEG + "202", JPEG + "203"]);

export function decodedPhotometric(transferSyntaxUid: string, image: ImageDescription): string {
  const stored = image.photometricInterpretation;
  if (image.samplesPerPixel !== 3) return stored;
  if (JPEG_LOSSY.has(transferSyntaxUid)) return "RGB";
  if (J2K.has(transferSyntaxUid) && (stored === "YBR_RCT" || stored === "YBR_ICT")) return "RGB";
  return stored;
}
