// Write-ahead journal: each association appends its objects to its own segment file under
// <root>/journal/, fdatasyncs, and only then is the C-STORE answered. This file holds the
// segment format and reading it back (recovery, backup); segment_writer.ts writes it.
//
// Segment file: "MPJSEG01" (8 bytes) + u64 minSeq, then records back to back. A segment
// reused from the pool (segment_pool.ts) still holds older records and bytes past its last
// record; a scan ends cleanly at the first record with seq < minSeq or without a record
// magic there. minSeq 0 (a segment created new) ends no scan that way.
// Record (integers little-endian):
//   +0   "MPJR"                     record magic
//   +4   u16 H                      header length; the Part 10 bytes start at +H
//   +6   u16 flags                  0 (reserved)
//   +8   u64 seq                    ┐ zero while the object streams in (its length is not
//   +16  u64 L                      │ known up front); written in place (seek + write) just
//   +24  u32 CRC-32 of Part 10      ┘ before the commit's fdatasync: L = 0 means uncommitted
//   +28  u16 U, +30 U bytes         SOP Instance UID (ASCII), zero-padded to H
//   +H   L bytes                    the Part 10 file: preamble, DICM, group 0002, dataset
//   +H+L trailer (commit marker):
//        "MPJC", u32 T (trailer length), u64 seq, u64 L, u32 CRC-32 of Part 10,
//        u32 J, J bytes of JSON { record, callingAe, receivedAt }, u32 CRC-32 of the trailer
//        bytes before it.
// A record is complete when the header and trailer agree on seq, L and CRC, the trailer's
// own CRC holds and the Part 10 bytes match their CRC. Anything else at the tail of a
// segment is a torn write (a crash mid-object) and is cut off by recovery. A record that
// is aborted or refused as a duplicate is cut off at once: truncated back to its start, or
// in a reused segment (whose blocks are kept) its header is zeroed.
// seq orders commits across segments and restarts (ms since 1970 x 1024 + a counter).
import { crc32 } from "node:zlib";
import type { InstanceRecord } from "../core/ports.ts";

export const SEGMENT_MAGIC = new TextEncoder().encode("MPJSEG01");
export const SEGMENT_HEADER_LENGTH = 16;
export const JOURNAL_DIR = "journal";
export const RECORD_MAGIC = 0x524a504d; // "MPJR" read as u32 LE
export const TRAILER_MAGIC = 0x434a504d; // "MPJC"
export const TRAILER_FIXED = 32;
export const MAX_TRAILER = 16 << 20;
export const MAX_UID = 1024;
const READ_CHUNK = 256 * 1024;
/** What the trailer keeps so that recovery can index the record without parsing it. */
export interface RecordInfo {
  record: InstanceRecord;
  callingAe: string;
  receivedAt: string;
}

/** A complete record found in a segment. */
export interface JournalEntry {
  /** Segment path relative to the storage root ("journal/<name>.seg"). */
  segment: string;
  /** Offset and length of the Part 10 bytes in the segment. */
  offset: number;
  length: number;
  seq: number;
  sopInstanceUid: string;
  info: RecordInfo;
  /** Where the record starts and ends in the segment. */
  recordStart: number;
  recordEnd: number;
}

export type ScanItem =
  | { kind: "record"; entry: JournalEntry }
  /** A complete record whose Part 10 bytes fail their CRC; skipped. */
  | { kind: "corrupt"; offset: number; sopInstanceUid: string }
  /** A cut-short or never-committed record; the segment is unusable from `offset` on. */
  | { kind: "torn"; offset: number; reason: string };

export function crc32Update(crc: number, bytes: Uint8Array): number {
  return crc32(bytes, crc);
}

export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
}

/**
 * Writes into the page cache without a trip through the I/O thread pool: a copy of at most a
 * few hundred KiB, cheaper than the hop.
 */
export function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
}

