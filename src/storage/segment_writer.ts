// Writing journal segments (the format is described in journal.ts).
//
// Writing: bytes gather in a 256 KiB buffer that goes to the page cache with a plain write on
// this thread, always ending on a page boundary. A trip through the I/O thread pool instead
// costs more than the copy it moves: at eight associations on two cores it duplicated and
// closed the file descriptor and woke two threads for every buffer, and the other core was
// busy with the senders anyway (server CPU per image 9% lower with plain writes, the thread
// taking stores about as busy). Once 256 KiB of a record are written, and while it is the only
// record arriving, an fdatasync starts in the background through a second handle, so the disk
// takes the object while the rest of it is still arriving and the commit's own fdatasync is
// left with the tail. A page is never written again while such an fdatasync may be writing it
// out (the write would wait for it), hence the page boundaries.
import {
  crc32Update,
  JOURNAL_DIR,
  MAX_TRAILER,
  MAX_UID,
  readMinSeq,
  RECORD_MAGIC,
  type RecordInfo,
  SEGMENT_HEADER_LENGTH,
  SEGMENT_MAGIC,
  syncDirectory,
  TRAILER_FIXED,
  TRAILER_MAGIC,
  writeAll,
  writeAllSync,
  writeSegmentHeader,
} from "./journal.ts";

const WRITE_BUFFER = 256 * 1024;
const PAGE = 4096;
/**
 * Bytes written since the last background fdatasync that start another one. Not less: a 0.5
 * MiB image arrives in about the time one fdatasync takes, and one started at its first write
 * only made the commit's own wait for it (last byte to durable 0.66 against 0.55 ms, traced).
 */
const EARLY_SYNC_BYTES = 256 * 1024;
/** Records being received by every writer of this process. */
let recordsInProgress = 0;
/** Records being received or committed by every writer of this process, this one's included. */
export function recordsInFlight(): number {
  return recordsInProgress;
}

/** Bytes zeroed at the start of a dropped record in a reused segment: magic to CRC. */
const RECORD_COMMIT_FIELDS = 28;

/** A record written and committed in the page cache; `durable` resolves once it is on disk. */
export interface FinishedRecord {
  offset: number;
  length: number;
  durable: Promise<void>;
}

/** A record header with seq, length and CRC zero (filled in by commitPatch at commit). */
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

/** Bytes +8 to +28 of a record header: seq, length, CRC-32. */
function commitPatch(seq: number, length: number, crc: number): Uint8Array {
  const out = new Uint8Array(20);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(seq), true);
  view.setBigUint64(8, BigInt(length), true);
  view.setUint32(16, crc >>> 0, true);
  return out;
}

/** The commit trailer that ends a record. */
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
  #buffer: Uint8Array = new Uint8Array(WRITE_BUFFER);
  #buffered = 0;
  /** This writer's open record is counted in recordsInProgress. */
  #counted = false;
  /** The first write that failed: the record fails (and with it each later one until cut). */
  #ioError: unknown;
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

  /**
   * Starts a record with its header and the first Part 10 bytes (preamble + file meta).
   * Throws if the file cannot be written.
   */
  beginRecord(sopInstanceUid: string, prefix: Uint8Array): void {
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
    this.#counted = true;
    recordsInProgress++;
    this.#attempt(() => this.#file.seekSync(this.#end, Deno.SeekMode.Start));
    this.#crc = crc32Update(this.#crc, prefix);
    this.#put(header);
    this.#put(prefix);
  }

  /** Appends Part 10 bytes (copied; written once a buffer is full). Throws once a write failed. */
  append(chunk: Uint8Array): void {
    if (!this.inRecord || this.#finished) throw new Error("no open journal record");
    if (this.#ioError !== undefined) throw this.#ioError;
    this.#crc = crc32Update(this.#crc, chunk);
    this.#put(chunk);
  }

  /** Runs a file step; a failure is kept for the record (its commit fails) and thrown. */
  #attempt(step: () => void): void {
    if (this.#ioError !== undefined) throw this.#ioError;
    try {
      step();
    } catch (e) {
      this.#ioError = e;
      throw e;
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

  /** Writes the buffer out; the next background fdatasync starts once enough is written. */
  #flush(): void {
    const bytes = this.#buffer.subarray(0, this.#buffered);
    this.#position += this.#buffered;
    this.#buffered = 0;
    this.#attempt(() => writeAllSync(this.#file, bytes));
    this.#unsynced += bytes.length;
    this.#maybeStartEarlySync();
  }

  /**
   * Only while this record is the only one arriving: with several at once the disk is kept
   * busy by their commits' fdatasyncs, and an early one per record only added a cache flush
   * and a trip to the I/O pool (eight associations: fdatasync 2.0 against 1.05 per image).
   */
  #maybeStartEarlySync(): void {
    if (
      this.#syncFile && !this.#earlySyncRunning && this.inRecord && !this.#finished &&
      this.#ioError === undefined && this.#unsynced >= EARLY_SYNC_BYTES && recordsInProgress <= 1
    ) this.#startEarlySync(this.#syncFile);
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
    const length = this.#position + this.#buffered - this.#part10Start;
    if (length <= 0) throw new Error("empty journal record");
    // A lower seq would read as a stale record and vanish at the next start-up.
    if (seq < this.minSeq) throw new Error("journal seq below the segment's minSeq");
    const trailer = trailerBytes(seq, length, this.#crc, info);
    const patch = commitPatch(seq, length, this.#crc);
    const recordStart = this.#recordStart;
    // The tail and the trailer go out in one write when the trailer fits behind the tail.
    let tail = this.#buffer.subarray(0, this.#buffered);
    let rest: Uint8Array | undefined = trailer;
    if (this.#buffered + trailer.length <= this.#buffer.length) {
      this.#buffer.set(trailer, this.#buffered);
      tail = this.#buffer.subarray(0, this.#buffered + trailer.length);
      rest = undefined;
    }
    this.#position += this.#buffered + trailer.length;
    this.#buffered = 0;
    this.#finished = true;
    let written: Promise<void> = Promise.resolve();
    try {
      this.#attempt(() => {
        writeAllSync(this.#file, tail);
        if (rest) writeAllSync(this.#file, rest);
        this.#file.seekSync(recordStart + 8, Deno.SeekMode.Start);
        writeAllSync(this.#file, patch);
      });
    } catch (e) {
      written = Promise.reject(e);
    }
    // After a failed fdatasync a later one may succeed without the lost pages, so a failed
    // background fdatasync fails the commit too.
    const early = this.#earlySync;
    this.#earlySync = undefined;
    // The fdatasync starts now, so that it runs while the caller updates the index.
    const synced = this.durable && this.#ioError === undefined ? this.#file.syncData() : written;
    const durable = Promise.all([early, synced]).then(() => {});
    durable.catch(() => {}); // the caller awaits it; a failure must not go unhandled before
    return { offset: this.#part10Start, length, durable };
  }

  /** Keeps the finished record: the next one starts after it. */
  acceptRecord(): void {
    if (!this.#finished) throw new Error("journal record not finished");
    this.#uncount();
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
    this.#unsynced = 0; // no further background fdatasync for this record
    this.#finished = true;
    this.#uncount();
    await this.#earlySync?.catch(() => {});
    this.#earlySync = undefined;
    this.#ioError = undefined;
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

  #uncount(): void {
    if (this.#counted) recordsInProgress--;
    this.#counted = false;
  }

  close(): void {
    this.#uncount();
    for (const file of [this.#file, this.#syncFile]) {
      try {
        file?.close();
      } catch {
        // already closed
      }
    }
  }
}
