// Transfer syntaxes (PS3.5 Section 10 and Annex A; UIDs and names from PS3.6 Annex A).

export interface TransferSyntax {
  uid: string;
  name: string;
  explicitVr: boolean;
  littleEndian: boolean;
  /** The whole dataset after the file meta is deflated (PS3.5 A.5). */
  deflated: boolean;
  /** Pixel Data is encapsulated in fragments (PS3.5 A.4); the rest is Explicit VR LE. */
  encapsulated: boolean;
  retired: boolean;
}

export const IMPLICIT_VR_LE = "1.2.840.10008.1.2";
export const EXPLICIT_VR_LE = "1.2.840.10008.1.2.1";
export const EXPLICIT_VR_BE = "1.2.840.10008.1.2.2";
export const DEFLATED_EXPLICIT_VR_LE = "1.2.840.10008.1.2.1.99";

type Kind = "implicit" | "explicit" | "big" | "deflated" | "encapsulated";

function ts(uid: string, name: string, kind: Kind, retired = false): TransferSyntax {
  return {
    uid,
    name,
    explicitVr: kind !== "implicit",
    littleEndian: kind !== "big",
    deflated: kind === "deflated",
    encapsulated: kind === "encapsulated",
    retired,
  };
}

/** A video syntax and its Fragmentable variant, the same UID with ".1" (PS3.5 8.2.5-8.2.8). */
function withFragmentable(suffix: string, name: string): TransferSyntax[] {
  return [
    ts(JPEG + suffix, name, "encapsulated"),
    ts(`${JPEG}${suffix}.1`, `Fragmentable ${name}`, "encapsulated"),
  ];
}

const R = true; // retired
const JPEG = "1.2.840.10008.1.2.4.";

