// Shared helpers for the storage tests: deterministic objects, a recording logger, temp roots.
import type { InstanceRecord, Logger, LogLevel, ObjectStore } from "../../src/core/ports.ts";
import { encodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { type RecordInfo, type ScanItem, scanSegment } from "../../src/storage/journal.ts";
import { FsObjectStore, type FsObjectStoreOptions } from "../../src/storage/object_store.ts";

export const CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2";
export const MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4";
export const EXPLICIT_LE = "1.2.840.10008.1.2.1";
export const IMPL_UID = "1.2.826.0.1.3680043.9.7433.1";
export const IMPL_VERSION = "MINIPACS_2";

export class MemoryLogger implements Logger {
  lines: { level: LogLevel; message: string; fields?: Record<string, unknown> }[] = [];
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level, message, fields });
  }
}

export function makeRecord(sopInstanceUid: string, over: Partial<InstanceRecord> = {}) {
  const record: InstanceRecord = {
    patientId: "PID1",
    patientName: "Doe^Jane",
    patientBirthDate: "19700101",
    patientSex: "F",
    otherPatientIds: "",
    studyInstanceUid: "1.2.3.1",
    studyDate: "20240102",
    studyTime: "101010",
    accessionNumber: "ACC1",
    studyId: "S1",
    studyDescription: "Chest",
    referringPhysicianName: "Who^Dr",
    seriesInstanceUid: "1.2.3.1.1",
    modality: "CT",
    seriesNumber: "1",
    seriesDescription: "Axial",
    bodyPartExamined: "CHEST",
    seriesDate: "20240102",
    seriesTime: "101011",
    sopInstanceUid,
    sopClassUid: CT_IMAGE,
    instanceNumber: "1",
    transferSyntaxUid: EXPLICIT_LE,
    specificCharacterSet: "ISO_IR 192",
    ...over,
  };
  return record;
}

