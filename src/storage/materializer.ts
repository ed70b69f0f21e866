// Background materializer: copies journaled objects to their home files (temp file + rename),
// fsyncs files and directories in batches, then points the index at the homes and deletes
// journal segments that are fully materialized and take no more records (or hands them to
// the segment pool for reuse). It runs in quiet moments (no commit for idleMs) so an ingest
// burst is not slowed, or when the backlog grows past a bound. With compression at rest, an
// uncompressed image's home file is written compressed (checked lossless first); the journal
// keeps the object as it arrived until that home file is durable.
import type { InstanceLocation, Logger } from "../core/ports.ts";
import {
  type AtRestCompression,
  compressOnThisThread,
  type Compressor,
  compressRecord,
} from "./compress_at_rest.ts";
import { isNoSpace } from "./disk_space.ts";
import type { IndexDb } from "./index_db.ts";
import { syncDirectory, writeAll } from "./journal.ts";
import { isNotFound, removeIfPresent, TMP_DIR } from "./layout.ts";
import { HomeCopier } from "./home_copier.ts";
import type { SegmentPool } from "./segment_pool.ts";

/** One committed journal record waiting for its home file. */
export interface MaterializeJob {
  sopInstanceUid: string;
  seq: number;
  segment: string;
  offset: number;
  length: number;
  homePath: string;
  /** ISO time of the commit; becomes the home file's modification time. */
  receivedAt: string;
}

export interface MaterializerOptions {
  root: string;
  index: IndexDb;
  durable: boolean;
  logger: Logger;
  /** Start after this long without a commit (ms). */
  idleMs?: number;
  /** Run even while ingest is busy once this many bytes wait. */
  maxBacklogBytes?: number;
  /** Run even while ingest is busy once this many objects wait. */
  maxBacklogObjects?: number;
  batchObjects?: number;
  batchBytes?: number;
  /** Keeps finished segments for reuse instead of deleting them (when it has room). */
  pool?: SegmentPool;
  /** The lossless transfer syntax uncompressed images are stored in; absent: as received. */
  compressTo?: string;
  /** Runs compressDataset() (on worker threads in the server); default: on this thread. */
  compressor?: Compressor;
  /** Copies records home on a thread of its own (home_copier.ts); default true. */
  copyThread?: boolean;
}

interface SegmentState {
  ended: boolean;
  pending: number;
  /** A read handle per copy lane (each seeks on its own). */
  readers: (Deno.FsFile | undefined)[];
}

/** A temp home file written in a pass, before its rename. */
interface Written {
  job: MaterializeJob;
  tmp: string;
  /** Open on this thread (not when the copy thread wrote it). */
  file?: Deno.FsFile;
  length: number;
  transferSyntaxUid?: string;
  ms?: number;
  synced?: Promise<void>;
}

const COPY_CHUNK = 1024 * 1024;
/** Objects of a batch copied at once (each lane with its own buffer and segment handles). */
const COPY_LANES = 2;
const RETRY_MS = 1000;
/** While it keeps failing (a full disk), one log line per this long. */
const FAILURE_LOG_MS = 60_000;

export class Materializer {
  readonly #root: string;
  readonly #index: IndexDb;
  readonly #durable: boolean;
  readonly #logger: Logger;
  readonly #idleMs: number;
  readonly #maxBacklogBytes: number;
  readonly #maxBacklogObjects: number;
  readonly #batchObjects: number;
  readonly #batchBytes: number;
  readonly #pool: SegmentPool | undefined;
  #queue: MaterializeJob[] = [];
  #queuedBytes = 0;
  #segments = new Map<string, SegmentState>();
  #knownDirs = new Set<string>();
  #lastActivity = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #failedAt = 0;
  #closed = false;
  /** Objects per batch: all of batchObjects normally, one at a time after ENOSPC, doubling back. */
  #batchLimit: number;
  #diskFull = false;
  #lastFailureLog = -Infinity;
  #tmpCounter = 0;
  readonly #copyBuffers = Array.from({ length: COPY_LANES }, () => new Uint8Array(COPY_CHUNK));
  /** Waiting for the next batch to go home (storage/backpressure.ts). */
  #progressWaiters: (() => void)[] = [];
  readonly #compression: AtRestCompression | undefined;
  readonly #copier: HomeCopier | undefined;

