// Compressed test objects made with the reference tools (DCMTK dcmcjpeg, dcmcjpls, dcmcrle,
// img2dcm; GDCM gdcmconv; OpenJPH ojph_compress), their reference decodes (dcmdjpeg, dcmdjpls,
// dcmdrle, gdcmconv --raw, ojph_expand), and a reader of native Pixel Data to compare them.
import {
  decodeFileMetaInformation,
  encodeFileMetaInformation,
} from "../../src/core/dicom/part10.ts";
import {
  type DataElement,
  decodeDatasetPart,
  findElement,
  numbersOf,
  textOf,
} from "../../src/core/dicom/dataset.ts";
import { encodingOf } from "../../src/core/dicom/dataset.ts";
import { newUid } from "./corpus.ts";
import { concat, element, us } from "./dataset_writer.ts";
import { hasTool, run } from "./server.ts";

export interface NativeSpec {
  rows: number;
  columns: number;
  samplesPerPixel: 1 | 3;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  signed?: boolean;
  frames?: number;
  sopClassUid?: string;
  /** Default: a new one for each object. */
  studyInstanceUid?: string;
  sopInstanceUid?: string;
}

/** Deterministic pixels with edges and noise, inside Bits Stored (two's complement if signed). */
export function testPixels(s: NativeSpec, seed = 7): Uint8Array {
  const frames = s.frames ?? 1;
  const n = s.rows * s.columns * s.samplesPerPixel * frames;
  const bytes = s.bitsAllocated / 8;
  const out = new Uint8Array(n * bytes);
  const dv = new DataView(out.buffer);
  const max = 2 ** s.bitsStored;
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const p = Math.floor(i / s.samplesPerPixel);
    const col = p % s.columns;
    const row = Math.floor(p / s.columns) % s.rows;
    const smooth = (col * 5 + row * 3 + (i % s.samplesPerPixel) * 40) * (max / 512);
    let v = Math.floor(smooth + (x & 7) * (max / 256)) % max;
    if (s.signed) v -= max / 2;
    if (bytes === 1) out[i] = v & 0xff;
    else dv.setUint16(2 * i, v & 0xffff, true);
  }
  return out;
}

/** An Explicit VR LE Part 10 object with native pixels. */
export function nativeObject(s: NativeSpec, pixels = testPixels(s)): Uint8Array {
  const sopClassUid = s.sopClassUid ?? "1.2.840.10008.5.1.4.1.1.7";
  const sop = s.sopInstanceUid ?? newUid();
  const text = (tag: number, vr: string, v: string) => element(tag, vr, v);
  const parts = [
    text(0x00080016, "UI", sopClassUid),
    text(0x00080018, "UI", sop),
    text(0x00080060, "CS", "OT"),
    text(0x00100010, "PN", "Codec^Test"),
    text(0x00100020, "LO", "CODEC1"),
    text(0x0020000d, "UI", s.studyInstanceUid ?? newUid()),
    text(0x0020000e, "UI", newUid()),
    element(0x00280002, "US", us(s.samplesPerPixel)),
    text(0x00280004, "CS", s.samplesPerPixel === 3 ? "RGB" : "MONOCHROME2"),
  ];
  if (s.samplesPerPixel === 3) parts.push(element(0x00280006, "US", us(0)));
  if (s.frames) parts.push(text(0x00280008, "IS", String(s.frames)));
  parts.push(
    element(0x00280010, "US", us(s.rows)),
    element(0x00280011, "US", us(s.columns)),
    element(0x00280100, "US", us(s.bitsAllocated)),
    element(0x00280101, "US", us(s.bitsStored)),
    element(0x00280102, "US", us(s.bitsStored - 1)),
    element(0x00280103, "US", us(s.signed ? 1 : 0)),
    element(0x7fe00010, s.bitsAllocated === 8 ? "OB" : "OW", pixels),
  );
  const meta = encodeFileMetaInformation({
    sopClassUid,
    sopInstanceUid: sop,
    transferSyntaxUid: "1.2.840.10008.1.2.1",
    implementationClassUid: "1.2.276.0.7230010.3.0.3.6.4",
    implementationVersionName: "MINIPACS_TEST",
  });
  return concat([meta, ...parts]);
}

