// Write-ahead journal: each association appends its objects to its own segment file under
// <root>/journal/, fdatasyncs, and only then is the C-STORE answered.
//
// Writing: bytes gather in a 256 KiB buffer that goes to the page cache with a plain write
// (a copy, cheaper than a hop through the I/O thread pool), always ending on a page boundary.
// Once 256 KiB of a record are written, an fdatasync starts in the background through a
// second handle, so the disk takes the object while the rest of it is still arriving and the
// commit's own fdatasync is left with the tail. A page is never written again while such an
// fdatasync may be writing it out (the write would wait for it), hence the page boundaries.
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
const RECORD_MAGIC = 0x524a504d; // "MPJR" read as u32 LE
const TRAILER_MAGIC = 0x434a504d; // "MPJC"
const TRAILER_FIXED = 32;
const MAX_TRAILER = 16 << 20;
const MAX_UID = 1024;
const WRITE_BUFFER = 256 * 1024;
const PAGE = 4096;
/** Bytes written since the last background fdatasync that start another one. */
const EARLY_SYNC_BYTES = 256 * 1024;
const READ_CHUNK = 256 * 1024;
/** Bytes zeroed at the start of a dropped record in a reused segment: magic to CRC. */
const RECORD_COMMIT_FIELDS = 28;

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

/** A record written and committed in the page cache; `durable` resolves once it is on disk. */
export interface FinishedRecord {
  offset: number;
  length: number;
  durable: Promise<void>;
}

export function crc32Update(crc: number, bytes: Uint8Array): number {
  return crc32(bytes, crc);
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
}

/**
 * Writes into the page cache without a trip through the I/O thread pool: a copy of at most
 * a few hundred KiB, cheaper than the hop. Only fdatasync, which waits on the disk, is async.
 */
function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
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

function headerBytes(sopInstanceUid: string): Uint8Array {
  const uid = new TextEncoder().encode(sopInstanceUid);
  if (uid.length > MAX_UID) throw new Error("SOP Instance UID too long for the journal");
  const length = Math.ceil((30 + uid.length) / 8) * 8;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  view.setUint32(0, RECORD_MAGIC, true);
  view.setUint16(4, length, true);
  view.setUint16(28, uid.length, true);
  out.set(uid, 30);
  return out;
}

function commitPatch(seq: number, length: number, crc: number): Uint8Array {
  const out = new Uint8Array(20);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(seq), true);
  view.setBigUint64(8, BigInt(length), true);
  view.setUint32(16, crc >>> 0, true);
  return out;
}

function trailerBytes(seq: number, length: number, crc: number, info: RecordInfo): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(info));
  const total = TRAILER_FIXED + json.length + 4;
  if (total > MAX_TRAILER) throw new Error("indexed attributes too large for the journal");
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, TRAILER_MAGIC, true);
  view.setUint32(4, total, true);
  view.setBigUint64(8, BigInt(seq), true);
  view.setBigUint64(16, BigInt(length), true);
  view.setUint32(24, crc >>> 0, true);
  view.setUint32(28, json.length, true);
  out.set(json, TRAILER_FIXED);
  view.setUint32(total - 4, crc32Update(0, out.subarray(0, total - 4)) >>> 0, true);
  return out;
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

/**
 * An open segment taking one record at a time: beginRecord, append..., finishRecord, then
 * acceptRecord (keep) or discardRecord (cut off; never replayed).
 */
export class SegmentWriter {
  /** Relative to the storage root. */
  readonly segment: string;
  readonly durable: boolean;
  /** Records written here must have at least this seq (0 for a segment created new). */
  readonly minSeq: number;
  /** Bytes already allocated and written when the segment was reused (0 when created new). */
  readonly capacity: number;
  #file: Deno.FsFile;
  /** End of the last accepted record: the file's logical size. */
  #end = SEGMENT_HEADER_LENGTH;
  #recordStart = -1;
  #part10Start = 0;
  #position = 0;
  #crc = 0;
  #buffer = new Uint8Array(WRITE_BUFFER);
  #buffered = 0;
  #finished = false;
  /** A second handle for the background fdatasyncs (durable segments only). */
  #syncFile: Deno.FsFile | undefined;
  /** The background fdatasyncs of the open record, chained; a failure fails its commit. */
  #earlySync: Promise<void> | undefined;
  #earlySyncRunning = false;
  #unsynced = 0;