/** Reads from the file's current position until `bytes` is full or the file ends; returns count. */
export function readAllSync(file: Deno.FsFile, bytes: Uint8Array): number {
  let done = 0;
  while (done < bytes.length) {
    const n = file.readSync(bytes.subarray(done));
    if (n === null) break;
    done += n;
  }
  return done;
}

/** Reads exactly bytes.length bytes at `position`, or fewer at end of file; returns count. */
export async function readAt(file: Deno.FsFile, position: number, bytes: Uint8Array) {
  await file.seek(position, Deno.SeekMode.Start);
  let done = 0;
  while (done < bytes.length) {
    const n = await file.read(bytes.subarray(done));
    if (n === null) break;
    done += n;
  }
  return done;
}

/** Writes the segment header (magic + minSeq) at the start of the file; no sync. */
export async function writeSegmentHeader(file: Deno.FsFile, minSeq: number): Promise<void> {
  const header = new Uint8Array(SEGMENT_HEADER_LENGTH);
  header.set(SEGMENT_MAGIC);
  new DataView(header.buffer).setBigUint64(8, BigInt(minSeq), true);
  await file.seek(0, Deno.SeekMode.Start);
  await writeAll(file, header);
}

/** A segment header's minSeq; undefined when the file has no valid header. */
export async function readMinSeq(file: Deno.FsFile): Promise<number | undefined> {
  const head = new Uint8Array(SEGMENT_HEADER_LENGTH);
  if (await readAt(file, 0, head) < SEGMENT_HEADER_LENGTH) return undefined;
  if (!SEGMENT_MAGIC.every((b, i) => head[i] === b)) return undefined;
  return Number(new DataView(head.buffer).getBigUint64(8, true));
}

