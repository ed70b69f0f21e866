// The DICOMDIR of a file-set (PS3.10 8, PS3.3 F.3): a Basic Directory whose Directory Record
// Sequence holds PATIENT, STUDY, SERIES and IMAGE records (PS3.3 F.5) linked by byte offsets
// from the start of the file. Written as a sequence of chunks, one per record: the sizes are
// worked out first (offsets are fixed-size UL values), then each record is encoded with its
// offsets filled in.
import { type DataElement, encodeDataset } from "./dataset.ts";
import { encodeFileMetaInformation } from "./part10.ts";
import { EXPLICIT_VR_LE } from "./transfer_syntaxes.ts";

/** Media Storage Directory Storage (PS3.4 Annex B.5). */
export const MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10";

/** One file of the file-set and the keys of its patient, study and series. */
export interface DicomdirFile {
  /** File ID components (PS3.10 8.5): at most 8 of A-Z, 0-9 and _ each, e.g. DICOM/S0001/I1. */
  fileId: readonly string[];
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  instanceNumber: string;
  patient: { id: string; name: string; birthDate?: string; sex?: string };
  study: {
    uid: string;
    date: string;
    time: string;
    description: string;
    id: string;
    accessionNumber: string;
  };
  series: { uid: string; modality: string; number: string };
}

export interface DicomdirOptions {
  /** Media Storage SOP Instance UID of the DICOMDIR. */
  sopInstanceUid: string;
  implementationClassUid: string;
  implementationVersionName: string;
  /** File-set ID (0004,1130): up to 16 characters of CS. */
  fileSetId?: string;
}

/** A valid File ID component (PS3.10 8.2, 8.5). */
export function isFileIdComponent(c: string): boolean {
  return /^[A-Z0-9_]{1,8}$/.test(c);
}

interface DirRecord {
  type: "PATIENT" | "STUDY" | "SERIES" | "IMAGE";
  keys: DataElement[];
  children: DirRecord[];
  /** Filled in by layout: where the record's item starts, and its encoded length. */
  at: number;
  length: number;
}

const text = new TextEncoder();
const el = (tag: number, vr: string, value: string): DataElement => ({
  tag,
  vr,
  value: text.encode(value),
});
const ul = (tag: number, v: number): DataElement => {
  const value = new Uint8Array(4);
  new DataView(value.buffer).setUint32(0, v, true);
  return { tag, vr: "UL", value };
};
const us = (tag: number, v: number): DataElement => ({
  tag,
  vr: "US",
  value: new Uint8Array([v & 0xff, v >> 8]),
});

/** Keys with text outside ASCII get Specific Character Set ISO_IR 192 (UTF-8) in their record. */
function withCharset(keys: DataElement[]): DataElement[] {
  return keys.some((k) => k.value.some((b) => b >= 0x80))
    ? [el(0x00080005, "CS", "ISO_IR 192"), ...keys]
    : keys;
}

