// Rebuilds index.sqlite from what is on disk: the home files (file meta + a header scan of
// the dataset) and the journal segments (their trailers). The new index is written beside the
// old one and renamed over it, so an interrupted reindex leaves the old index in place.
// Run it with the server stopped.
import { LOCK_FILE } from "./lock.ts";
import { decodeFileMetaInformation, type FileMeta } from "../core/dicom/part10.ts";
import { HeaderScanner } from "../core/dicom/header_scanner.ts";
import type { InstanceRecord, Logger } from "../core/ports.ts";
import { isTombstoned, readTombstones } from "./delete.ts";
import { carryOverQueues } from "./queue_carry_over.ts";
import { IndexDb } from "./index_db.ts";
import { dropInstanceMetadata, METADATA_FILE } from "./instance_metadata.ts";
import { JOURNAL_DIR, syncDirectory } from "./journal.ts";
import { HOME_SUFFIX, homePathFor, INDEX_FILE, removeIfPresent, TMP_DIR } from "./layout.ts";
import { readJournal } from "./recovery.ts";

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

const READ_CHUNK = 64 * 1024;
/** SQLite page cache of the index being built, in MiB. */
const CACHE_MB = 64;
/** Index rows written per transaction (one commit per row made reindex commit-bound). */
const ROWS_PER_TRANSACTION = 1000;

/** What reindex needs of a home file. */
interface HomeFile {
  record: InstanceRecord;
  meta: FileMeta;
  size: number;
  mtime: number;
}
const MAX_META = 1024 * 1024;
const SEQ_PER_MS = 1024;

/** Reads into `bytes` from the file's current position until full or at the end. */
function readFull(file: Deno.FsFile, bytes: Uint8Array): number {
  let done = 0;
  while (done < bytes.length) {
    const n = file.readSync(bytes.subarray(done));
    if (n === null) break;
    done += n;
  }
  return done;
}

/**
 * Reads the file meta and scans the dataset header of one Part 10 file. Reads go on from
 * where the last ended and stop at the size the file had when opened: for a small file one
 * open, one stat and one read. They are synchronous: reindex runs alone, and on files the OS
 * has cached an I/O thread hop per call cost more than the call (100,000 files: 35 CPU-s with
 * 16 files read ahead asynchronously, 23 CPU-s like this).
 */
async function readHomeFile(path: string): Promise<HomeFile> {
  const file = Deno.openSync(path, { read: true });
  try {
    const stat = file.statSync();
    let head = new Uint8Array(Math.min(READ_CHUNK, Math.max(stat.size, 1)));
    let have = readFull(file, head);
    let decoded: { meta: FileMeta; datasetOffset: number } | undefined;
    // The file meta is small; allow it to be larger than the first chunk, up to MAX_META.
    for (;;) {
      try {
        decoded = decodeFileMetaInformation(head.subarray(0, have));
        if (decoded.datasetOffset < have || have < head.length) break;
      } catch (e) {
        if (have < head.length || have >= stat.size || head.length >= MAX_META) throw e;
      }
      const bigger = new Uint8Array(head.length * 4);
      bigger.set(head.subarray(0, have));
      have += readFull(file, bigger.subarray(have));
      head = bigger;
    }
    const { meta, datasetOffset } = decoded;
    const scanner = new HeaderScanner(meta.transferSyntaxUid);
    await scanner.push(head.subarray(datasetOffset, have));
    let position = have;
    const chunk = new Uint8Array(READ_CHUNK);
    // Bounded by the file size: each read advances or ends the loop.
    while (!scanner.stopped && position < stat.size) {
      const n = readFull(file, chunk);
      if (n === 0) break;
      await scanner.push(chunk.subarray(0, n));
      position += n;
    }
    const { record } = await scanner.finish();
    return {
      size: stat.size,
      // The materializer set the file time to the commit time: it orders versions.
      mtime: stat.mtime?.getTime() ?? Date.now(),
      meta,
      record: {
        ...record,
        sopInstanceUid: meta.sopInstanceUid || record.sopInstanceUid,
        sopClassUid: meta.sopClassUid || record.sopClassUid,
        transferSyntaxUid: meta.transferSyntaxUid,
      },
    };
  } finally {
    file.close();
  }
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

/** Rebuilds `<root>/index.sqlite` from the home files and journal segments. */
export async function reindex(
  root: string,
  logger: Logger,
  onProgress?: (progress: ReindexProgress) => void,
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
    const { record, meta, size, mtime } = home;
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
        callingAe: meta.sourceAeTitle ?? "",
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
  try {
    for await (const path of walk(root)) {
      scanned++;
      if (!path.endsWith(HOME_SUFFIX)) {
        skipped.push({ path, reason: `not a ${HOME_SUFFIX} file` });
        continue;
      }
      try {
        const home = await readHomeFile(`${root}/${path}`);
        batched(() => indexHome(path, home));
      } catch (e) {
        skipped.push({ path, reason: e instanceof Error ? e.message : String(e) });
      }
      onProgress?.({ scanned, indexed: rows, path });
    }
    // Journal records not yet materialized (or newer than their home file).
    const { entries } = await readJournal(root, logger, false);
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
