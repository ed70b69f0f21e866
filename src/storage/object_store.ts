// ObjectStore on the filesystem: objects stream into a per-association journal segment,
// are fdatasynced and indexed before the C-STORE is answered, and reach their home files
// later through the materializer. With durability, materialized segments are kept in a
// pool and reused: overwriting blocks a file owns makes the fdatasync cheaper than appending.
import { encodeFileMetaInformation } from "../core/dicom/part10.ts";
import type {
  CommitResult,
  IncomingObject,
  InstanceRecord,
  Logger,
  ObjectStore,
  ObjectWriter,
} from "../core/ports.ts";
import { deleteStored } from "./delete.ts";
import { IndexDb } from "./index_db.ts";
import { JOURNAL_DIR, type RecordInfo, SegmentWriter } from "./journal.ts";
import { homePathFor, INDEX_FILE, isNotFound, removeIfPresent, TMP_DIR } from "./layout.ts";
import { roomInJournal } from "./backpressure.ts";
import { FreeSpaceGauge } from "./free_space.ts";
import { Materializer, type MaterializerOptions } from "./materializer.ts";
import { recover } from "./recovery.ts";
import { SegmentPool, type SegmentPoolOptions } from "./segment_pool.ts";

export type Durability = "fsync" | "none";
export type DuplicatePolicy = "overwrite" | "ignore" | "reject";

export interface FsObjectStoreOptions {
  root: string;
  /** "fsync" (default): answer only once durable. "none": no fdatasync; a power cut loses data. */
  durability: Durability;
  duplicates: DuplicatePolicy;
  implementationClassUid: string;
  implementationVersionName: string;
  logger: Logger;
  /** Lossless compression at rest: the transfer syntax home files are written in. */
  compressTo?: string;
  /** Where compression runs (worker threads); default: the calling thread. */
  compressor?: MaterializerOptions["compressor"];
  /** Tuning for tests; defaults suit production. */
  materializer?: Partial<
    Pick<
      MaterializerOptions,
      "idleMs" | "maxBacklogBytes" | "maxBacklogObjects" | "batchObjects" | "batchBytes"
    >
  >;
  /** A segment takes no new record once it holds this many bytes (default 256 MiB). */
  segmentMaxBytes?: number;
  /** Reuse of materialized segments (durability "fsync" only); false turns it off. */
  segmentPool?: Omit<SegmentPoolOptions, "root" | "reserveBytes"> | false;
  /**
   * Free segments pre-written at open, before it resolves, so that even a fresh server's
   * first stores overwrite allocated blocks (needs the pool; default 0: none).
   */
  journalReserveBytes?: number;
  /** The reserve is not written if it would leave less free space than this (default 0). */
  minFreeBytes?: number;
  /**
   * Called with the index once it is open, before recovery replays the journal into it: the
   * place to add tables and hooks (forwarding queues) that recovery must see.
   */
  onIndexOpen?: (index: IndexDb) => void;
}

export interface StoredObject {
  /** The Part 10 bytes: preamble, DICM, file meta, dataset as received. */
  stream: ReadableStream<Uint8Array>;
  /** Instead of the stream: all the bytes at once, into the start of `into`. */
  readAll(into: Uint8Array): Promise<Uint8Array>;
  length: number;
  transferSyntaxUid: string;
  sopClassUid: string;
}

interface AssociationState {
  segment?: SegmentWriter;
  writer?: JournalObjectWriter;
}

const SEQ_PER_MS = 1024;
/** A reused segment with less room left than this is swapped for another free one. */
const ROTATE_MARGIN = 1024 * 1024;
const MIB = 1024 * 1024;

/** Free space of the volume holding `path`, as an unprivileged user may use it. */
async function diskFreeBytes(path: string): Promise<number> {
  try {
    const { statfs } = await import("node:fs/promises");
    const s = await statfs(path);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    const out = await new Deno.Command("df", { args: ["-Pk", path], stdout: "piped" })
      .output();
    const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
    const available = Number(line.split(/\s+/)[3]);
    if (!out.success || !Number.isFinite(available)) {
      throw new Error(`cannot read free space of ${path}`);
    }
    return available * 1024;
  }
}