const LIST: readonly TransferSyntax[] = [
  ts(IMPLICIT_VR_LE, "Implicit VR Little Endian", "implicit"),
  ts(EXPLICIT_VR_LE, "Explicit VR Little Endian", "explicit"),
  ts(
    "1.2.840.10008.1.2.1.98",
    "Encapsulated Uncompressed Explicit VR Little Endian",
    "encapsulated",
  ),
  ts(DEFLATED_EXPLICIT_VR_LE, "Deflated Explicit VR Little Endian", "deflated"),
  ts(EXPLICIT_VR_BE, "Explicit VR Big Endian", "big", R),
  // JPEG (PS3.5 8.2.1)
  ts(JPEG + "50", "JPEG Baseline (Process 1)", "encapsulated"),
  ts(JPEG + "51", "JPEG Extended (Process 2 and 4)", "encapsulated"),
  ts(JPEG + "52", "JPEG Extended (Process 3 and 5)", "encapsulated", R),
  ts(JPEG + "53", "JPEG Spectral Selection, Non-Hierarchical (Process 6 and 8)", "encapsulated", R),
  ts(JPEG + "54", "JPEG Spectral Selection, Non-Hierarchical (Process 7 and 9)", "encapsulated", R),
  ts(JPEG + "55", "JPEG Full Progression, Non-Hierarchical (Process 10 and 12)", "encapsulated", R),
  ts(JPEG + "56", "JPEG Full Progression, Non-Hierarchical (Process 11 and 13)", "encapsulated", R),
  ts(JPEG + "57", "JPEG Lossless, Non-Hierarchical (Process 14)", "encapsulated"),
  ts(JPEG + "58", "JPEG Lossless, Non-Hierarchical (Process 15)", "encapsulated", R),
  ts(JPEG + "59", "JPEG Extended, Hierarchical (Process 16 and 18)", "encapsulated", R),
  ts(JPEG + "60", "JPEG Extended, Hierarchical (Process 17 and 19)", "encapsulated", R),
  ts(JPEG + "61", "JPEG Spectral Selection, Hierarchical (Process 20 and 22)", "encapsulated", R),
  ts(JPEG + "62", "JPEG Spectral Selection, Hierarchical (Process 21 and 23)", "encapsulated", R),
  ts(JPEG + "63", "JPEG Full Progression, Hierarchical (Process 24 and 26)", "encapsulated", R),
  ts(JPEG + "64", "JPEG Full Progression, Hierarchical (Process 25 and 27)", "encapsulated", R),
  ts(JPEG + "65", "JPEG Lossless, Hierarchical (Process 28)", "encapsulated", R),
  ts(JPEG + "66", "JPEG Lossless, Hierarchical (Process 29)", "encapsulated", R),
  ts(
    JPEG + "70",
    "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
    "encapsulated",
  ),
  // JPEG-LS, JPEG 2000, JPIP
  ts(JPEG + "80", "JPEG-LS Lossless Image Compression", "encapsulated"),
  ts(JPEG + "81", "JPEG-LS Lossy (Near-Lossless) Image Compression", "encapsulated"),
  ts(JPEG + "90", "JPEG 2000 Image Compression (Lossless Only)", "encapsulated"),
  ts(JPEG + "91", "JPEG 2000 Image Compression", "encapsulated"),
  ts(
    JPEG + "92",
    "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)",
    "encapsulated",
  ),
  ts(JPEG + "93", "JPEG 2000 Part 2 Multi-component Image Compression", "encapsulated"),
  ts(JPEG + "94", "JPIP Referenced", "explicit"), // pixels referenced by URL, not in the dataset
  ts(JPEG + "95", "JPIP Referenced Deflate", "deflated"),
  // MPEG-2, MPEG-4 AVC/H.264, HEVC/H.265
  ...withFragmentable("100", "MPEG2 Main Profile / Main Level"),
  ...withFragmentable("101", "MPEG2 Main Profile / High Level"),
  ...withFragmentable("102", "MPEG-4 AVC/H.264 High Profile / Level 4.1"),
  ...withFragmentable("103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1"),
  ...withFragmentable("104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video"),
  ...withFragmentable("105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video"),
  ...withFragmentable("106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2"),
  ts(JPEG + "107", "HEVC/H.265 Main Profile / Level 5.1", "encapsulated"),
  ts(JPEG + "108", "HEVC/H.265 Main 10 Profile / Level 5.1", "encapsulated"),
  // JPEG XL
  ts(JPEG + "110", "JPEG XL Lossless", "encapsulated"),
  ts(JPEG + "111", "JPEG XL JPEG Recompression", "encapsulated"),
  ts(JPEG + "112", "JPEG XL", "encapsulated"),
  // High-Throughput JPEG 2000
  ts(JPEG + "201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)", "encapsulated"),
  ts(
    JPEG + "202",
    "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
    "encapsulated",
  ),
  ts(JPEG + "203", "High-Throughput JPEG 2000 Image Compression", "encapsulated"),
  ts(JPEG + "204", "JPIP HTJ2K Referenced", "explicit"),
  ts(JPEG + "205", "JPIP HTJ2K Referenced Deflate", "deflated"),
  // RLE, SMPTE ST 2110 (DICOM-RTV), Deflated Image Frame Compression
  ts("1.2.840.10008.1.2.5", "RLE Lossless", "encapsulated"),
  ts("1.2.840.10008.1.2.7.1", "SMPTE ST 2110-20 Uncompressed Progressive Active Video", "explicit"),
  ts("1.2.840.10008.1.2.7.2", "SMPTE ST 2110-20 Uncompressed Interlaced Active Video", "explicit"),
  ts("1.2.840.10008.1.2.7.3", "SMPTE ST 2110-30 PCM Digital Audio", "explicit"),
  ts("1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression", "encapsulated"),
  // Retired, never used on the network for C-STORE.
  ts("1.2.840.10008.1.2.6.1", "RFC 2557 MIME encapsulation", "explicit", R),
  ts("1.2.840.10008.1.2.6.2", "XML Encoding", "explicit", R),
  ts("1.2.840.10008.1.20", "Papyrus 3 Implicit VR Little Endian", "implicit", R),
];

/** Every standard transfer syntax, uid -> properties. */
export const TRANSFER_SYNTAXES: ReadonlyMap<string, TransferSyntax> = new Map(
  LIST.map((t) => [t.uid, t]),
);

// Listed in PS3.6 but not binary dataset encodings a peer can send in a C-STORE.
const NOT_SUPPORTED = new Set([
  "1.2.840.10008.1.2.6.1",
  "1.2.840.10008.1.2.6.2",
  "1.2.840.10008.1.20",
]);

/**
 * True for every standard transfer syntax whose dataset this server can store and scan:
 * all of them, retired JPEG processes and Explicit VR Big Endian included, except the
 * retired MIME, XML and Papyrus encodings.
 */
export function isSupportedTransferSyntax(uid: string): boolean {
  return TRANSFER_SYNTAXES.has(uid) && !NOT_SUPPORTED.has(uid);
}