  private constructor(
    segment: string,
    file: Deno.FsFile,
    durable: boolean,
    minSeq = 0,
    capacity = 0,
    syncFile?: Deno.FsFile,
  ) {
    this.segment = segment;
    this.#file = file;
    this.durable = durable;
    this.minSeq = minSeq;
    this.capacity = capacity;
    this.#syncFile = syncFile;
  }

  /** Creates <root>/journal/<name>.seg; with durability its directory entry is synced. */
  static async create(root: string, name: string, durable: boolean): Promise<SegmentWriter> {
    const segment = `${JOURNAL_DIR}/${name}.seg`;
    const file = await Deno.open(`${root}/${segment}`, {
      read: true,
      write: true,
      createNew: true,
    });
    try {
      const header = new Uint8Array(SEGMENT_HEADER_LENGTH);
      header.set(SEGMENT_MAGIC);
      await writeAll(file, header);
      if (durable) {
        await file.syncData();
        await syncDirectory(`${root}/${JOURNAL_DIR}`);
      }
      const syncFile = durable ? await Deno.open(`${root}/${segment}`, { write: true }) : undefined;
      return new SegmentWriter(segment, file, durable, 0, 0, syncFile);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /**
   * Reuses the free segment `free` (relative path) as <root>/journal/<name>.seg: raises its
   * minSeq to at least `minSeq`, syncs that, and only then renames it (and syncs the
   * directory), so that no older record in it can ever pass for a new one.
   */
  static async reuse(
    root: string,
    free: string,
    name: string,
    durable: boolean,
    minSeq: number,
  ): Promise<SegmentWriter> {
    const segment = `${JOURNAL_DIR}/${name}.seg`;
    const file = await Deno.open(`${root}/${free}`, { read: true, write: true });
    try {
      const current = await readMinSeq(file);
      if (current === undefined) throw new Error(`free segment ${free} has no header`);
      const floor = Math.max(current, minSeq);
      await writeSegmentHeader(file, floor);
      const capacity = (await file.stat()).size;
      if (durable) await file.syncData();
      await Deno.rename(`${root}/${free}`, `${root}/${segment}`);
      if (durable) await syncDirectory(`${root}/${JOURNAL_DIR}`);
      const syncFile = durable ? await Deno.open(`${root}/${segment}`, { write: true }) : undefined;
      return new SegmentWriter(segment, file, durable, floor, capacity, syncFile);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** Bytes of accepted records plus the segment header. */
  get size(): number {
    return this.#end;
  }

  get inRecord(): boolean {
    return this.#recordStart >= 0;
  }

  /** Starts a record with its header and the first Part 10 bytes (preamble + file meta). */
  beginRecord(sopInstanceUid: string, prefix: Uint8Array): Promise<void> {
    if (this.inRecord) throw new Error("a journal record is already open in this segment");
    const header = headerBytes(sopInstanceUid);
    this.#recordStart = this.#end;
    this.#part10Start = this.#end + header.length;
    this.#position = this.#end;
    this.#crc = 0;
    this.#buffered = 0;
    this.#finished = false;
    this.#earlySync = undefined;
    this.#unsynced = 0;
    try {
      this.#file.seekSync(this.#end, Deno.SeekMode.Start);
      this.#put(header);
      this.#put(prefix);
      this.#crc = crc32Update(this.#crc, prefix);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Appends Part 10 bytes. */
  append(chunk: Uint8Array): Promise<void> {
    try {
      if (!this.inRecord || this.#finished) throw new Error("no open journal record");
      this.#crc = crc32Update(this.#crc, chunk);
      this.#put(chunk);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Gathers bytes in the buffer, writing it out whenever it reaches a page boundary. */
  #put(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      const limit = WRITE_BUFFER - (this.#position % PAGE);
      const n = Math.min(limit - this.#buffered, bytes.length - at);
      this.#buffer.set(bytes.subarray(at, at + n), this.#buffered);
      this.#buffered += n;
      at += n;
      if (this.#buffered === limit) this.#flush();
    }
  }

  /** Writes the buffer to the page cache; may start a background fdatasync. */
  #flush(): void {
    if (this.#buffered === 0) return;
    writeAllSync(this.#file, this.#buffer.subarray(0, this.#buffered));
    this.#position += this.#buffered;
    this.#unsynced += this.#buffered;
    this.#buffered = 0;
    if (this.#syncFile && !this.#earlySyncRunning && this.#unsynced >= EARLY_SYNC_BYTES) {
      this.#startEarlySync(this.#syncFile);
    }
  }

  #startEarlySync(syncFile: Deno.FsFile): void {
    this.#unsynced = 0;
    this.#earlySyncRunning = true;
    const sync = syncFile.syncData().finally(() => {
      this.#earlySyncRunning = false;
    });
    const chained = Promise.all([this.#earlySync, sync]).then(() => {});
    chained.catch(() => {}); // awaited at the commit or the discard
    this.#earlySync = chained;
  }

  /**
   * Writes the trailer and fills in the header; `durable` resolves once (with durability)
   * the fdatasync is done and the record would survive a power cut. The caller updates the
   * index meanwhile and answers only after `durable`. Returns where its Part 10 bytes are.
   */
  finishRecord(seq: number, info: RecordInfo): FinishedRecord {
    if (!this.inRecord || this.#finished) throw new Error("no open journal record");
    this.#flush();
    const length = this.#position - this.#part10Start;
    if (length <= 0) throw new Error("empty journal record");
    // A lower seq would read as a stale record and vanish at the next start-up.
    if (seq < this.minSeq) throw new Error("journal seq below the segment's minSeq");
    const trailer = trailerBytes(seq, length, this.#crc, info);
    writeAllSync(this.#file, trailer);
    this.#position += trailer.length;
    this.#file.seekSync(this.#recordStart + 8, Deno.SeekMode.Start);
    writeAllSync(this.#file, commitPatch(seq, length, this.#crc));
    this.#finished = true;
    // After a failed fdatasync a later one may succeed without the lost pages, so a failed
    // background fdatasync fails the commit too.
    const early = this.#earlySync;
    this.#earlySync = undefined;
    const durable = !this.durable
      ? Promise.resolve()
      : early
      ? Promise.all([early, this.#file.syncData()]).then(() => {})
      : this.#file.syncData();
    return { offset: this.#part10Start, length, durable };
  }

  /** Keeps the finished record: the next one starts after it. */
  acceptRecord(): void {
    if (!this.#finished) throw new Error("journal record not finished");
    this.#end = this.#position;
    this.#recordStart = -1;
    this.#finished = false;
  }

  /**
   * Drops the open or finished record: truncates the segment back to where it began, or in a
   * reused segment (keeping its blocks) zeroes the record's header there.
   */
  async discardRecord(): Promise<void> {
    if (!this.inRecord) return;
    const wasSynced = this.#finished && this.durable;
    await this.#earlySync?.catch(() => {});
    this.#earlySync = undefined;
    this.#buffered = 0;
    this.#recordStart = -1;
    this.#finished = false;
    this.#position = this.#end;
    if (this.capacity > 0) {
      await this.#file.seek(this.#end, Deno.SeekMode.Start);
      await writeAll(this.#file, new Uint8Array(RECORD_COMMIT_FIELDS));
    } else {
      await this.#file.truncate(this.#end);
    }
    await this.#file.seek(this.#end, Deno.SeekMode.Start);
    // A record already made durable must not come back after a crash.
    if (wasSynced) await this.#file.syncData();
  }

  close(): void {
    for (const file of [this.#file, this.#syncFile]) {
      try {
        file?.close();
      } catch {
        // already closed
      }
    }
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