/**
 * Pre-writes the free segments the pool lacks for the journal reserve, unless that would
 * leave less than minFreeBytes on the disk. A reserve not written is logged, never fatal.
 */
async function fillJournalReserve(
  pool: SegmentPool,
  root: string,
  opts: FsObjectStoreOptions,
): Promise<void> {
  const missing = pool.reserveShortfall;
  if (missing === 0) return;
  const mib = (n: number) => Math.floor(n / MIB);
  try {
    // Raw disk space: what the reserve takes counts as free once it is in the pool.
    const free = await diskFreeBytes(root);
    const minFree = opts.minFreeBytes ?? 0;
    if (free - missing < minFree) {
      opts.logger.log("warn", "journal reserve skipped: it would leave less than min_free_mb", {
        reserveMb: mib(missing),
        freeMb: mib(free),
        minFreeMb: mib(minFree),
      });
      return;
    }
    // Start-up waits for this (seconds on a slow disk), and the disk fills by that much: say why.
    opts.logger.log(
      "info",
      `journal reserve: writing ${mib(missing)} MiB of journal segments ahead ` +
        "(storage.journal_reserve_mb), so that incoming images overwrite allocated blocks and " +
        "each store's sync is cheaper; they are reused, count as free space, and 0 turns this off",
    );
    const started = performance.now();
    const written = await pool.fillReserve();
    opts.logger.log("info", `journal reserve: ${mib(written)} MiB reserved`, {
      freeSegments: pool.available,
      ms: Math.round(performance.now() - started),
    });
  } catch (e) {
    opts.logger.log("warn", "journal reserve not written", { error: String(e) });
  }
}

export class FsObjectStore implements ObjectStore {
  readonly root: string;
  readonly index: IndexDb;
  readonly #opts: FsObjectStoreOptions;
  /** statfs at most once a second (free_space.ts). */
  readonly freeSpace: FreeSpaceGauge;
  readonly #materializer: Materializer;
  readonly #associations = new Map<string, AssociationState>();
  readonly #pool: SegmentPool | undefined;
  #lastSeq: number;
  #segmentCounter = 0;
  #closed = false;

  private constructor(
    opts: FsObjectStoreOptions,
    index: IndexDb,
    materializer: Materializer,
    lastSeq: number,
    pool: SegmentPool | undefined,
  ) {
    this.root = opts.root;
    this.#opts = opts;
    this.index = index;
    this.#materializer = materializer;
    this.#lastSeq = lastSeq;
    this.#pool = pool;
    this.freeSpace = new FreeSpaceGauge(() => diskFreeBytes(opts.root));
  }

  /** Creates the folders if needed, opens the index and runs start-up recovery. */
  static async open(opts: FsObjectStoreOptions): Promise<FsObjectStore> {
    const root = opts.root.replace(/\/+$/, "") || "/";
    await Deno.mkdir(`${root}/${JOURNAL_DIR}`, { recursive: true });
    await Deno.mkdir(`${root}/${TMP_DIR}`, { recursive: true });
    const index = IndexDb.open(`${root}/${INDEX_FILE}`);
    const durable = opts.durability !== "none";
    let pool: SegmentPool | undefined;
    try {
      opts.onIndexOpen?.(index);
      if (durable && opts.segmentPool !== false) {
        pool = await SegmentPool.open({
          ...opts.segmentPool,
          root,
          reserveBytes: opts.journalReserveBytes ?? 0,
        });
      }
    } catch (e) {
      index.close();
      throw e;
    }
    const materializer = new Materializer({
      ...opts.materializer,
      compressTo: opts.compressTo,
      compressor: opts.compressor,
      root,
      index,
      durable,
      logger: opts.logger,
      pool,
    });
    try {
      const { maxSeq, queued } = await recover({
        root,
        index,
        materializer,
        logger: opts.logger,
        duplicates: opts.duplicates,
        pool,
      });
      const store = new FsObjectStore({ ...opts, root }, index, materializer, maxSeq, pool);
      // After recovery (which may refill the pool and sets its seq floor); the server
      // listens only once this is done. A restart finds the reserve and writes nothing. After
      // a crash, the segments recovery left to the materializer return to the pool as they
      // go home: writing the reserve anew would hold start-up for seconds to duplicate them.
      if (pool && queued === 0) await fillJournalReserve(pool, root, opts);
      return store;
    } catch (e) {
      await materializer.close().catch(() => {});
      index.close();
      throw e;
    }
  }