/** fsyncs a directory so that entries created or renamed in it survive a power cut. */
export async function syncDirectory(path: string): Promise<void> {
  const dir = await Deno.open(path, { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

/** Reads every record of a segment in order, verifying checksums; see the format above. */
export async function* scanSegment(root: string, segment: string): AsyncGenerator<ScanItem> {
  const file = await Deno.open(`${root}/${segment}`, { read: true });
  try {
    const size = (await file.stat()).size;
    const head = new Uint8Array(SEGMENT_HEADER_LENGTH);
    const n = await readAt(file, 0, head);
    if (n < SEGMENT_HEADER_LENGTH || !SEGMENT_MAGIC.every((b, i) => head[i] === b)) {
      yield { kind: "torn", offset: 0, reason: "no segment header" };
      return;
    }
    const minSeq = Number(new DataView(head.buffer).getBigUint64(8, true));
    const chunk = new Uint8Array(READ_CHUNK);
    // Each step moves forward by a whole record or ends the scan.
    for (let pos = SEGMENT_HEADER_LENGTH; pos < size;) {
      const step = await readRecord(file, segment, pos, size, minSeq, chunk);
      if (step.item) yield step.item;
      if (step.next === undefined) return;
      pos = step.next;
    }
  } finally {
    file.close();
  }
}

async function readRecord(
  file: Deno.FsFile,
  segment: string,
  pos: number,
  size: number,
  minSeq: number,
  chunk: Uint8Array,
): Promise<{ item?: ScanItem; next?: number }> {
  const torn = (reason: string) => ({ item: { kind: "torn", offset: pos, reason } as ScanItem });
  const fixed = new Uint8Array(30);
  const got = await readAt(file, pos, fixed);
  const hv = new DataView(fixed.buffer);
  if (minSeq > 0) {
    // A reused segment: past its last record lie zeros, a dropped record or older bytes.
    if (got < 4 || hv.getUint32(0, true) !== RECORD_MAGIC) return {};
    const stale = got >= 16 ? Number(hv.getBigUint64(8, true)) : 0;
    if (stale !== 0 && stale < minSeq) return {};
  }
  if (got < 30) return torn("header cut short");
  const h = hv.getUint16(4, true);
  const uidLength = hv.getUint16(28, true);
  if (hv.getUint32(0, true) !== RECORD_MAGIC || uidLength > MAX_UID || h < 30 + uidLength) {
    return torn("bad record header");
  }
  const seq = Number(hv.getBigUint64(8, true));
  const length = Number(hv.getBigUint64(16, true));
  const crc = hv.getUint32(24, true);
  if (length === 0) return torn("record never committed");
  const trailerAt = pos + h + length;
  if (trailerAt + TRAILER_FIXED + 4 > size) return torn("record cut short");

  const uidBytes = new Uint8Array(uidLength);
  await readAt(file, pos + 30, uidBytes);
  const sopInstanceUid = new TextDecoder().decode(uidBytes);
  const fixedTrailer = new Uint8Array(TRAILER_FIXED);
  await readAt(file, trailerAt, fixedTrailer);
  const total = new DataView(fixedTrailer.buffer).getUint32(4, true);
  if (
    new DataView(fixedTrailer.buffer).getUint32(0, true) !== TRAILER_MAGIC ||
    total < TRAILER_FIXED + 4 || total > MAX_TRAILER || trailerAt + total > size
  ) {
    return torn("no commit trailer");
  }
  const trailer = new Uint8Array(total);
  await readAt(file, trailerAt, trailer);
  const tv = new DataView(trailer.buffer);
  const jsonLength = tv.getUint32(28, true);
  if (
    crc32Update(0, trailer.subarray(0, total - 4)) >>> 0 !== tv.getUint32(total - 4, true) ||
    jsonLength !== total - TRAILER_FIXED - 4 || Number(tv.getBigUint64(8, true)) !== seq ||
    Number(tv.getBigUint64(16, true)) !== length || tv.getUint32(24, true) !== crc
  ) {
    return torn("trailer does not match header");
  }
  let info: RecordInfo;
  try {
    info = JSON.parse(
      new TextDecoder().decode(trailer.subarray(TRAILER_FIXED, TRAILER_FIXED + jsonLength)),
    );
  } catch {
    return torn("unreadable trailer");
  }
  let actual = 0;
  for (let done = 0; done < length;) {
    const want = Math.min(chunk.length, length - done);
    if (await readAt(file, pos + h + done, chunk.subarray(0, want)) < want) {
      return torn("record cut short");
    }
    actual = crc32Update(actual, chunk.subarray(0, want));
    done += want;
  }
  const next = trailerAt + total;
  if (actual >>> 0 !== crc || info?.record?.sopInstanceUid !== sopInstanceUid) {
    return { item: { kind: "corrupt", offset: pos, sopInstanceUid }, next };
  }
  const entry: JournalEntry = {
    segment,
    offset: pos + h,
    length,
    seq,
    sopInstanceUid,
    info,
    recordStart: pos,
    recordEnd: next,
  };
  return { item: { kind: "record", entry }, next };
}

/**
 * The Part 10 bytes of a committed record, read at its data offset and checked against its
 * trailer (seq, length, CRC-32); null when the segment no longer holds that record (it was
 * recycled and overwritten, or cut). For readers outside the server (backup).
 */
export async function readCommittedRecord(
  file: Deno.FsFile,
  offset: number,
  length: number,
  seq: number,
): Promise<Uint8Array | null> {
  const fixed = new Uint8Array(TRAILER_FIXED);
  if (await readAt(file, offset + length, fixed) < TRAILER_FIXED) return null;
  const view = new DataView(fixed.buffer);
  if (
    view.getUint32(0, true) !== TRAILER_MAGIC || Number(view.getBigUint64(8, true)) !== seq ||
    Number(view.getBigUint64(16, true)) !== length
  ) return null;
  const data = new Uint8Array(length);
  if (await readAt(file, offset, data) < length) return null;
  // A segment recycled while we read holds other bytes now: the CRC-32 tells.
  if ((crc32Update(0, data) >>> 0) !== view.getUint32(24, true)) return null;
  return data;
}