/** Deterministic pseudo-random bytes seeded by a string (xorshift32). */
export function noise(seed: string, length: number): Uint8Array {
  let x = 2166136261;
  for (let i = 0; i < seed.length; i++) x = Math.imul(x ^ seed.charCodeAt(i), 16777619);
  x = x >>> 0 || 1;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const text = new TextEncoder();

function element(group: number, elem: number, vr: string, value: Uint8Array): Uint8Array {
  const long = ["OB", "OW", "SQ", "UN", "UT", "UC", "UR"].includes(vr);
  const head = new Uint8Array(long ? 12 : 8);
  const view = new DataView(head.buffer);
  view.setUint16(0, group, true);
  view.setUint16(2, elem, true);
  head[4] = vr.charCodeAt(0);
  head[5] = vr.charCodeAt(1);
  if (long) view.setUint32(8, value.length, true);
  else view.setUint16(6, value.length, true);
  const out = new Uint8Array(head.length + value.length);
  out.set(head);
  out.set(value, head.length);
  return out;
}

function str(value: string, pad = 0x20): Uint8Array {
  const raw = text.encode(value);
  if (raw.length % 2 === 0) return raw;
  const out = new Uint8Array(raw.length + 1);
  out.set(raw);
  out[raw.length] = pad;
  return out;
}

/**
 * An Explicit VR Little Endian dataset carrying the record's attributes and `pixelBytes`
 * of deterministic Pixel Data (seeded by the SOP Instance UID).
 */
export function datasetFor(record: InstanceRecord, pixelBytes = 4096): Uint8Array {
  const uid = (v: string) => str(v, 0);
  const parts = [
    element(0x0008, 0x0005, "CS", str(record.specificCharacterSet)),
    element(0x0008, 0x0016, "UI", uid(record.sopClassUid)),
    element(0x0008, 0x0018, "UI", uid(record.sopInstanceUid)),
    element(0x0008, 0x0020, "DA", str(record.studyDate)),
    element(0x0008, 0x0021, "DA", str(record.seriesDate)),
    element(0x0008, 0x0030, "TM", str(record.studyTime)),
    element(0x0008, 0x0031, "TM", str(record.seriesTime)),
    element(0x0008, 0x0050, "SH", str(record.accessionNumber)),
    element(0x0008, 0x0060, "CS", str(record.modality)),
    element(0x0008, 0x0090, "PN", str(record.referringPhysicianName)),
    element(0x0008, 0x1030, "LO", str(record.studyDescription)),
    element(0x0008, 0x103e, "LO", str(record.seriesDescription)),
    element(0x0010, 0x0010, "PN", str(record.patientName)),
    element(0x0010, 0x0020, "LO", str(record.patientId)),
    element(0x0010, 0x0030, "DA", str(record.patientBirthDate)),
    element(0x0010, 0x0040, "CS", str(record.patientSex)),
    element(0x0010, 0x1000, "LO", str(record.otherPatientIds)),
    element(0x0018, 0x0015, "CS", str(record.bodyPartExamined)),
    element(0x0020, 0x000d, "UI", uid(record.studyInstanceUid)),
    element(0x0020, 0x000e, "UI", uid(record.seriesInstanceUid)),
    element(0x0020, 0x0010, "SH", str(record.studyId)),
    element(0x0020, 0x0011, "IS", str(record.seriesNumber)),
    element(0x0020, 0x0013, "IS", str(record.instanceNumber)),
    element(0x7fe0, 0x0010, "OB", noise(record.sopInstanceUid, pixelBytes + (pixelBytes % 2))),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The exact Part 10 bytes the store must produce for this object. */
export function expectedPart10(record: InstanceRecord, dataset: Uint8Array, callingAe: string) {
  const meta = encodeFileMetaInformation({
    sopClassUid: record.sopClassUid,
    sopInstanceUid: record.sopInstanceUid,
    transferSyntaxUid: record.transferSyntaxUid,
    implementationClassUid: IMPL_UID,
    implementationVersionName: IMPL_VERSION,
    sourceAeTitle: callingAe,
  });
  const out = new Uint8Array(meta.length + dataset.length);
  out.set(meta);
  out.set(dataset, meta.length);
  return out;
}

export function openStore(
  root: string,
  over: Partial<FsObjectStoreOptions> = {},
): Promise<FsObjectStore> {
  return FsObjectStore.open({
    root,
    durability: "fsync",
    duplicates: "overwrite",
    implementationClassUid: IMPL_UID,
    implementationVersionName: IMPL_VERSION,
    logger: new MemoryLogger(),
    ...over,
  });
}

/** Streams `dataset` into the store in chunks of the given sizes (cycled) and commits. */
export async function storeObject(
  store: ObjectStore,
  record: InstanceRecord,
  dataset: Uint8Array,
  opts: { assocId?: string; callingAe?: string; chunks?: number[] } = {},
) {
  const writer = await store.begin({
    assocId: opts.assocId ?? "a1",
    callingAeTitle: opts.callingAe ?? "MODALITY",
    sopClassUid: record.sopClassUid,
    sopInstanceUid: record.sopInstanceUid,
    transferSyntaxUid: record.transferSyntaxUid,
  });
  const sizes = opts.chunks ?? [dataset.length];
  let i = 0;
  for (let o = 0; o < dataset.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]);
    await writer.write(dataset.slice(o, o + n));
    o += n;
  }
  return await writer.commit(record);
}

export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of stream) parts.push(p);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Every file under `root` (relative paths), sorted. */
export async function listFiles(root: string, dir = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir ? `${root}/${dir}` : root)) {
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await listFiles(root, rel));
    else out.push(rel);
  }
  return out.sort();
}

export async function withTempDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-storage-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Copies a directory tree with file times (a crash snapshot of a store still open). */
export async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyTree(`${from}/${e.name}`, `${to}/${e.name}`);
    else {
      await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
      const { atime, mtime } = await Deno.stat(`${from}/${e.name}`);
      if (atime && mtime) await Deno.utime(`${to}/${e.name}`, atime, mtime);
    }
  }
}

/** The object the crash writer stores under `uid` (ends in ".<n>"): same bytes every time. */
export function crashObject(uid: string): { record: InstanceRecord; dataset: Uint8Array } {
  const n = Number(uid.slice(uid.lastIndexOf(".") + 1));
  const record = makeRecord(uid, {
    patientId: `P${(n % 3) % 2}`,
    studyInstanceUid: `1.30.${n % 3}`,
    seriesInstanceUid: `1.30.${n % 3}.${n % 5}`,
  });
  const size = 500 + (n * 7919) % 300_000;
  return { record, dataset: datasetFor(record, size) };
}

/** The trailer facts of a journal record for `uid`, as a test writes them. */
export function recordInfo(uid: string): RecordInfo {
  return { record: makeRecord(uid), callingAe: "AE", receivedAt: "2024-01-01T00:00:00.000Z" };
}

/** Every item a scan of the segment finds, in order. */
export async function scanAll(root: string, segment: string): Promise<ScanItem[]> {
  const items: ScanItem[] = [];
  for await (const item of scanSegment(root, segment)) items.push(item);
  return items;
}