  get durable(): boolean {
    return this.#opts.durability !== "none";
  }

  /** Free journal segments kept for reuse (the journal reserve), in bytes; not images. */
  get journalReserveBytes(): number {
    return this.#pool?.bytes ?? 0;
  }

  /** Objects still waiting in the journal for their home files. */
  get backlog(): { objects: number; bytes: number; diskFull: boolean } {
    return { ...this.#materializer.backlog, diskFull: this.#materializer.diskFull };
  }

  /** A commit order that grows across restarts: ms since 1970 x 1024 + a counter. */
  nextSeq(nowMs: number): number {
    this.#lastSeq = Math.max(this.#lastSeq + 1, nowMs * SEQ_PER_MS);
    this.#pool?.noteSeq(this.#lastSeq);
    return this.#lastSeq;
  }

  /**
   * Other work on stored objects is running (forwarding): the materializer waits for a quiet
   * moment, as it does while objects arrive.
   */
  noteActivity(): void {
    this.#materializer.noteActivity();
  }

  /**
   * Free disk space plus the free journal segments, which stores write into again; the disk's
   * figure is at most a second old unless `fresh`.
   */
  async freeBytes(fresh = false): Promise<number> {
    return await this.freeSpace.bytes(fresh) + (this.#pool?.bytes ?? 0);
  }

  async begin(incoming: IncomingObject): Promise<ObjectWriter> {
    if (this.#closed) throw new Error("object store is closed");
    let assoc = this.#associations.get(incoming.assocId);
    if (!assoc) {
      assoc = {};
      this.#associations.set(incoming.assocId, assoc);
    }
    if (assoc.writer) {
      throw new Error(`association ${incoming.assocId} already has an object in progress`);
    }
    const writer = new JournalObjectWriter(this, assoc, incoming);
    assoc.writer = writer;
    try {
      const max = this.#opts.segmentMaxBytes ?? 256 * 1024 * 1024;
      const current = assoc.segment;
      const nearlyFull = current !== undefined && current.capacity > 0 &&
        current.size + ROTATE_MARGIN > current.capacity && (this.#pool?.available ?? 0) > 0;
      if (current && (current.size >= max || nearlyFull)) {
        await this.#retireSegment(current);
        assoc.segment = undefined;
      }
      if (!assoc.segment) {
        const name = `${safeName(incoming.assocId)}-${Date.now()}-${++this.#segmentCounter}`;
        assoc.segment = await this.#openSegment(name);
        this.#materializer.trackSegment(assoc.segment.segment);
      }
      const prefix = encodeFileMetaInformation({
        sopClassUid: incoming.sopClassUid,
        sopInstanceUid: incoming.sopInstanceUid,
        transferSyntaxUid: incoming.transferSyntaxUid,
        implementationClassUid: this.#opts.implementationClassUid,
        implementationVersionName: this.#opts.implementationVersionName,
        sourceAeTitle: incoming.callingAeTitle,
      });
      await assoc.segment.beginRecord(incoming.sopInstanceUid, prefix);
      writer.segment = assoc.segment;
    } catch (e) {
      assoc.writer = undefined;
      await assoc.segment?.discardRecord().catch(() => {});
      throw e;
    }
    return writer;
  }

  async endAssociation(assocId: string): Promise<void> {
    const assoc = this.#associations.get(assocId);
    if (!assoc) return;
    this.#associations.delete(assocId);
    if (assoc.writer) await assoc.writer.abort();
    if (assoc.segment) await this.#retireSegment(assoc.segment);
  }

  /** A free segment from the pool when there is one, else a new file. */
  async #openSegment(name: string): Promise<SegmentWriter> {
    const free = this.#pool?.take();
    if (free !== undefined) {
      try {
        const segment = await SegmentWriter.reuse(
          this.root,
          free,
          name,
          this.durable,
          this.#lastSeq + 1,
        );
        // Its records need a seq of at least minSeq.
        this.#lastSeq = Math.max(this.#lastSeq, segment.minSeq - 1);
        this.#pool?.noteSeq(this.#lastSeq);
        return segment;
      } catch (e) {
        this.#opts.logger.log("warn", "could not reuse a free journal segment", {
          segment: free,
          error: String(e),
        });
        await removeIfPresent(`${this.root}/${free}`).catch(() => {});
      }
    }
    return await SegmentWriter.create(this.root, name, this.durable);
  }

  async #retireSegment(segment: SegmentWriter): Promise<void> {
    segment.close();
    await this.#materializer.endSegment(segment.segment);
  }

