// Rebuilds index.sqlite from what is on disk: the home files (file meta + a header scan of
// the dataset) and the journal segments (their trailers). The new index is written beside the
// old one and renamed over it, so an interrupted reindex leaves the old index in place.
// Run it with the server stopped.
import { LOCK_FILE } from "./lock.ts";
import type { Logger } from "../core/ports.ts";
import { isTombstoned, readTombstones } from "./delete.ts";
import { carryOverQueues } from "./queue_carry_over.ts";
import { IndexDb } from "./index_db.ts";
import { dropInstanceMetadata, METADATA_FILE } from "./instance_metadata.ts";
import { JOURNAL_DIR, syncDirectory } from "./journal.ts";
import { HOME_SUFFIX, homePathFor, INDEX_FILE, removeIfPresent, TMP_DIR } from "./layout.ts";
import { readJournal } from "./recovery.ts";
import { ReindexReaders } from "./reindex_readers.ts";
import type { HomeFile, HomeFileResult } from "./reindex_reader_worker.ts";

export interface ReindexResult {
  indexed: number;
  skipped: { path: string; reason: string }[];
}

export interface ReindexProgress {
  /** Files looked at so far. */
  scanned: number;
  indexed: number;
  path: string;
}

/** SQLite page cache of the index being built, in MiB. */
const CACHE_MB = 64;
/** Index rows written per transaction (one commit per row made reindex commit-bound). */
const ROWS_PER_TRANSACTION = 1000;
/**
 * Reader threads (0: read the files on the reindex thread). 300,000 files on 2 cores: 0 threads
 * 2,900-3,560 files/s, 1 thread 5,310-5,580, 2 threads 5,940-6,010 (the reindex thread, now
 * all SQLite, is the limit); a larger page cache (256, 512 MiB) did not help there.
 */
const READER_THREADS = 2;
/** Files per batch handed to a reader thread, and batches read ahead of the writes. */
const READ_BATCH = 128;
const READ_AHEAD = 8;
const SEQ_PER_MS = 1024;

/** How reindex reads the files; for tests. */
export interface ReindexOptions {
  readerThreads?: number;
  /** The reader thread's module (reindex_reader_worker.ts unless a test says otherwise). */
  readerUrl?: URL;
}

/** Home files: every regular file below the root but the index, metadata, journal, tmp, lock. */
async function* walk(root: string, dir = ""): AsyncGenerator<string> {
  const entries: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir ? `${root}/${dir}` : root)) entries.push(e);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const ours = e.name === JOURNAL_DIR || e.name === TMP_DIR || e.name === LOCK_FILE;
    if (!dir && (ours || e.name.startsWith(INDEX_FILE) || e.name.startsWith(METADATA_FILE))) {
      continue;
    }
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory) yield* walk(root, rel);
    else if (e.isFile) yield rel;
  }
}