/** What a native object holds: its header attributes and Pixel Data bytes (little endian). */
export interface NativePixels {
  transferSyntaxUid: string;
  elements: DataElement[];
  pixels: Uint8Array;
  /** Attributes after Pixel Data. */
  trailer: DataElement[];
}

/** Reads a native Part 10 object (or a dataset in `ts`) and its Pixel Data. */
export function readNative(bytes: Uint8Array, ts?: string): NativePixels {
  let dataset = bytes;
  if (!ts) {
    const { meta, datasetOffset } = decodeFileMetaInformation(bytes);
    ts = meta.transferSyntaxUid;
    dataset = bytes.subarray(datasetOffset);
  }
  const encoding = encodingOf(ts);
  const part = decodeDatasetPart(dataset, encoding);
  if (!part.stopped) throw new Error("no Pixel Data");
  const dv = new DataView(dataset.buffer, dataset.byteOffset + part.end);
  const headerLength = encoding.explicitVr ? 12 : 8;
  const length = dv.getUint32(headerLength - 4, encoding.littleEndian);
  if (length === 0xffffffff) throw new Error("Pixel Data is encapsulated");
  const start = part.end + headerLength;
  let pixels = dataset.slice(start, start + length);
  const bits = numbersOf(findElement(part.elements, 0x00280100)!)[0];
  if (!encoding.littleEndian && bits === 16) {
    for (let i = 0; i < pixels.length; i += 2) {
      [pixels[i], pixels[i + 1]] = [pixels[i + 1], pixels[i]];
    }
  }
  const rest = dataset.subarray(start + length);
  const trailer = rest.length ? decodeDatasetPart(rest, encoding).elements : [];
  pixels = pixels.slice();
  return { transferSyntaxUid: ts, elements: part.elements, pixels, trailer };
}

/** A header attribute as text ("" when absent). */
export function attr(n: NativePixels, tag: number): string {
  const el = findElement(n.elements, tag);
  if (!el) return "";
  // Implicit VR read back with a short dictionary: a 2-byte UN of group 0028 is a US.
  const typed = el.vr === "UN" && el.value.length === 2 && tag >>> 16 === 0x0028
    ? { ...el, vr: "US" }
    : el;
  const numbers = numbersOf(typed);
  return numbers.length ? numbers.join("\\") : textOf(el, "").trim();
}

/** Transfer syntax, the tool that writes it and the one that decodes it for reference. */
export interface ReferenceCodec {
  name: string;
  ts: string;
  encode: [string, ...string[]];
  decode: [string, ...string[]];
  lossless: boolean;
}

const J = "1.2.840.10008.1.2.4.";
export const REFERENCE_CODECS: Record<string, ReferenceCodec> = {
  jpegBaseline: {
    name: "JPEG Baseline",
    ts: J + "50",
    encode: ["dcmcjpeg", "+eb"],
    decode: ["dcmdjpeg", "+te"],
    lossless: false,
  },
  jpegExtended8: {
    name: "JPEG Extended (8-bit)",
    ts: J + "51",
    encode: ["dcmcjpeg", "+ee"],
    decode: ["dcmdjpeg", "+te"],
    lossless: false,
  },
  jpegExtended12: {
    name: "JPEG Extended (12-bit)",
    ts: J + "51",
    encode: ["dcmcjpeg", "+ee"],
    decode: ["dcmdjpeg", "+te"],
    lossless: false,
  },
  jpegLossless: {
    name: "JPEG Lossless Process 14",
    ts: J + "57",
    encode: ["dcmcjpeg", "+el"],
    decode: ["dcmdjpeg", "+te"],
    lossless: true,
  },
  jpegLosslessSV1: {
    name: "JPEG Lossless SV1",
    ts: J + "70",
    encode: ["dcmcjpeg", "+e1"],
    decode: ["dcmdjpeg", "+te"],
    lossless: true,
  },
  jpegLs: {
    name: "JPEG-LS Lossless",
    ts: J + "80",
    encode: ["dcmcjpls", "+el"],
    decode: ["dcmdjpls", "+te"],
    lossless: true,
  },
  jpegLsNear: {
    name: "JPEG-LS Near-Lossless",
    ts: J + "81",
    encode: ["dcmcjpls", "+en", "+md", "2"],
    decode: ["dcmdjpls", "+te"],
    lossless: false,
  },
  rle: {
    name: "RLE Lossless",
    ts: "1.2.840.10008.1.2.5",
    encode: ["dcmcrle"],
    decode: ["dcmdrle", "+te"],
    lossless: true,
  },
  j2k: {
    name: "JPEG 2000 Lossless",
    ts: J + "90",
    encode: ["gdcmconv", "--j2k"],
    decode: ["gdcmconv", "--raw"],
    lossless: true,
  },
  j2kLossy: {
    name: "JPEG 2000",
    ts: J + "91",
    encode: ["gdcmconv", "--j2k", "--lossy", "-q", "30"],
    decode: ["gdcmconv", "--raw"],
    lossless: false,
  },
};