  /** Instances whose record is written and being synced: SOP Instance UID -> its fdatasync. */
  #durableByUid = new Map<string, Promise<void>>();

  /**
   * The stored instance once durable: a copy still being synced is waited for; null when
   * none is stored (or its sync failed).
   */
  async durableInstance(sopInstanceUid: string) {
    await this.#durableByUid.get(sopInstanceUid)?.catch(() => {});
    return this.index.getInstance(sopInstanceUid) ?? null;
  }

  /** Commits a finished journal record: policy, fdatasync, index, hand-off. */
  async commitRecord(
    writer: JournalObjectWriter,
    segment: SegmentWriter,
    given: InstanceRecord,
  ): Promise<CommitResult> {
    const { incoming } = writer;
    // The file meta written at begin() is the truth for these three.
    const record: InstanceRecord = {
      ...given,
      sopInstanceUid: incoming.sopInstanceUid,
      sopClassUid: incoming.sopClassUid,
      transferSyntaxUid: incoming.transferSyntaxUid,
    };
    const policy = this.#opts.duplicates;
    const duplicate: CommitResult = policy === "ignore"
      ? "duplicate-ignored"
      : "duplicate-rejected";
    // A copy of this instance still on its way to disk: a duplicate is judged once that
    // copy is durable (or has failed), never acknowledged on the strength of it.
    await this.#durableByUid.get(record.sopInstanceUid)?.catch(() => {});
    if (policy !== "overwrite" && this.index.getInstance(record.sopInstanceUid)) {
      await segment.discardRecord();
      return duplicate;
    }
    const homePath = await homePathFor(record);
    const now = Date.now();
    const seq = this.nextSeq(now);
    const receivedAt = new Date(now).toISOString();
    const info: RecordInfo = { record, callingAe: incoming.callingAeTitle, receivedAt };
    const { offset, length, durable } = segment.finishRecord(seq, info);
    // A series belongs to one study: one reused under another study is refused, never moved
    // (that would take the first study's images out of it). Checked in the same turn as the
    // index write below.
    const studyOfSeries = this.index.studyOfSeries(record.seriesInstanceUid);
    if (studyOfSeries !== undefined && studyOfSeries !== record.studyInstanceUid) {
      await durable.catch(() => {});
      await segment.discardRecord();
      return "series-in-other-study";
    }
    // The index is updated while the disk syncs; the answer waits for both.
    let result;
    try {
      result = this.index.upsertInstance(
        record,
        { kind: "journal", path: segment.segment, offset, length },
        { homePath, size: length, receivedAt, callingAe: incoming.callingAeTitle, seq },
        { onlyIfAbsent: policy !== "overwrite" },
      );
    } catch (e) {
      await durable.catch(() => {});
      throw e;
    }
    if (result.conflict) {
      await this.#durableByUid.get(record.sopInstanceUid)?.catch(() => {});
      await durable.catch(() => {});
      await segment.discardRecord();
      return duplicate;
    }
    this.#durableByUid.set(record.sopInstanceUid, durable);
    try {
      await durable;
    } catch (e) {
      // Not durable: the object must not be found. Put back what was there, unless another
      // store of the same instance has replaced our row meanwhile.
      if (this.index.getInstance(record.sopInstanceUid)?.meta.seq === seq) {
        if (result.previous) {
          this.index.setLocation(record.sopInstanceUid, result.previous.location);
        } else this.index.deleteInstance(record.sopInstanceUid);
      }
      throw e;
    } finally {
      if (this.#durableByUid.get(record.sopInstanceUid) === durable) {
        this.#durableByUid.delete(record.sopInstanceUid);
      }
    }
    segment.acceptRecord();
    this.#materializer.noteActivity();
    if (result.superseded) return "stored";
    this.#materializer.enqueue({
      sopInstanceUid: record.sopInstanceUid,
      seq,
      segment: segment.segment,
      offset,
      length,
      homePath,
      receivedAt,
    });
    const previousHome = result.previous?.meta.homePath;
    if (previousHome !== undefined && previousHome !== homePath) {
      // The object moved (another study or series): its old home file goes.
      await removeIfPresent(`${this.root}/${previousHome}`).catch((e) =>
        this.#opts.logger.log("warn", "could not remove replaced home file", {
          error: String(e),
        })
      );
    }
    // Durable and indexed; past the journal's hard bound the answer waits (backpressure.ts).
    await roomInJournal(this.#materializer);
    return "stored";
  }

  /** The Part 10 bytes of a stored object, streamed from the journal or its home file. */
  async readObject(sopInstanceUid: string): Promise<StoredObject | null> {
    // Bounded retries: the materializer may move the object between lookup and open.
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = this.index.getInstance(sopInstanceUid);
      if (!row) return null;
      // A journal segment being read is not reused (it would be overwritten under us).
      const release = row.location.kind === "journal"
        ? this.#pool?.lease(row.location.path)
        : undefined;
      let file: Deno.FsFile;
      try {
        file = await Deno.open(`${this.root}/${row.location.path}`, { read: true });
      } catch (e) {
        release?.();
        if (isNotFound(e)) continue;
        throw e;
      }
      const range = rangeReader(file, row.location.offset, row.location.length, release);
      return {
        stream: range.stream,
        readAll: range.readAll,
        length: row.location.length,
        transferSyntaxUid: row.record.transferSyntaxUid,
        sopClassUid: row.record.sopClassUid,
      };
    }
    throw new Error(`stored object ${sopInstanceUid} is indexed but its file is missing`);
  }

  /**
   * Bytes [start, start + length) of a stored object's Part 10 bytes (cut at its end), with
   * the object's size and the commit seq of the copy read; null when it is not stored.
   */
  async readObjectRange(
    sopInstanceUid: string,
    start: number,
    length: number,
  ): Promise<{ bytes: Uint8Array; total: number; seq: number } | null> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = this.index.getInstance(sopInstanceUid);
      if (!row) return null;
      const release = row.location.kind === "journal"
        ? this.#pool?.lease(row.location.path)
        : undefined;
      let file: Deno.FsFile;
      try {
        file = await Deno.open(`${this.root}/${row.location.path}`, { read: true });
      } catch (e) {
        release?.();
        if (isNotFound(e)) continue;
        throw e;
      }
      try {
        const total = row.location.length;
        const from = Math.min(Math.max(0, start), total);
        const bytes = new Uint8Array(Math.max(0, Math.min(length, total - from)));
        await file.seek(row.location.offset + from, Deno.SeekMode.Start);
        let n = 0;
        while (n < bytes.length) {
          const got = await file.read(bytes.subarray(n));
          if (got === null) throw new Error("stored object is shorter than indexed");
          n += got;
        }
        return { bytes, total, seq: row.meta.seq };
      } finally {
        file.close();
        release?.();
      }
    }
    throw new Error(`stored object ${sopInstanceUid} is indexed but its file is missing`);
  }

  /** Checks that keep an object from retention (queued or failed for a forward). */
  readonly #holds: ((sopInstanceUid: string) => boolean)[] = [];

  /** Adds a check that keeps objects from retention while it says so. */
  addRetentionHold(held: (sopInstanceUid: string) => boolean): void {
    this.#holds.push(held);
  }

  /** True when retention must not delete this object now. */
  isHeld(sopInstanceUid: string): boolean {
    return this.#holds.some((held) => held(sopInstanceUid));
  }

  /** Removes an object from the index and disk (for retention and tests); crash-safe. */
  async deleteObject(sopInstanceUid: string): Promise<boolean> {
    // A journal copy is skipped by the materializer and leaves with its segment.
    return (await deleteStored(this, "instance", sopInstanceUid)).instances > 0;
  }

  /** Materializes everything in the journal now (tests, shutdown). */
  drain(): Promise<void> {
    return this.#materializer.drain();
  }

  /** Ends all associations, drains the materializer and closes the index. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      for (const id of [...this.#associations.keys()]) await this.endAssociation(id);
      await this.#materializer.close();
    } finally {
      this.index.close();
    }
  }
}

type WriterState = "open" | "committing" | "done";

class JournalObjectWriter implements ObjectWriter {
  readonly incoming: IncomingObject;
  segment: SegmentWriter | undefined;
  #store: FsObjectStore;
  #assoc: AssociationState;
  #state: WriterState = "open";
  #committing: Promise<unknown> | undefined;

  constructor(store: FsObjectStore, assoc: AssociationState, incoming: IncomingObject) {
    this.#store = store;
    this.#assoc = assoc;
    this.incoming = incoming;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== "open" || !this.segment) throw new Error("object writer is closed");
    if (chunk.length === 0) return;
    this.#store.freeSpace.noteWritten(chunk.length);
    await this.segment.append(chunk);
  }

  async commit(record: InstanceRecord): Promise<CommitResult> {
    if (this.#state !== "open" || !this.segment) throw new Error("object writer is closed");
    this.#state = "committing";
    const segment = this.segment;
    const run = (async () => {
      try {
        return await this.#store.commitRecord(this, segment, record);
      } catch (e) {
        // Nothing is left behind: the record is cut off and never replayed.
        await segment.discardRecord().catch(() => {});
        throw e;
      } finally {
        this.#finish();
      }
    })();
    this.#committing = run;
    return await run;
  }

  async abort(): Promise<void> {
    if (this.#state === "committing") {
      await this.#committing?.catch(() => {});
      return;
    }
    if (this.#state !== "open") return;
    this.#finish();
    await this.segment?.discardRecord();
  }

  #finish(): void {
    this.#state = "done";
    if (this.#assoc.writer === this) this.#assoc.writer = undefined;
  }
}

/** Bytes per read when streaming a stored object out (C-MOVE, C-GET, downloads). */
const STREAM_CHUNK = 1024 * 1024;

