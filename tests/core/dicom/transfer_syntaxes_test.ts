import assert from "node:assert/strict";
import {
  DEFLATED_EXPLICIT_VR_LE,
  EXPLICIT_VR_BE,
  EXPLICIT_VR_LE,
  IMPLICIT_VR_LE,
  isSupportedTransferSyntax,
  TRANSFER_SYNTAXES,
} from "../../../src/core/dicom/transfer_syntaxes.ts";

// PS3.6 Annex A transfer syntaxes a peer may propose for storage.
const STANDARD = [
  "1.2.840.10008.1.2", // Implicit VR Little Endian
  "1.2.840.10008.1.2.1", // Explicit VR Little Endian
  "1.2.840.10008.1.2.1.98", // Encapsulated Uncompressed Explicit VR Little Endian
  "1.2.840.10008.1.2.1.99", // Deflated Explicit VR Little Endian
  "1.2.840.10008.1.2.2", // Explicit VR Big Endian (retired)
  "1.2.840.10008.1.2.4.50", // JPEG Baseline
  "1.2.840.10008.1.2.4.51", // JPEG Extended
  "1.2.840.10008.1.2.4.52",
  "1.2.840.10008.1.2.4.53",
  "1.2.840.10008.1.2.4.54",
  "1.2.840.10008.1.2.4.55",
  "1.2.840.10008.1.2.4.56",
  "1.2.840.10008.1.2.4.57", // JPEG Lossless
  "1.2.840.10008.1.2.4.58",
  "1.2.840.10008.1.2.4.59",
  "1.2.840.10008.1.2.4.60",
  "1.2.840.10008.1.2.4.61",
  "1.2.840.10008.1.2.4.62",
  "1.2.840.10008.1.2.4.63",
  "1.2.840.10008.1.2.4.64",
  "1.2.840.10008.1.2.4.65",
  "1.2.840.10008.1.2.4.66",
  "1.2.840.10008.1.2.4.70", // JPEG Lossless SV1
  "1.2.840.10008.1.2.4.80", // JPEG-LS Lossless
  "1.2.840.10008.1.2.4.81", // JPEG-LS Near-Lossless
  "1.2.840.10008.1.2.4.90", // JPEG 2000 Lossless
  "1.2.840.10008.1.2.4.91", // JPEG 2000
  "1.2.840.10008.1.2.4.92", // JPEG 2000 Part 2 Lossless
  "1.2.840.10008.1.2.4.93", // JPEG 2000 Part 2
  "1.2.840.10008.1.2.4.94", // JPIP Referenced
  "1.2.840.10008.1.2.4.95", // JPIP Referenced Deflate
  "1.2.840.10008.1.2.4.100", // MPEG2 MP@ML
  "1.2.840.10008.1.2.4.100.1",
  "1.2.840.10008.1.2.4.101", // MPEG2 MP@HL
  "1.2.840.10008.1.2.4.101.1",
  "1.2.840.10008.1.2.4.102", // MPEG-4 AVC/H.264
  "1.2.840.10008.1.2.4.102.1",
  "1.2.840.10008.1.2.4.103",
  "1.2.840.10008.1.2.4.103.1",
  "1.2.840.10008.1.2.4.104",
  "1.2.840.10008.1.2.4.104.1",
  "1.2.840.10008.1.2.4.105",
  "1.2.840.10008.1.2.4.105.1",
  "1.2.840.10008.1.2.4.106",
  "1.2.840.10008.1.2.4.106.1",
  "1.2.840.10008.1.2.4.107", // HEVC Main
  "1.2.840.10008.1.2.4.108", // HEVC Main 10
  "1.2.840.10008.1.2.4.110", // JPEG XL Lossless
  "1.2.840.10008.1.2.4.111", // JPEG XL JPEG Recompression
  "1.2.840.10008.1.2.4.112", // JPEG XL
  "1.2.840.10008.1.2.4.201", // HTJ2K Lossless
  "1.2.840.10008.1.2.4.202", // HTJ2K RPCL Lossless
  "1.2.840.10008.1.2.4.203", // HTJ2K
  "1.2.840.10008.1.2.4.204", // JPIP HTJ2K Referenced
  "1.2.840.10008.1.2.4.205", // JPIP HTJ2K Referenced Deflate
  "1.2.840.10008.1.2.5", // RLE Lossless
  "1.2.840.10008.1.2.7.1", // SMPTE ST 2110-20 progressive
  "1.2.840.10008.1.2.7.2", // SMPTE ST 2110-20 interlaced
  "1.2.840.10008.1.2.7.3", // SMPTE ST 2110-30 audio
  "1.2.840.10008.1.2.8.1", // Deflated Image Frame Compression
];

