// Writing journal segments (the format is described in journal.ts).
//
// Writing: bytes gather in a 256 KiB buffer that goes to the page cache, always ending on a page
// boundary. With one object arriving at a time, a plain write (a copy, quicker than a trip
// through the I/O thread pool, and the answer waits for it). With several arriving at once
// (several associations), the copy into the page cache, most of the receive path's work, goes
// through the I/O thread pool, to another core than the thread taking stores, which meanwhile
// fills the next buffer; those writes go one after the other (a chain), and whatever comes
// after them waits its turn in it. Once 256 KiB of a record are written, an fdatasync starts
// in the background through a second handle, so the disk takes the object while the rest of it
// is still arriving and the commit's own fdatasync is left with the tail. A page is never
// written again while such an fdatasync may be writing it out (the write would wait for it),
// hence the page boundaries.
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
/** Buffers a writer may have: one filling, the others being written. */
const MAX_BUFFERS = 3;
/** Records being received by every writer of this process: above one, writes go to the pool. */
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
  /** Changes at each begin and discard: a #put that waited for a buffer stops if it did. */
  #recordId = 0;
  /** Buffers written out and free again; with #buffer and those in flight, MAX_BUFFERS. */
  #spare: Uint8Array[] = [];
  #buffers = 1;
  #buffered = 0;
  /** The file's writes and seeks handed to the pool, in order; settles when all are done. */
  #io: Promise<void> = Promise.resolve();
  /** Steps in #io not done yet. */
  #pending = 0;
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

  /** Settles once every byte handed over so far is in the file (not necessarily synced). */
  written(): Promise<void> {
    return this.#io;
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
    this.#recordId++;
    this.#counted = true;
    recordsInProgress++;
    const end = this.#end;
    this.#run(() => this.#file.seekSync(end, Deno.SeekMode.Start));
    this.#crc = crc32Update(this.#crc, prefix);
    return this.#put(header).then(() => this.#put(prefix));
  }

  /** Appends Part 10 bytes; resolves once they are copied (not yet written). */
  append(chunk: Uint8Array): Promise<void> {
    if (!this.inRecord || this.#finished) {
      return Promise.reject(new Error("no open journal record"));
    }
    if (this.#ioError !== undefined) return Promise.reject(this.#ioError);
    this.#crc = crc32Update(this.#crc, chunk);
    return this.#put(chunk);
  }

  /** Runs `step` after every write and seek before it; a failure is kept for the record. */
  #chain(step: () => unknown): Promise<void> {
    this.#pending++;
    const next = this.#io.then(async () => {
      if (this.#ioError === undefined) await step();
    }).catch((e) => {
      this.#ioError ??= e;
    }).finally(() => this.#pending--);
    this.#io = next;
    return next;
  }

  /** Runs a synchronous `step` now when nothing is in flight, else in the chain. */
  #run(step: () => void): Promise<void> {
    if (this.#pending > 0) return this.#chain(step);
    try {
      if (this.#ioError === undefined) step();
    } catch (e) {
      this.#ioError = e;
    }
    return Promise.resolve();
  }

  /**
   * Gathers bytes in the buffer, writing it out whenever it reaches a page boundary. Resolves
   * at once unless every buffer is being written (then once one is free again).
   */
  async #put(bytes: Uint8Array): Promise<void> {
    const record = this.#recordId;
    let at = 0;
    while (at < bytes.length) {
      if (record !== this.#recordId) throw new Error("journal record discarded");
      const limit = WRITE_BUFFER - (this.#position % PAGE);
      const n = Math.min(limit - this.#buffered, bytes.length - at);
      this.#buffer.set(bytes.subarray(at, at + n), this.#buffered);
      this.#buffered += n;
      at += n;
      if (this.#buffered === limit) await this.#flush();
    }
  }

  /** Hands the buffer to the writes; the next background fdatasync starts once it is written. */
  async #flush(): Promise<void> {
    if (this.#buffered === 0) return;
    const full = this.#buffer;
    const bytes = full.subarray(0, this.#buffered);
    this.#position += this.#buffered;
    this.#buffered = 0;
    if (this.#pending === 0 && recordsInProgress <= 1) {
      // Alone: written now, and the buffer is free again at once.
      this.#run(() => writeAllSync(this.#file, bytes));
      this.#unsynced += bytes.length;
      this.#maybeStartEarlySync();
      return;
    }
    const written = this.#chain(() => writeAll(this.#file, bytes)).then(() => {
      this.#spare.push(full);
      this.#unsynced += bytes.length;
      this.#maybeStartEarlySync();
    });
    let next = this.#spare.pop();
    if (!next && this.#buffers < MAX_BUFFERS) {
      this.#buffers++;
      next = new Uint8Array(WRITE_BUFFER);
    }
    if (!next) {
      await written; // Bounded: every buffer in flight comes back when its write ends.
      next = this.#spare.pop()!;
    }
    this.#buffer = next;
  }

  #maybeStartEarlySync(): void {
    if (
      this.#syncFile && !this.#earlySyncRunning && this.inRecord && !this.#finished &&
      this.#ioError === undefined && this.#unsynced >= EARLY_SYNC_BYTES
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
    const tail = this.#buffer.subarray(0, this.#buffered);
    const length = this.#position + tail.length - this.#part10Start;
    if (length <= 0) throw new Error("empty journal record");
    // A lower seq would read as a stale record and vanish at the next start-up.
    if (seq < this.minSeq) throw new Error("journal seq below the segment's minSeq");
    const trailer = trailerBytes(seq, length, this.#crc, info);
    const patch = commitPatch(seq, length, this.#crc);
    const recordStart = this.#recordStart;
    this.#position += tail.length + trailer.length;
    this.#buffered = 0;
    this.#finished = true;
    // The tail is small: written here, once the writes before it are done, with the trailer
    // and the header's commit fields.
    const inPlace = this.#pending === 0;
    const written = this.#run(() => {
      writeAllSync(this.#file, tail);
      writeAllSync(this.#file, trailer);
      this.#file.seekSync(recordStart + 8, Deno.SeekMode.Start);
      writeAllSync(this.#file, patch);
    }).then(() => {
      if (this.#ioError !== undefined) throw this.#ioError;
    });
    // After a failed fdatasync a later one may succeed without the lost pages, so a failed
    // background fdatasync fails the commit too.
    const early = this.#earlySync;
    this.#earlySync = undefined;
    // Written in place: the fdatasync starts now, so that it runs while the caller updates the
    // index (a callback would start it only after that).
    const synced = !this.durable
      ? written
      : inPlace && this.#ioError === undefined
      ? this.#file.syncData()
      : written.then(() => this.#file.syncData());
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
    this.#recordId++;
    this.#uncount();
    await this.#io;
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