async function hasFolder(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** A walked file and, for a home file, what reading it gave. */
interface WalkedFile {
  path: string;
  read?: HomeFileResult;
}

/**
 * The files of the walk in walk order, the home files read in batches by `readers` up to
 * READ_AHEAD batches ahead of the caller.
 */
async function* readAhead(root: string, readers: ReindexReaders): AsyncGenerator<WalkedFile> {
  const queue: { paths: string[]; results: Promise<HomeFileResult[]> }[] = [];
  let batch: string[] = [];
  const send = () => {
    const homes = batch.filter((p) => p.endsWith(HOME_SUFFIX)).map((p) => `${root}/${p}`);
    queue.push({ paths: batch, results: readers.read(homes) });
    batch = [];
  };
  async function* take(keep: number): AsyncGenerator<WalkedFile> {
    while (queue.length > keep) {
      const { paths, results } = queue.shift()!;
      const read = await results;
      let k = 0;
      for (const path of paths) {
        yield path.endsWith(HOME_SUFFIX) ? { path, read: read[k++] } : { path };
      }
    }
  }
  for await (const path of walk(root)) {
    batch.push(path);
    if (batch.length < READ_BATCH) continue;
    send();
    yield* take(READ_AHEAD);
  }
  if (batch.length > 0) send();
  yield* take(0);
}

/** Rebuilds `<root>/index.sqlite` from the home files and journal segments. */
export async function reindex(
  root: string,
  logger: Logger,
  onProgress?: (progress: ReindexProgress) => void,
  options: ReindexOptions = {},
): Promise<ReindexResult> {
  const target = `${root}/${INDEX_FILE}`;
  const building = `${target}.reindex`;
  for (const suffix of ["", "-wal", "-shm"]) await removeIfPresent(`${building}${suffix}`);
  // What was deleted on request stays deleted: its leftovers are not indexed again.
  const tombstones = readTombstones(target);
  const deleted = new Map(tombstones.map((t) => [t.sopInstanceUid, t.seq]));
  const index = IndexDb.open(building);
  // The new index outgrows SQLite's default 2 MB page cache after about 5,000 rows; reindex
  // runs with the server stopped, so it may use more (100,000 files: 110-117 s -> 90-92 s).
  index.connection.exec(`PRAGMA cache_size = -${CACHE_MB * 1024}`);
  index.addTombstones(tombstones);
  const skipped: ReindexResult["skipped"] = [];
  let scanned = 0;
  let rows = 0;
  // The new index is written in batches: one transaction per ROWS_PER_TRANSACTION rows.
  const db = index.connection;
  let inBatch = 0;
  const batched = (write: () => void) => {
    if (!db.isTransaction) db.exec("BEGIN IMMEDIATE");
    write();
    if (++inBatch >= ROWS_PER_TRANSACTION) {
      db.exec("COMMIT");
      inBatch = 0;
    }
  };
  const indexHome = (path: string, home: HomeFile) => {
    const { record, sourceAeTitle, size, mtime } = home;
    if (isTombstoned(deleted, record.sopInstanceUid, mtime * SEQ_PER_MS)) {
      skipped.push({ path, reason: "deleted" });
      return;
    }
    const result = index.upsertInstance(
      record,
      { kind: "home", path, offset: 0, length: size },
      {
        homePath: path,
        size,
        receivedAt: new Date(mtime).toISOString(),
        callingAe: sourceAeTitle ?? "",
        seq: mtime * SEQ_PER_MS,
      },
    );
    if (!result.superseded && !result.previous) rows++;
    if (result.superseded) {
      const kept = index.getInstance(record.sopInstanceUid)?.location.path;
      skipped.push({ path, reason: `older copy of SOP Instance ${kept ?? "?"}` });
    } else if (result.previous) {
      skipped.push({
        path: result.previous.location.path,
        reason: `older copy of SOP Instance in ${path}`,
      });
    }
  };
  const readers = new ReindexReaders(
    options.readerThreads ?? READER_THREADS,
    (message) => logger.log("warn", `reindex: ${message}`),
    options.readerUrl,
  );
  try {
    for await (const { path, read } of readAhead(root, readers)) {
      scanned++;
      if (!read) {
        skipped.push({ path, reason: `not a ${HOME_SUFFIX} file` });
        continue;
      }
      if ("error" in read) {
        skipped.push({ path, reason: read.error });
      } else {
        try {
          batched(() => indexHome(path, read.home));
        } catch (e) {
          skipped.push({ path, reason: e instanceof Error ? e.message : String(e) });
        }
      }
      onProgress?.({ scanned, indexed: rows, path });
    }
    readers.close();
    // Journal records not yet materialized (or newer than their home file).
    // A store copied without its journal folder has nothing there to replay.
    const { entries } = await hasFolder(`${root}/${JOURNAL_DIR}`)
      ? await readJournal(root, logger, false)
      : { entries: [] };
    for (const e of entries) {
      if (isTombstoned(deleted, e.sopInstanceUid, e.seq)) continue;
      let result: ReturnType<IndexDb["upsertInstance"]> = {};
      const record = e.info.record;
      const homePath = await homePathFor(record);
      batched(() =>
        result = index.upsertInstance(
          record,
          { kind: "journal", path: e.segment, offset: e.offset, length: e.length },
          {
            homePath,
            size: e.length,
            receivedAt: e.info.receivedAt,
            callingAe: e.info.callingAe,
            seq: e.seq,
          },
        )
      );
      if (!result.superseded && !result.previous) rows++;
      scanned++;
      onProgress?.({ scanned, indexed: rows, path: e.segment });
    }
    if (db.isTransaction) db.exec("COMMIT");
    // Forwards and commitment reports are not in the files: kept from the old index.
    const queued = await carryOverQueues(index, target, logger);
    if (queued > 0) {
      logger.log("info", "reindex: queued forwards and reports kept", { rows: queued });
    }
  } catch (e) {
    readers.close();
    if (db.isTransaction) db.exec("ROLLBACK");
    index.close();
    for (const suffix of ["", "-wal", "-shm"]) await removeIfPresent(`${building}${suffix}`);
    throw e;
  }
  const indexed = index.counts().instances;
  index.close(); // checkpoints and removes the WAL
  // An old WAL must not be applied to the new file.
  for (const suffix of ["-wal", "-shm"]) await removeIfPresent(`${target}${suffix}`);
  await Deno.rename(building, target);
  await dropInstanceMetadata(root); // DICOMweb metadata: computed again from the files
  await syncDirectory(root);
  logger.log("info", "reindex done", { indexed, skipped: skipped.length });
  return { indexed, skipped };
}
