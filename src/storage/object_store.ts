// ObjectStore on the filesystem: objects stream into a per-association journal segment,
// are fdatasynced and indexed before the C-STORE is answered, and reach their home files
// later through the materializer. With durability, materialized segments are kept in a
// pool and reused: overwriting blocks a file owns makes the fdatasync cheaper than appending.
import { encodeFileMetaInformation } from "../core/dicom/part10.ts";
import type {
  CommitResult,
  IncomingObject,
  InstanceLocation,
  InstanceRecord,
  Logger,
  ObjectStore,
  ObjectWriter,
} from "../core/ports.ts";
import { CommitmentQueue } from "./commitment_queue.ts";
import { type DeleteLevel, type DeleteResult, deleteStored } from "./delete.ts";
import { diskFreeBytes } from "./disk_space.ts";
import {
  type IndexCounts,
  IndexDb,
  type IndexReader,
  type InstanceMeta,
  type StoredInstance,
  type UpsertResult,
} from "./index_db.ts";
import { JOURNAL_DIR, type RecordInfo } from "./journal.ts";
import { type AssociationState, JournalObjectWriter } from "./journal_object_writer.ts";
import { fillJournalReserve } from "./journal_reserve.ts";
import { FreeSpaceGauge } from "./free_space.ts";
import { MATERIALIZER_BOUND, paceAdmission } from "./backpressure.ts";
import { homePathFor, INDEX_FILE, removeIfPresent, TMP_DIR } from "./layout.ts";
import { Materializer, type MaterializerOptions } from "./materializer.ts";
import { recover } from "./recovery.ts";
import { SegmentPool, type SegmentPoolOptions } from "./segment_pool.ts";
import { recordsInFlight, SegmentWriter } from "./segment_writer.ts";
import {
  type OpenedObject,
  openStoredObject,
  readObjectRange,
  type StoredObject,
  storedObjectOf,
  storedSyntax,
} from "./stored_object.ts";

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

const SEQ_PER_MS = 1024;
/** A reused segment with less room left than this is swapped for another free one. */
const ROTATE_MARGIN = 1024 * 1024;

export class FsObjectStore implements ObjectStore {
  readonly root: string;
  readonly #index: IndexDb;
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
    this.#index = index;
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
      ...MATERIALIZER_BOUND, // pacing starts where it runs beside ingest (backpressure.ts)
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
      assoc.segment.beginRecord(incoming.sopInstanceUid, prefix);
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

  /**
   * Instances whose record is written and being synced: SOP Instance UID -> a promise that
   * settles once it is durable and its index row written (or it failed).
   */
  #durableByUid = new Map<string, Promise<void>>();

  /**
   * Index rows of records being synced, not written yet: the first of them whose record is
   * durable writes them all in one transaction (group commit), before its answer goes out.
   */
  #pendingRows: PendingRow[] = [];

  /**
   * The stored instance once durable: a copy still being synced is waited for; null when
   * none is stored (or its sync failed).
   */
  async durableInstance(sopInstanceUid: string) {
    await this.#durableByUid.get(sopInstanceUid)?.catch(() => {});
    return this.#index.getInstance(sopInstanceUid) ?? null;
  }

