// Small Part 10 images written byte by byte (Explicit VR Little Endian), quick to make by the
// thousand: for forwarding and storage commitment tests.
import { encodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { concat, element, us } from "./dataset_writer.ts";

export const CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2";
export const MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4";
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const BASE = `2.25.${crypto.getRandomValues(new Uint32Array(2)).join("")}`;
let counter = 0;

export interface SmallImage {
  path: string;
  sop: string;
  sopClassUid: string;
  study: string;
  /** The dataset bytes after the file meta. */
  dataset: Uint8Array;
}

/** A new Study Instance UID. */
export function newStudyUid(): string {
  return `${BASE}.1.${++counter}`;
}

/** A new SOP Instance UID (for objects that are never stored). */
export function newSopUid(): string {
  return `${BASE}.3.${++counter}`;
}

/** A small image of `modality` in `dir`, with pixels seeded by its number. */
export async function writeSmallImage(
  dir: string,
  modality: "CT" | "MR",
  study: string,
  pixelBytes = 4096,
): Promise<SmallImage> {
  const n = ++counter;
  const sop = `${BASE}.3.${n}`;
  const cls = modality === "CT" ? CT_IMAGE : MR_IMAGE;
  const side = Math.floor(Math.sqrt(pixelBytes));
  const pixels = new Uint8Array(side * side);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7 + n * 13) & 0xff;
  const dataset = concat([
    element(0x00080016, "UI", cls),
    element(0x00080018, "UI", sop),
    element(0x00080060, "CS", modality),
    element(0x00100010, "PN", `Small^Patient${n % 3}`),
    element(0x00100020, "LO", `SMALL${n % 3}`),
    element(0x0020000d, "UI", study),
    element(0x0020000e, "UI", `${study}.${modality === "CT" ? 1 : 2}`),
    element(0x00200013, "IS", String(n)),
    element(0x00280002, "US", us(1)),
    element(0x00280004, "CS", "MONOCHROME2"),
    element(0x00280010, "US", us(side)),
    element(0x00280011, "US", us(side)),
    element(0x00280100, "US", us(8)),
    element(0x00280101, "US", us(8)),
    element(0x00280102, "US", us(7)),
    element(0x00280103, "US", us(0)),
    element(0x7fe00010, "OB", pixels),
  ]);
  const meta = encodeFileMetaInformation({
    sopClassUid: cls,
    sopInstanceUid: sop,
    transferSyntaxUid: EXPLICIT_LE,
    implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.1",
    implementationVersionName: "SMALLIMG",
  });
  const path = `${dir}/${sop}.dcm`;
  await Deno.writeFile(path, concat([meta, dataset]));
  return { path, sop, sopClassUid: cls, study, dataset };
}
