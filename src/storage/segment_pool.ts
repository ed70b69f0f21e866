// Recycled journal segments. Overwriting blocks a file already owns is about half the cost
// of appending (the fdatasync then has no allocation or size change to write), so a fully
// materialized segment is kept as <root>/journal/free-<n>.free instead of being deleted, and
// the next association writes into it.
//
// Stale records never come back: a segment's header holds minSeq (bytes 8..16), and a scan
// ends at the first record with seq < minSeq. The value only grows. Before a segment joins
// the pool its minSeq is raised above every record in it and fdatasynced; when it is taken,
// minSeq is raised to the next seq, fdatasynced, and only then is it renamed to its active
// name (see SegmentWriter.reuse).
//
// A fresh server has no materialized segments yet, so with a reserve configured the pool is
// filled at start-up with pre-written ones (header + zeros, fdatasynced: written blocks, not
// the unwritten extents fallocate would leave, whose first write still changes metadata).
// Each is written as free-<n>.prep and renamed once synced; a .prep left by a crash is removed.
import {
  JOURNAL_DIR,
  readMinSeq,
  SEGMENT_HEADER_LENGTH,
  syncDirectory,
  writeSegmentHeader,
} from "./journal.ts";
import { isNotFound, removeIfPresent } from "./layout.ts";

export interface SegmentPoolOptions {
  root: string;
  /** Free segments kept at most (default 4; raised to hold reserveBytes). */
  maxSegments?: number;
  /** Smaller segments are deleted, not kept (default 4 MiB). */
  minBytes?: number;
  /** Larger segments are cut to this size when kept (default 64 MiB). */
  maxBytes?: number;
  /** Bytes of free segments fillReserve() pre-writes, in segments of maxBytes (default 0). */
  reserveBytes?: number;
}

const FREE_NAME = /^free-([0-9]+)\.free$/;
const PREP_NAME = /^free-[0-9]+\.prep$/;
/** Zeros per write when pre-writing a segment. */
const PREP_CHUNK = 4 * 1024 * 1024;

interface FreeSegment {
  /** Relative to the root. */
  path: string;
  size: number;
}

export class SegmentPool {
  readonly #root: string;
  readonly #maxSegments: number;
  readonly #minBytes: number;
  readonly #maxBytes: number;
  readonly #reserveBytes: number;
  /** Ready to be taken. */
  #free: FreeSegment[] = [];
  /** Segments on their way into the pool (recycled or pre-written): they hold a slot. */
  #recycling = 0;
  #counter = 0;
  /** Every record written so far has a seq at most this. */
  #seqFloor = 0;
  /** Open readers of journal segments: a segment being read is deleted, never reused. */
  #readers = new Map<string, number>();

  private constructor(opts: SegmentPoolOptions) {
    this.#root = opts.root;
    this.#minBytes = opts.minBytes ?? 4 * 1024 * 1024;
    this.#maxBytes = Math.max(opts.maxBytes ?? 64 * 1024 * 1024, SEGMENT_HEADER_LENGTH);
    this.#reserveBytes = Math.max(opts.reserveBytes ?? 0, 0);
    // Room for the whole reserve, however many segments of maxBytes that takes.
    this.#maxSegments = Math.max(
      opts.maxSegments ?? 4,
      Math.ceil(this.#reserveBytes / this.#maxBytes),
    );
  }