Deno.test("every standard transfer syntax is known and supported", () => {
  const unsupported = STANDARD.filter((uid) => !isSupportedTransferSyntax(uid));
  assert.deepEqual(unsupported, []);
  for (const uid of STANDARD) assert.equal(TRANSFER_SYNTAXES.get(uid)?.uid, uid);
});

Deno.test("the four uncompressed syntaxes have the right encoding flags", () => {
  assert.deepEqual(TRANSFER_SYNTAXES.get(IMPLICIT_VR_LE), {
    uid: "1.2.840.10008.1.2",
    name: "Implicit VR Little Endian",
    explicitVr: false,
    littleEndian: true,
    deflated: false,
    encapsulated: false,
    retired: false,
  });
  const le = TRANSFER_SYNTAXES.get(EXPLICIT_VR_LE)!;
  assert.equal(le.explicitVr && le.littleEndian && !le.encapsulated && !le.deflated, true);
  const be = TRANSFER_SYNTAXES.get(EXPLICIT_VR_BE)!;
  assert.equal(be.explicitVr && !be.littleEndian && be.retired, true);
  const deflated = TRANSFER_SYNTAXES.get(DEFLATED_EXPLICIT_VR_LE)!;
  assert.equal(deflated.deflated && deflated.explicitVr && deflated.littleEndian, true);
});

Deno.test("compressed syntaxes are encapsulated explicit VR little endian", () => {
  for (
    const uid of [
      "1.2.840.10008.1.2.4.50",
      "1.2.840.10008.1.2.4.90",
      "1.2.840.10008.1.2.4.201",
      "1.2.840.10008.1.2.5",
      "1.2.840.10008.1.2.1.98",
      "1.2.840.10008.1.2.8.1",
    ]
  ) {
    const t = TRANSFER_SYNTAXES.get(uid)!;
    assert.equal(t.encapsulated && t.explicitVr && t.littleEndian && !t.deflated, true, uid);
  }
  assert.equal(TRANSFER_SYNTAXES.get("1.2.840.10008.1.2.4.94")!.encapsulated, false);
  assert.equal(TRANSFER_SYNTAXES.get("1.2.840.10008.1.2.4.95")!.deflated, true);
});

Deno.test("retired JPEG processes are flagged retired; baseline and lossless SV1 are not", () => {
  assert.equal(TRANSFER_SYNTAXES.get("1.2.840.10008.1.2.4.52")!.retired, true);
  assert.equal(TRANSFER_SYNTAXES.get("1.2.840.10008.1.2.4.66")!.retired, true);
  assert.equal(TRANSFER_SYNTAXES.get("1.2.840.10008.1.2.4.50")!.retired, false);
  assert.equal(TRANSFER_SYNTAXES.get("1.2.840.10008.1.2.4.70")!.retired, false);
  assert.equal(
    TRANSFER_SYNTAXES.get("1.2.840.10008.1.2.4.57")!.name,
    "JPEG Lossless, Non-Hierarchical (Process 14)",
  );
});

Deno.test("isSupportedTransferSyntax() refuses unknown, private and non-binary syntaxes", () => {
  for (
    const uid of [
      "",
      "1.2.3.4",
      "1.2.840.10008.1.2.4.67", // not assigned
      "1.2.840.10008.1.2.6.1", // RFC 2557 MIME (retired)
      "1.2.840.10008.1.2.6.2", // XML Encoding (retired)
      "1.2.840.10008.5.1.4.1.1.2", // a SOP class
      "1.2.840.10008.1.2\0", // untrimmed
    ]
  ) {
    assert.equal(isSupportedTransferSyntax(uid), false, JSON.stringify(uid));
  }
});
