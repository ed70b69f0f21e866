// DICOM Part 10 file meta information: preamble, "DICM" prefix and group 0002 (PS3.10 7.1).
// Group 0002 is always Explicit VR Little Endian (PS3.10 7.1, PS3.5 7.1).

import { concatBytes } from "./bytes.ts";
import { tagString } from "./tags.ts";
import { LONG_VRS } from "./vr.ts";

/** Contents of the File Meta Information group that this server writes and reads. */
export interface FileMeta {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  implementationClassUid: string;
  implementationVersionName: string;
  sourceAeTitle?: string;
}

/** Raised when bytes are not a readable DICOM Part 10 file. */
export class DicomError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DicomError";
  }
}

const PREAMBLE_LENGTH = 128;
const PREFIX = [0x44, 0x49, 0x43, 0x4d]; // "DICM"
/** Offset of the first group 0002 element: after preamble and prefix. */
const META_START = PREAMBLE_LENGTH + 4;

const ascii = new TextEncoder();
const latin = new TextDecoder("latin1");

function padded(text: string, pad: number): Uint8Array {
  const raw = ascii.encode(text);
  if (raw.length % 2 === 0) return raw;
  const out = new Uint8Array(raw.length + 1);
  out.set(raw);
  out[raw.length] = pad;
  return out;
}

function element(tag: number, vr: string, value: Uint8Array): Uint8Array {
  const long = LONG_VRS.has(vr);
  const headerLength = long ? 12 : 8;
  const out = new Uint8Array(headerLength + value.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, tag >>> 16, true);
  view.setUint16(2, tag & 0xffff, true);
  out[4] = vr.charCodeAt(0);
  out[5] = vr.charCodeAt(1);
  if (long) view.setUint32(8, value.length, true);
  else {
    if (value.length > 0xffff) throw new DicomError(`value of ${vr} too long for file meta`);
    view.setUint16(6, value.length, true);
  }
  out.set(value, headerLength);
  return out;
}

/**
 * 128-byte zero preamble + "DICM" + group 0002 in Explicit VR Little Endian (PS3.10 7.1):
 * (0002,0000) UL group length, (0002,0001) OB 00\01, (0002,0002), (0002,0003), (0002,0010),
 * (0002,0012) UI (NUL-padded to even), (0002,0013) SH, (0002,0016) AE (space-padded) when given.
 */
export function encodeFileMetaInformation(meta: FileMeta): Uint8Array {
  const parts: Uint8Array[] = [
    element(0x00020001, "OB", new Uint8Array([0x00, 0x01])),
    element(0x00020002, "UI", padded(meta.sopClassUid, 0)),
    element(0x00020003, "UI", padded(meta.sopInstanceUid, 0)),
    element(0x00020010, "UI", padded(meta.transferSyntaxUid, 0)),
    element(0x00020012, "UI", padded(meta.implementationClassUid, 0)),
    element(0x00020013, "SH", padded(meta.implementationVersionName, 0x20)),
  ];
  if (meta.sourceAeTitle !== undefined && meta.sourceAeTitle !== "") {
    parts.push(element(0x00020016, "AE", padded(meta.sourceAeTitle, 0x20)));
  }
  const groupLength = parts.reduce((n, p) => n + p.length, 0);
  const lengthValue = new Uint8Array(4);
  new DataView(lengthValue.buffer).setUint32(0, groupLength, true);
  parts.unshift(element(0x00020000, "UL", lengthValue));

  // PS3.10 7.1: a 128-byte preamble (zeros), "DICM", then the group 0002 elements.
  return concatBytes([new Uint8Array(PREAMBLE_LENGTH), Uint8Array.from(PREFIX), ...parts]);
}

/** Strips trailing NUL and spaces, and leading spaces (PS3.5 6.2). */
function trimValue(bytes: Uint8Array): string {
  return latin.decode(bytes).replace(/^ +/, "").replace(/[\0 ]+$/, "");
}

/**
 * Parses preamble + DICM + group 0002 at the start of a Part 10 file; tolerant of a missing
 * group length (the group ends at the first element of another group). Throws DicomError
 * if the bytes are not Part 10 or the group is malformed.
 */
export function decodeFileMetaInformation(
  bytes: Uint8Array,
): { meta: FileMeta; datasetOffset: number } {
  if (bytes.length < META_START + 8) throw new DicomError("too short for a DICOM Part 10 file");
  for (let i = 0; i < 4; i++) {
    if (bytes[PREAMBLE_LENGTH + i] !== PREFIX[i]) {
      throw new DicomError('no "DICM" prefix after the 128-byte preamble: not a Part 10 file');
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Map<number, Uint8Array>();
  let offset = META_START;
  // The group ends at the first element of another group; (0002,0000) is not trusted, as
  // some writers omit it or get it wrong. Each iteration consumes at least 8 bytes.
  while (offset + 8 <= bytes.length) {
    const group = view.getUint16(offset, true);
    if (group !== 0x0002) break;
    const tag = (group << 16 | view.getUint16(offset + 2, true)) >>> 0;
    const vr = String.fromCharCode(bytes[offset + 4], bytes[offset + 5]);
    if (!/^[A-Z]{2}$/.test(vr)) {
      throw new DicomError(`file meta element ${tagString(tag)} has no explicit VR`);
    }
    let length: number;
    let headerLength: number;
    if (LONG_VRS.has(vr)) {
      if (offset + 12 > bytes.length) throw new DicomError("file meta truncated");
      length = view.getUint32(offset + 8, true);
      headerLength = 12;
    } else {
      length = view.getUint16(offset + 6, true);
      headerLength = 8;
    }
    if (length === 0xffffffff) {
      throw new DicomError(`file meta element ${tagString(tag)} has undefined length`);
    }
    const valueStart = offset + headerLength;
    const valueEnd = valueStart + length;
    if (valueEnd > bytes.length) {
      throw new DicomError(`file meta element ${tagString(tag)} truncated`);
    }
    const value = bytes.subarray(valueStart, valueEnd);
    values.set(tag, value);
    offset = valueEnd;
  }
  const get = (tag: number): string => {
    const v = values.get(tag);
    return v ? trimValue(v) : "";
  };
  const transferSyntaxUid = get(0x00020010);
  if (transferSyntaxUid === "") {
    throw new DicomError("file meta lacks Transfer Syntax UID (0002,0010)");
  }
  const meta: FileMeta = {
    sopClassUid: get(0x00020002),
    sopInstanceUid: get(0x00020003),
    transferSyntaxUid,
    implementationClassUid: get(0x00020012),
    implementationVersionName: get(0x00020013),
  };
  if (values.has(0x00020016)) meta.sourceAeTitle = get(0x00020016);
  return { meta, datasetOffset: offset };
}