  /**
   * Writes every pending index row in one transaction; when a row fails, each is written in
   * a transaction of its own, so that only the failing one fails.
   */
  #writePendingRows(): void {
    const rows = this.#pendingRows;
    if (rows.length === 0) return;
    this.#pendingRows = [];
    try {
      try {
        this.#index.group(() => {
          for (const row of rows) row.outcome = this.#writeRow(row);
        });
      } catch {
        // One row failed, and the transaction with it: each row again in one of its own.
        for (const row of rows) {
          try {
            row.outcome = this.#index.transaction(() => this.#writeRow(row));
          } catch (e) {
            row.outcome = { error: e };
          }
        }
      }
    } finally {
      for (const row of rows) row.settle();
    }
  }

  /**
   * Writes one pending row; a series already filed under another study is refused, checked
   * in the same transaction as the write.
   */
  #writeRow(row: PendingRow): UpsertResult | "series-in-other-study" {
    const { record } = row;
    const study = this.#index.studyOfSeries(record.seriesInstanceUid);
    if (study !== undefined && study !== record.studyInstanceUid) return "series-in-other-study";
    return this.#index.upsertInstance(record, row.location, row.meta, {
      onlyIfAbsent: row.onlyIfAbsent,
    });
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
    if (policy !== "overwrite" && this.#index.getInstance(record.sopInstanceUid)) {
      await segment.discardRecord();
      return duplicate;
    }
    const homePath = await homePathFor(record);
    const now = Date.now();
    const seq = this.nextSeq(now);
    const receivedAt = new Date(now).toISOString();
    const info: RecordInfo = { record, callingAe: incoming.callingAeTitle, receivedAt };
    const { offset, length, durable } = segment.finishRecord(seq, info);
    // With other records arriving, the index row waits while the disk syncs, for the first
    // record of those syncing together to be durable; the answer waits for both.
    let settle = () => {};
    const written = new Promise<void>((resolve) => settle = resolve);
    const row: PendingRow = {
      record,
      location: { kind: "journal", path: segment.segment, offset, length },
      meta: { homePath, size: length, receivedAt, callingAe: incoming.callingAeTitle, seq },
      onlyIfAbsent: policy !== "overwrite",
      settle,
    };
    this.#pendingRows.push(row);
    // Alone (one association): no other row will join, so it is written now, while the
    // disk syncs, as the answer would otherwise wait for it after the sync.
    if (recordsInFlight() <= 1) this.#writePendingRows();
    const earlier = this.#durableByUid.get(record.sopInstanceUid);
    const settled = Promise.all([durable, written]).then(() => {});
    settled.catch(() => {});
    this.#durableByUid.set(record.sopInstanceUid, settled);
    try {
      try {
        await durable;
      } catch (e) {
        // Not durable: the object must not be found. A row not yet written never will be;
        // one written puts back what was there, unless another store of the same instance
        // has replaced it meanwhile.
        const at = this.#pendingRows.indexOf(row);
        if (at >= 0) {
          this.#pendingRows.splice(at, 1);
          settle();
        }
        const result = row.outcome;
        if (
          typeof result === "object" && !("error" in result) && !result.conflict &&
          !result.superseded &&
          this.#index.getInstance(record.sopInstanceUid)?.meta.seq === seq
        ) {
          if (result.previous) {
            this.#index.setLocation(record.sopInstanceUid, result.previous.location);
          } else this.#index.deleteInstance(record.sopInstanceUid);
        }
        throw e;
      }
      this.#writePendingRows();
    } finally {
      if (this.#durableByUid.get(record.sopInstanceUid) === settled) {
        this.#durableByUid.delete(record.sopInstanceUid);
      }
    }
    const outcome = row.outcome;
    if (outcome === undefined) throw new Error("index row not written");
    if (outcome === "series-in-other-study") {
      // A series belongs to one study: one reused under another study is refused, never
      // moved (that would take the first study's images out of it).
      await segment.discardRecord();
      return "series-in-other-study";
    }
    if ("error" in outcome) throw outcome.error;
    const result = outcome;
    if (result.conflict) {
      await earlier?.catch(() => {});
      await segment.discardRecord();
      return duplicate;
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
    // Durable and indexed; past the materializer's bound answers are paced (backpressure.ts).
    await paceAdmission(this.#materializer);
    return "stored";
  }

  /** The Part 10 bytes of a stored object, streamed from the journal or its home file. */
  async readObject(sopInstanceUid: string): Promise<StoredObject | null> {
    const opened = await this.#openObject(sopInstanceUid);
    if (!opened) return null;
    const transferSyntaxUid = await storedSyntax(opened); // compressed at rest: the file's
    return { ...storedObjectOf(opened), transferSyntaxUid };
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
    const opened = await this.#openObject(sopInstanceUid);
    return opened ? await readObjectRange(opened, start, length) : null;
  }

  #openObject(sopInstanceUid: string): Promise<OpenedObject | null> {
    return openStoredObject(
      this.root,
      sopInstanceUid,
      (uid) => this.getInstance(uid),
      (path) => this.#pool?.lease(path),
    );
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
    return (await this.deleteEntity("instance", sopInstanceUid)).instances > 0;
  }

  /** Deletes a study, a series or an instance from the index and the disk (delete.ts). */
  deleteEntity(level: DeleteLevel, uid: string, logger?: Logger): Promise<DeleteResult> {
    return deleteStored(this.root, this.#index, level, uid, logger);
  }

  /** The stored instance by its SOP Instance UID, as the index has it now. */
  getInstance(sopInstanceUid: string): StoredInstance | undefined {
    return this.#index.getInstance(sopInstanceUid);
  }

  /** Every stored instance, in SOP Instance UID order. */
  allInstances(): Generator<StoredInstance> {
    return this.#index.allInstances();
  }

  /** Patients, studies, series, instances and bytes stored. */
  counts(): IndexCounts {
    return this.#index.counts();
  }

  /** A read-only connection for queries (close it after use); WAL readers never block stores. */
  openReader(): IndexReader {
    return this.#index.openReader();
  }

  /** The storage commitment requests kept in the index (commitment_queue.ts). */
  openCommitmentQueue(): CommitmentQueue {
    return new CommitmentQueue(this.#index);
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
      this.#index.close();
    }
  }
}

/** An index row waiting for its record's fdatasync (group commit). */
interface PendingRow {
  record: InstanceRecord;
  location: InstanceLocation;
  meta: InstanceMeta;
  onlyIfAbsent: boolean;
  /** Set once written (or refused, or failed). */
  outcome?: UpsertResult | "series-in-other-study" | { error: unknown };
  /** Settles the promise others wait on for this row. */
  settle: () => void;
}

/** Association ids become part of a file name: keep it to safe characters. */
function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64) || "assoc";
}