  /** Finds the free segments left by an earlier run; removes half-written reserve ones. */
  static async open(opts: SegmentPoolOptions): Promise<SegmentPool> {
    const pool = new SegmentPool(opts);
    const dir = `${opts.root}/${JOURNAL_DIR}`;
    const found: [number, string][] = [];
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile) continue;
      const m = FREE_NAME.exec(e.name);
      if (m) found.push([Number(m[1]), `${JOURNAL_DIR}/${e.name}`]);
      // A crash while pre-writing: never synced whole, never in the pool.
      else if (PREP_NAME.test(e.name)) await removeIfPresent(`${dir}/${e.name}`);
    }
    found.sort((a, b) => a[0] - b[0]);
    for (const [n, path] of found) {
      if (pool.#free.length < pool.#maxSegments) {
        pool.#free.push({ path, size: (await Deno.stat(`${opts.root}/${path}`)).size });
      } else await removeIfPresent(`${opts.root}/${path}`);
      pool.#counter = Math.max(pool.#counter, n);
    }
    return pool;
  }

  get available(): number {
    return this.#free.length;
  }

  /** Bytes of the free segments: disk space the journal will write into again. */
  get bytes(): number {
    return this.#free.reduce((n, f) => n + f.size, 0);
  }

  /** Free segments kept at most. */
  get maxSegments(): number {
    return this.#maxSegments;
  }

  /**
   * Bytes fillReserve() would write now: whole segments of maxBytes until the pool holds the
   * reserve, as many as it has room for.
   */
  get reserveShortfall(): number {
    const missing = this.#reserveBytes - this.bytes;
    if (missing <= 0) return 0;
    const room = this.#maxSegments - this.#free.length - this.#recycling;
    return Math.max(0, Math.min(Math.ceil(missing / this.#maxBytes), room)) * this.#maxBytes;
  }

  /**
   * Pre-writes free segments until the pool holds the reserve (or is full); returns the
   * bytes written. Each is synced whole under a .prep name before it becomes a .free one.
   */
  async fillReserve(): Promise<number> {
    let written = 0;
    const zeros = new Uint8Array(PREP_CHUNK);
    while (this.reserveShortfall > 0) {
      const n = ++this.#counter;
      const prep = `${this.#root}/${JOURNAL_DIR}/free-${n}.prep`;
      const target = `${JOURNAL_DIR}/free-${n}.free`;
      this.#recycling++;
      try {
        const file = await Deno.open(prep, { write: true, createNew: true });
        try {
          // Older than any record to come: its zeros end every scan (see journal.ts).
          await writeSegmentHeader(file, this.#seqFloor + 1);
          for (let at = SEGMENT_HEADER_LENGTH; at < this.#maxBytes;) {
            // After the header, writes start on chunk boundaries.
            const want = Math.min(PREP_CHUNK - (at % PREP_CHUNK), this.#maxBytes - at);
            at += await file.write(zeros.subarray(0, want));
          }
          await file.syncData();
        } finally {
          file.close();
        }
        await Deno.rename(prep, `${this.#root}/${target}`);
        await syncDirectory(`${this.#root}/${JOURNAL_DIR}`);
      } catch (e) {
        await removeIfPresent(prep).catch(() => {});
        throw e;
      } finally {
        this.#recycling--;
      }
      this.#free.push({ path: target, size: this.#maxBytes });
      written += this.#maxBytes;
    }
    return written;
  }

  /** Notes a seq handed out (or found at recovery). */
  noteSeq(seq: number): void {
    if (seq > this.#seqFloor) this.#seqFloor = seq;
  }

  /** A free segment to write into (relative path), removed from the pool; or undefined. */
  take(): string | undefined {
    return this.#free.pop()?.path;
  }

  /** Marks a segment as being read until the returned function is called. */
  lease(segment: string): () => void {
    this.#readers.set(segment, (this.#readers.get(segment) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.#readers.get(segment) ?? 1) - 1;
      if (n > 0) this.#readers.set(segment, n);
      else this.#readers.delete(segment);
    };
  }

  /**
   * Keeps a fully materialized segment that takes no more records, if the pool has room;
   * returns false when the caller should delete it instead.
   */
  async recycle(segment: string): Promise<boolean> {
    if (this.#free.length + this.#recycling >= this.#maxSegments) return false;
    if (this.#readers.has(segment)) return false;
    const path = `${this.#root}/${segment}`;
    this.#recycling++;
    try {
      const file = await Deno.open(path, { read: true, write: true });
      let target: string;
      let kept: number;
      try {
        const size = (await file.stat()).size;
        const minSeq = await readMinSeq(file);
        if (size < this.#minBytes || minSeq === undefined) return false;
        // Every record in it becomes stale before the file leaves its name.
        await writeSegmentHeader(file, Math.max(minSeq, this.#seqFloor + 1));
        if (size > this.#maxBytes) await file.truncate(this.#maxBytes);
        kept = Math.min(size, this.#maxBytes);
        await file.syncData();
        target = `${JOURNAL_DIR}/free-${++this.#counter}.free`;
        await Deno.rename(path, `${this.#root}/${target}`);
      } finally {
        file.close();
      }
      // A reader that opened the file before the rename still holds it: let it go.
      if (this.#readers.has(segment)) {
        await removeIfPresent(`${this.#root}/${target}`);
        return true;
      }
      this.#free.push({ path: target, size: kept });
      return true;
    } catch (e) {
      if (isNotFound(e)) return true;
      throw e;
    } finally {
      this.#recycling--;
    }
  }
}
