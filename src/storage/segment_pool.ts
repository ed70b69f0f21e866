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
import { JOURNAL_DIR, readMinSeq, SEGMENT_HEADER_LENGTH, writeSegmentHeader } from "./journal.ts";
import { isNotFound, removeIfPresent } from "./layout.ts";

export interface SegmentPoolOptions {
  root: string;
  /** Free segments kept at most (default 4). */
  maxSegments?: number;
  /** Smaller segments are deleted, not kept (default 4 MiB). */
  minBytes?: number;
  /** Larger segments are cut to this size when kept (default 64 MiB). */
  maxBytes?: number;
}

const FREE_NAME = /^free-([0-9]+)\.free$/;

export class SegmentPool {
  readonly #root: string;
  readonly #maxSegments: number;
  readonly #minBytes: number;
  readonly #maxBytes: number;
  /** Paths relative to the root, ready to be taken. */
  #free: string[] = [];
  #recycling = 0;
  #counter = 0;
  /** Every record written so far has a seq at most this. */
  #seqFloor = 0;
  /** Open readers of journal segments: a segment being read is deleted, never reused. */
  #readers = new Map<string, number>();

  private constructor(opts: SegmentPoolOptions) {
    this.#root = opts.root;
    this.#maxSegments = opts.maxSegments ?? 4;
    this.#minBytes = opts.minBytes ?? 4 * 1024 * 1024;
    this.#maxBytes = Math.max(opts.maxBytes ?? 64 * 1024 * 1024, SEGMENT_HEADER_LENGTH);
  }

  /** Finds the free segments left by an earlier run. */
  static async open(opts: SegmentPoolOptions): Promise<SegmentPool> {
    const pool = new SegmentPool(opts);
    const found: [number, string][] = [];
    for await (const e of Deno.readDir(`${opts.root}/${JOURNAL_DIR}`)) {
      const m = e.isFile ? FREE_NAME.exec(e.name) : null;
      if (m) found.push([Number(m[1]), `${JOURNAL_DIR}/${e.name}`]);
    }
    found.sort((a, b) => a[0] - b[0]);
    for (const [n, path] of found) {
      if (pool.#free.length < pool.#maxSegments) pool.#free.push(path);
      else await removeIfPresent(`${opts.root}/${path}`);
      pool.#counter = Math.max(pool.#counter, n);
    }
    return pool;
  }

  get available(): number {
    return this.#free.length;
  }

  /** Notes a seq handed out (or found at recovery). */
  noteSeq(seq: number): void {
    if (seq > this.#seqFloor) this.#seqFloor = seq;
  }

  /** A free segment to write into (relative path), removed from the pool; or undefined. */
  take(): string | undefined {
    return this.#free.pop();
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
      try {
        const size = (await file.stat()).size;
        const minSeq = await readMinSeq(file);
        if (size < this.#minBytes || minSeq === undefined) return false;
        // Every record in it becomes stale before the file leaves its name.
        await writeSegmentHeader(file, Math.max(minSeq, this.#seqFloor + 1));
        if (size > this.#maxBytes) await file.truncate(this.#maxBytes);
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
      this.#free.push(target);
      return true;
    } catch (e) {
      if (isNotFound(e)) return true;
      throw e;
    } finally {
      this.#recycling--;
    }
  }
}