  constructor(opts: MaterializerOptions) {
    this.#root = opts.root;
    this.#index = opts.index;
    this.#durable = opts.durable;
    this.#logger = opts.logger;
    this.#idleMs = opts.idleMs ?? 75;
    this.#maxBacklogBytes = opts.maxBacklogBytes ?? 512 * 1024 * 1024;
    this.#maxBacklogObjects = opts.maxBacklogObjects ?? 5000;
    this.#batchObjects = opts.batchObjects ?? 64;
    this.#batchLimit = this.#batchObjects;
    this.#batchBytes = opts.batchBytes ?? 64 * 1024 * 1024;
    this.#pool = opts.pool;
    this.#copier = opts.copyThread === false ? undefined : new HomeCopier();
    this.#compression = opts.compressTo === undefined ? undefined : {
      to: opts.compressTo,
      compressor: opts.compressor ?? compressOnThisThread,
      logger: opts.logger,
    };
  }

  /** Objects and bytes waiting for their home files. */
  get backlog(): { objects: number; bytes: number } {
    return { objects: this.#queue.length, bytes: this.#queuedBytes };
  }

  /** The backlog past which it runs even while ingest is busy. */
  get backlogBound(): { objects: number; bytes: number } {
    return { objects: this.#maxBacklogObjects, bytes: this.#maxBacklogBytes };
  }

  /** Resolves once the next batch has gone home, a pass has failed, or it closed. */
  nextProgress(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#progressWaiters.push(resolve));
  }

  #progressed(): void {
    const waiters = this.#progressWaiters;
    this.#progressWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** True while the last attempt failed for lack of disk space (the backlog waits). */
  get diskFull(): boolean {
    return this.#diskFull;
  }

  /** A segment that exists on disk (open for writing until endSegment). */
  trackSegment(segment: string): void {
    if (!this.#segments.has(segment)) {
      this.#segments.set(segment, { ended: false, pending: 0, readers: [] });
    }
  }

  /** The segment takes no more records; it goes once all its records are home. */
  async endSegment(segment: string): Promise<void> {
    const state = this.#segments.get(segment);
    if (!state) return;
    state.ended = true;
    await this.#deleteIfDone(segment);
  }

  /** A record was committed (durable and indexed at its journal location). */
  enqueue(job: MaterializeJob): void {
    this.trackSegment(job.segment);
    this.#segments.get(job.segment)!.pending++;
    this.#queue.push(job);
    this.#queuedBytes += job.length;
    this.#schedule();
  }

  /** Ingest is busy: postpone background work by idleMs. */
  noteActivity(): void {
    this.#lastActivity = performance.now();
  }

  /** Materializes everything queued now; resolves when the queue is empty. */
  async drain(): Promise<void> {
    // Bounded: each pass either empties the queue or throws.
    while (this.#running || this.#queue.length > 0) {
      if (this.#running) {
        await this.#running;
        continue;
      }
      this.#clearTimer();
      const run = this.#run(true);
      this.#running = run;
      try {
        await run;
      } finally {
        this.#running = undefined;
      }
    }
  }

  /**
   * Finishes the queued work and releases file handles. What cannot be materialized now (a
   * full disk) stays in the journal, which the next start replays: said, not thrown.
   */
  async close(): Promise<void> {
    try {
      await this.drain();
    } catch (e) {
      this.#logger.log(
        "warn",
        "objects stay in the journal; they are materialized at the next start",
        {
          objects: this.#queue.length,
          mb: Math.round(this.#queuedBytes / 104857.6) / 10,
          error: String(e),
        },
      );
    } finally {
      this.#closed = true;
      this.#progressed();
      this.#clearTimer();
      for (const state of this.#segments.values()) closeReaders(state);
      this.#segments.clear();
      this.#copier?.close();
    }
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #backlogLarge(): boolean {
    return this.#queuedBytes >= this.#maxBacklogBytes ||
      this.#queue.length >= this.#maxBacklogObjects;
  }

  /** Arms one timer for the next quiet moment (a debounce, not a poll). */
  #schedule(): void {
    if (this.#closed || this.#running || this.#timer !== undefined) return;
    if (this.#queue.length === 0) return;
    const now = performance.now();
    let delay = Math.max(0, this.#lastActivity + this.#idleMs - now);
    if (this.#backlogLarge()) delay = 0;
    if (this.#failedAt > 0) delay = Math.max(delay, this.#failedAt + RETRY_MS - now);
    const timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#running || this.#closed) return;
      const quietFor = performance.now() - this.#lastActivity;
      if (quietFor < this.#idleMs && !this.#backlogLarge()) return this.#schedule();
      this.#running = this.#run(false)
        .catch((e) => this.#failed(e))
        .finally(() => {
          this.#running = undefined;
          this.#schedule();
        });
    }, delay);
    this.#timer = timer;
    Deno.unrefTimer(timer);
  }

  /** A pass failed: retry later, one object at a time after ENOSPC; one log line a minute. */
  #failed(e: unknown): void {
    const now = performance.now();
    this.#failedAt = now;
    const full = isNoSpace(e);
    if (full) this.#batchLimit = 1;
    this.#diskFull = full;
    this.#progressed();
    if (now - this.#lastFailureLog < FAILURE_LOG_MS) return;
    this.#lastFailureLog = now;
    const fields = {
      objects: this.#queue.length,
      mb: Math.round(this.#queuedBytes / 104857.6) / 10,
      error: String(e),
    };
    if (full) {
      this.#logger.log("warn", "disk full: objects wait in the journal; retrying", fields);
    } else this.#logger.log("error", "materializer failed; will retry", fields);
  }

  async #run(force: boolean): Promise<void> {
    // Bounded: every pass takes at least one job off the queue or stops.
    while (this.#queue.length > 0 && !this.#closed) {
      if (!force) {
        const busy = performance.now() - this.#lastActivity < this.#idleMs;
        if (busy && !this.#backlogLarge()) return;
      }
      let bytes = 0;
      let n = 0;
      const most = Math.min(this.#batchObjects, this.#batchLimit);
      while (n < this.#queue.length && n < most && (n === 0 || bytes < this.#batchBytes)) {
        bytes += this.#queue[n].length;
        n++;
      }
      const batch = this.#queue.slice(0, n);
      await this.#materialize(batch);
      this.#queue.splice(0, n);
      this.#queuedBytes -= bytes;
      this.#failedAt = 0;
      this.#batchLimit = Math.min(this.#batchObjects, this.#batchLimit * 2);
      this.#progressed();
      for (const job of batch) {
        const state = this.#segments.get(job.segment);
        if (state) state.pending--;
      }
      for (const segment of new Set(batch.map((j) => j.segment))) {
        await this.#deleteIfDone(segment);
      }
    }
    // Caught up: the index's WAL goes into its file now, not in the middle of the next burst.
    if (this.#queue.length === 0 && !this.#closed) this.#checkpoint();
    if (this.#queue.length === 0 && this.#diskFull) {
      this.#diskFull = false;
      this.#lastFailureLog = -Infinity; // a new episode is reported at once
      this.#logger.log("info", "journal backlog materialized: the disk had room again");
    }
  }

  #checkpoint(): void {
    try {
      this.#index.checkpoint();
    } catch (e) {
      // The next commit past the WAL bound checkpoints instead.
      this.#logger.log("warn", "index checkpoint failed", { error: String(e) });
    }
  }

  /** Writes the batch's home files durably, then marks them in the index (durably). */
  async #materialize(batch: MaterializeJob[]): Promise<void> {
    const live = batch.filter((job) => {
      const row = this.#index.getInstance(job.sopInstanceUid);
      return row !== undefined && row.meta.seq === job.seq && row.location.kind === "journal" &&
        row.location.path === job.segment && row.location.offset === job.offset;
    });
    const written: Written[] = [];
    if (!this.#compression && this.#copier?.usable) {
      await this.#copyOnThread(live, written);
    } else await this.#copyHere(live, written);

    const dirsToSync = new Set<string>();
    for (const { job, tmp } of written) {
      const target = `${this.#root}/${job.homePath}`;
      this.#ensureDirs(job.homePath, dirsToSync);
      try {
        Deno.renameSync(tmp, target);
      } catch (e) {
        if (!isNotFound(e)) throw e;
        // A home directory vanished under us (e.g. deleted by retention): recreate, retry.
        this.#knownDirs.clear();
        this.#ensureDirs(job.homePath, dirsToSync);
        Deno.renameSync(tmp, target);
      }
      dirsToSync.add(parentOf(target));
    }
    if (this.#durable) await Promise.all([...dirsToSync].map(syncDirectory));

    const outcome = new Map(written.map((w) => [w.job, w]));
    const done = this.#index.markMaterialized(live.map((job) => ({
      sopInstanceUid: job.sopInstanceUid,
      seq: job.seq,
      journalPath: job.segment,
      home: {
        kind: "home",
        path: job.homePath,
        offset: 0,
        length: outcome.get(job)?.length ?? job.length,
      } as InstanceLocation,
      // The index keeps the syntax the object was received in, compressed at rest or not:
      // retrieval hands that back (sub_operation_contexts.ts), the file's own is a detail.
    })));
    for (const w of written) {
      if (w.transferSyntaxUid === undefined || !done.has(w.job.sopInstanceUid)) continue;
      this.#logger.log("debug", "compressed at rest", {
        ratio: (w.job.length / w.length).toFixed(2),
        ms: w.ms?.toFixed(1),
      });
    }
    for (const job of live) {
      if (done.has(job.sopInstanceUid)) continue;
      // Overwritten or deleted while we copied: our home file is stale unless a newer
      // version will be materialized to the same path.
      const row = this.#index.getInstance(job.sopInstanceUid);
      if (!row || row.meta.homePath !== job.homePath) {
        await removeIfPresent(`${this.#root}/${job.homePath}`);
      }
    }
  }

  /**
   * Copies the batch on the copy thread: the temp files come back written (and synced), or the
   * pass fails with them removed.
   */
  async #copyOnThread(live: MaterializeJob[], written: Written[]): Promise<void> {
    const entries = live.map((job) => ({
      job,
      tmp: `${this.#root}/${TMP_DIR}/${job.seq}-${++this.#tmpCounter}.tmp`,
      length: job.length,
    }));
    const missing = await this.#copier!.copy(
      entries.map(({ job, tmp }) => ({
        segment: `${this.#root}/${job.segment}`,
        offset: job.offset,
        length: job.length,
        tmp,
        mtimeMs: new Date(job.receivedAt).getTime(),
      })),
      this.#durable,
    );
    const gone = new Set(missing);
    for (const [k, entry] of entries.entries()) {
      if (!gone.has(k)) {
        written.push(entry);
        continue;
      }
      // Only if someone removed the segment by hand: nothing left to copy.
      this.#logger.log("error", "journal segment missing; object cannot be materialized", {
        segment: entry.job.segment,
      });
    }
  }

  /** Copies the batch on this thread (compression at rest, or no copy thread). */
  async #copyHere(live: MaterializeJob[], written: Written[]): Promise<void> {
    // Copied by COPY_LANES lanes at once: each copy waits on the I/O pool twice, and while
    // stores arrive those trips wait for a core, so one lane left the disk and the pool idle.
    let next = 0;
    let failure: { error: unknown } | undefined;
    const lane = async (k: number) => {
      // Bounded by live.length: each turn takes the next job, and a failure stops every lane.
      for (let i = next++; i < live.length && !failure; i = next++) {
        const job = live[i];
        let reader: Deno.FsFile;
        try {
          reader = await this.#reader(job.segment, k);
        } catch (e) {
          if (!isNotFound(e)) throw e;
          // Only if someone removed the segment by hand: nothing left to copy.
          this.#logger.log("error", "journal segment missing; object cannot be materialized", {
            segment: job.segment,
          });
          continue;
        }
        const tmp = `${this.#root}/${TMP_DIR}/${job.seq}-${++this.#tmpCounter}.tmp`;
        const compressed = this.#compression
          ? await compressRecord(job, reader, this.#compression)
          : null;
        // Small file calls run on this thread (a trip to the I/O pool costs more than they do).
        const file = Deno.openSync(tmp, { write: true, createNew: true });
        const entry: Written = { job, tmp, file, length: job.length };
        written.push(entry);
        if (compressed) {
          await writeAll(file, compressed.bytes);
          Object.assign(entry, {
            length: compressed.bytes.length,
            transferSyntaxUid: compressed.transferSyntaxUid,
            ms: compressed.ms,
          });
        } else await this.#copy(job, reader, file, this.#copyBuffers[k]);
        const when = new Date(job.receivedAt);
        if (!Number.isNaN(when.getTime())) file.utimeSync(when, when);
        // Its writeback starts now, while the next files are copied; all are awaited below.
        if (this.#durable) (entry.synced = file.sync()).catch(() => {});
      }
    };
    try {
      const lanes = Array.from({ length: COPY_LANES }, (_, k) =>
        lane(k).catch((error) => {
          failure ??= { error };
        }));
      await Promise.all(lanes);
      if (failure) throw failure.error;
      await Promise.all(written.map((w) => w.synced));
    } catch (e) {
      await Promise.allSettled(written.map((w) => w.synced));
      for (const w of written) {
        w.file?.close();
        await removeIfPresent(w.tmp);
      }
      throw e;
    }
    for (const w of written) w.file?.close();
  }

  /** A cached read handle on a segment for copy lane `lane` (closed with the segment). */
  async #reader(segment: string, lane: number): Promise<Deno.FsFile> {
    this.trackSegment(segment);
    const state = this.#segments.get(segment)!;
    return state.readers[lane] ??= await Deno.open(`${this.#root}/${segment}`, { read: true });
  }

  /**
   * Copies a record in 1 MiB pieces, each read and write one trip to the I/O thread pool: the
   * copying runs there, on another core than the stores arriving meanwhile.
   */
  async #copy(
    job: MaterializeJob,
    reader: Deno.FsFile,
    out: Deno.FsFile,
    buffer: Uint8Array,
  ): Promise<void> {
    reader.seekSync(job.offset, Deno.SeekMode.Start);
    for (let done = 0; done < job.length;) {
      const want = Math.min(buffer.length, job.length - done);
      let n = 0;
      while (n < want) {
        const got = await reader.read(buffer.subarray(n, want));
        if (got === null) throw new Error(`journal ${job.segment} shorter than its index says`);
        n += got;
      }
      await writeAll(out, buffer.subarray(0, want));
      done += want;
    }
  }

  /** Creates the study and series folders, noting which parents need an fsync. */
  #ensureDirs(homePath: string, dirsToSync: Set<string>): void {
    const parts = homePath.split("/");
    let dir = this.#root;
    for (const part of parts.slice(0, -1)) {
      const parent = dir;
      dir = `${dir}/${part}`;
      if (this.#knownDirs.has(dir)) continue;
      try {
        Deno.mkdirSync(dir);
        dirsToSync.add(parent);
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
      this.#knownDirs.add(dir);
    }
  }

  async #deleteIfDone(segment: string): Promise<void> {
    const state = this.#segments.get(segment);
    if (!state || !state.ended || state.pending > 0) return;
    this.#segments.delete(segment);
    closeReaders(state);
    try {
      if (
        await this.#pool?.recycle(segment).catch((e) => {
          this.#logger.log("warn", "could not keep journal segment for reuse", {
            segment,
            error: String(e),
          });
          return false;
        })
      ) return;
      await removeIfPresent(`${this.#root}/${segment}`);
    } catch (e) {
      this.#logger.log("warn", "could not delete journal segment", {
        segment,
        error: String(e),
      });
    }
  }
}

function closeReaders(state: SegmentState): void {
  for (const reader of state.readers) reader?.close();
  state.readers = [];
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}