/**
 * `length` bytes from `offset`, as a stream or read at once into a given buffer (one or the
 * other); the file is then closed and `release` called.
 */
function rangeReader(
  file: Deno.FsFile,
  offset: number,
  length: number,
  release?: () => void,
): { stream: ReadableStream<Uint8Array>; readAll(into: Uint8Array): Promise<Uint8Array> } {
  let done = 0;
  let closed = false;
  let positioned = false;
  const close = () => {
    if (!closed) {
      file.close();
      release?.();
    }
    closed = true;
  };
  const readAll = async (into: Uint8Array): Promise<Uint8Array> => {
    if (closed) throw new Error("stored object already read");
    if (into.length < length) throw new Error("buffer too small for the stored object");
    const out = into.subarray(0, length);
    try {
      await file.seek(offset, Deno.SeekMode.Start);
      let n = 0;
      while (n < length) {
        const got = await file.read(out.subarray(n));
        if (got === null) throw new Error("stored object is shorter than indexed");
        n += got;
      }
      return out;
    } finally {
      close();
    }
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (done >= length) {
          close();
          controller.close();
          return;
        }
        // One seek, then sequential reads in large pieces.
        if (!positioned) {
          await file.seek(offset, Deno.SeekMode.Start);
          positioned = true;
        }
        const chunk = new Uint8Array(Math.min(STREAM_CHUNK, length - done));
        let n = 0;
        while (n < chunk.length) {
          const got = await file.read(chunk.subarray(n));
          if (got === null) throw new Error("stored object is shorter than indexed");
          n += got;
        }
        done += n;
        controller.enqueue(chunk);
      } catch (e) {
        close();
        controller.error(e);
      }
    },
    cancel() {
      close();
    },
  }, { highWaterMark: 0 }); // nothing is read before it is asked for: readAll may be used
  return { stream, readAll };
}

/** Association ids become part of a file name: keep it to safe characters. */
function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64) || "assoc";
}