/** The record tree: patients, their studies, series and images, in the order first seen. */
function recordsOf(files: readonly DicomdirFile[]): DirRecord[] {
  const make = (type: DirRecord["type"], keys: DataElement[]): DirRecord => ({
    type,
    keys: withCharset(keys),
    children: [],
    at: 0,
    length: 0,
  });
  const patients = new Map<string, DirRecord>();
  const studies = new Map<string, DirRecord>();
  const series = new Map<string, DirRecord>();
  for (const f of files) {
    for (const c of f.fileId) {
      if (!isFileIdComponent(c)) throw new Error(`"${c}" is not a File ID component`);
    }
    const pKey = `${f.patient.id}\u0000${f.patient.name}`;
    let p = patients.get(pKey);
    if (!p) {
      p = make("PATIENT", [
        el(0x00100010, "PN", f.patient.name),
        el(0x00100020, "LO", f.patient.id),
        el(0x00100030, "DA", f.patient.birthDate ?? ""),
        el(0x00100040, "CS", f.patient.sex ?? ""),
      ]);
      patients.set(pKey, p);
    }
    let st = studies.get(f.study.uid);
    if (!st) {
      st = make("STUDY", [
        el(0x00080020, "DA", f.study.date),
        el(0x00080030, "TM", f.study.time),
        el(0x00080050, "SH", f.study.accessionNumber),
        el(0x00081030, "LO", f.study.description),
        el(0x0020000d, "UI", f.study.uid),
        el(0x00200010, "SH", f.study.id),
      ]);
      studies.set(f.study.uid, st);
      p.children.push(st);
    }
    let se = series.get(f.series.uid);
    if (!se) {
      se = make("SERIES", [
        el(0x00080060, "CS", f.series.modality),
        el(0x0020000e, "UI", f.series.uid),
        el(0x00200011, "IS", f.series.number),
      ]);
      series.set(f.series.uid, se);
      st.children.push(se);
    }
    se.children.push(make("IMAGE", [
      el(0x00041500, "CS", f.fileId.join("\\")),
      el(0x00041510, "UI", f.sopClassUid),
      el(0x00041511, "UI", f.sopInstanceUid),
      el(0x00041512, "UI", f.transferSyntaxUid),
      el(0x00200013, "IS", f.instanceNumber),
    ]));
  }
  return [...patients.values()];
}

/** A record's item (PS3.3 F.3.2.2): its links, in-use flag, type, then its keys. */
function encodeRecord(r: DirRecord, next: number): Uint8Array {
  const body = encodeDataset([
    ul(0x00041400, next),
    us(0x00041410, 0xffff),
    ul(0x00041420, r.children[0]?.at ?? 0),
    el(0x00041430, "CS", r.type),
    ...r.keys,
  ], { explicitVr: true, littleEndian: true });
  const out = new Uint8Array(8 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 0xfffe, true);
  dv.setUint16(2, 0xe000, true);
  dv.setUint32(4, body.length, true);
  out.set(body, 8);
  return out;
}

/** Records depth first (each patient, then its studies, ...), with the sibling that follows. */
function* depthFirst(
  records: readonly DirRecord[],
): Generator<{ r: DirRecord; next: DirRecord | undefined }> {
  for (const [i, r] of records.entries()) {
    yield { r, next: records[i + 1] };
    yield* depthFirst(r.children);
  }
}

/**
 * The DICOMDIR file (Explicit VR Little Endian) for the given files, as chunks: the header,
 * then one chunk per directory record, then the sequence delimiter.
 */
export function* dicomdirChunks(
  files: readonly DicomdirFile[],
  o: DicomdirOptions,
): Generator<Uint8Array> {
  const roots = recordsOf(files);
  const meta = encodeFileMetaInformation({
    sopClassUid: MEDIA_STORAGE_DIRECTORY,
    sopInstanceUid: o.sopInstanceUid,
    transferSyntaxUid: EXPLICIT_VR_LE,
    implementationClassUid: o.implementationClassUid,
    implementationVersionName: o.implementationVersionName,
  });
  const head = (first: number, last: number) =>
    encodeDataset([
      el(0x00041130, "CS", (o.fileSetId ?? "").slice(0, 16)),
      ul(0x00041200, first),
      ul(0x00041202, last),
      us(0x00041212, 0), // File-set Consistency Flag: no known inconsistencies
    ], { explicitVr: true, littleEndian: true });
  // Directory Record Sequence (0004,1220), undefined length: its items follow.
  const sequence = new Uint8Array([0x04, 0, 0x20, 0x12, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  // Offsets count from the first byte of the file (PS3.3 F.3.2.1): lay the records out first.
  let at = meta.length + head(0, 0).length + sequence.length;
  for (const { r } of depthFirst(roots)) {
    r.at = at;
    r.length = encodeRecord(r, 0).length;
    at += r.length;
  }
  yield meta;
  yield head(roots[0]?.at ?? 0, roots[roots.length - 1]?.at ?? 0);
  yield sequence;
  for (const { r, next } of depthFirst(roots)) yield encodeRecord(r, next?.at ?? 0);
  // Sequence Delimitation Item.
  yield new Uint8Array([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
}