/** True when every tool is installed (else prints SKIP lines through hasTool). */
export function haveTools(...tools: string[]): boolean {
  return tools.map(hasTool).every(Boolean);
}

/** Runs `tool args in out`; throws with its output when it fails. */
export async function convert(command: string[], input: string, output: string): Promise<void> {
  const [tool, ...args] = command;
  const r = await run(tool, [...args, input, output]);
  if (r.code !== 0) throw new Error(`${command.join(" ")} failed: ${r.stderr}${r.stdout}`);
}

/**
 * An encapsulated Part 10 object: the header of a native object with the given frames as
 * fragments (one per frame, empty Basic Offset Table), in transfer syntax `ts`.
 */
export function encapsulate(native: Uint8Array, ts: string, frames: Uint8Array[]): Uint8Array {
  const { meta, datasetOffset } = decodeFileMetaInformation(native);
  const dataset = native.subarray(datasetOffset);
  const part = decodeDatasetPart(dataset, encodingOf(meta.transferSyntaxUid));
  const header = dataset.subarray(0, part.end);
  const item = (bytes: Uint8Array) => {
    const padded = bytes.length % 2 ? concat([bytes, new Uint8Array(1)]) : bytes;
    const h = new Uint8Array(8);
    const dv = new DataView(h.buffer);
    dv.setUint16(0, 0xfffe, true);
    dv.setUint16(2, 0xe000, true);
    dv.setUint32(4, padded.length, true);
    return concat([h, padded]);
  };
  const pixelHeader = new Uint8Array([
    0xe0,
    0x7f,
    0x10,
    0x00,
    0x4f,
    0x42,
    0,
    0,
    0xff,
    0xff,
    0xff,
    0xff,
  ]);
  const delimiter = new Uint8Array([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
  return concat([
    encodeFileMetaInformation({ ...meta, transferSyntaxUid: ts }),
    header,
    pixelHeader,
    item(new Uint8Array(0)),
    ...frames.map(item),
    delimiter,
  ]);
}

/** A PGM (P5) or PPM (P6) image of one frame, for ojph_compress. */
export function netpbm(pixels: Uint8Array, s: NativeSpec): Uint8Array {
  const magic = s.samplesPerPixel === 3 ? "P6" : "P5";
  const max = 2 ** s.bitsStored - 1;
  const head = new TextEncoder().encode(`${magic}\n${s.columns} ${s.rows}\n${max}\n`);
  const body = pixels.slice();
  if (s.bitsAllocated === 16) { // Netpbm samples are big endian
    for (let i = 0; i < body.length; i += 2) [body[i], body[i + 1]] = [body[i + 1], body[i]];
  }
  return concat([head, body]);
}

/** The pixels of a PGM/PPM written by ojph_expand, little endian. */
export function readNetpbm(bytes: Uint8Array): Uint8Array {
  let at = 0;
  const fields: string[] = [];
  while (fields.length < 4) { // magic, width, height, max
    while (/\s/.test(String.fromCharCode(bytes[at]))) at++;
    let f = "";
    while (!/\s/.test(String.fromCharCode(bytes[at]))) f += String.fromCharCode(bytes[at++]);
    fields.push(f);
  }
  at++;
  const body = bytes.slice(at);
  if (Number(fields[3]) > 255) {
    for (let i = 0; i < body.length; i += 2) [body[i], body[i + 1]] = [body[i + 1], body[i]];
  }
  return body;
}
