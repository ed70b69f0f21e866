// Backup and restore of a storage folder, with or without a server running on it.
//
// Backup: the index is copied with SQLite's VACUUM INTO through a read-only connection: one
// consistent snapshot (WAL readers see the last commit and never block the server). Every
// object that snapshot lists is then copied as a home file: from its home file, or from its
// journal record, checked against the record's trailer and CRC-32 (a segment recycled since
// no longer holds it; by then the object is at home). The copy's index then points at the
// home files, so the backup needs no journal: everything acknowledged before the snapshot is
// in it as a plain Part 10 file. An object deleted during the backup leaves the copy's index
// too. Files are written to temporary names, fsynced, renamed; the index comes last, so an
// interrupted backup has no index.sqlite and is never mistaken for a finished one.
//
// Restore: the backup is copied into an empty storage folder (nobody else using it), then
// opened the way the server opens it at start-up (recovery) and every object is read back.
import { DatabaseSync } from "node:sqlite";
import { decodeFileMetaInformation } from "../core/dicom/part10.ts";
import type { Logger } from "../core/ports.ts";
import { IndexDb, type StoredInstance } from "./index_db.ts";
import { readCommittedRecord, syncDirectory } from "./journal.ts";
import { INDEX_FILE, isNotFound } from "./layout.ts";
import { lockStorage } from "./lock.ts";
import { FsObjectStore } from "./object_store.ts";

export const MANIFEST_FILE = "backup.json";

export interface BackupResult {
  instances: number;
  bytes: number;
  /** Copied out of journal records (not yet at home when the snapshot was taken). */
  fromJournal: number;
  /** Listed by the snapshot but deleted before they could be copied. */
  deletedMeanwhile: number;
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(dir)) return false;
    return true;
  } catch (e) {
    if (isNotFound(e)) return true;
    throw e;
  }
}

async function writeFileSynced(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.partial`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
    await file.syncData();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
}

/** The Part 10 bytes of one object of the snapshot, or null when it is gone from the source. */
async function readSource(
  root: string,
  row: StoredInstance,
): Promise<{ bytes: Uint8Array; fromJournal: boolean } | null> {
  if (row.location.kind === "journal") {
    let file: Deno.FsFile | undefined;
    try {
      file = await Deno.open(`${root}/${row.location.path}`, { read: true });
      const bytes = await readCommittedRecord(
        file,
        row.location.offset,
        row.location.length,
        row.meta.seq,
      );
      if (bytes) return { bytes, fromJournal: true };
    } catch (e) {
      if (!isNotFound(e)) throw e;
    } finally {
      file?.close();
    }
    // Materialized since the snapshot, and its segment recycled: it is at home now.
  }
  try {
    return { bytes: await Deno.readFile(`${root}/${row.meta.homePath}`), fromJournal: false };
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/**
 * Copies the storage folder `root` (a server may be running on it) to `dest`, which must be
 * empty or missing. `onProgress` is told of each object copied.
 */
export async function backupStorage(
  root: string,
  dest: string,
  logger: Logger,
  onProgress?: (done: number, total: number) => void,
): Promise<BackupResult> {
  if (!(await isEmptyOrMissing(dest))) throw new Error(`${dest} is not empty`);
  await Deno.mkdir(dest, { recursive: true });
  try {
    await Deno.stat(`${root}/${INDEX_FILE}`);
  } catch {
    throw new Error(`${root} holds no ${INDEX_FILE}: not a MiniPACS storage folder`);
  }
  const snapshot = `${dest}/${INDEX_FILE}.partial`;
  const source = new DatabaseSync(`${root}/${INDEX_FILE}`, { readOnly: true });
  try {
    source.exec("PRAGMA busy_timeout = 10000");
    source.exec(`VACUUM INTO '${snapshot.replaceAll("'", "''")}'`);
  } finally {
    source.close();
  }
  const startedAt = new Date().toISOString();
  const index = IndexDb.open(snapshot);
  const result: BackupResult = { instances: 0, bytes: 0, fromJournal: 0, deletedMeanwhile: 0 };
  const dirs = new Set<string>([dest]);
  try {
    const rows = [...index.allInstances()];
    for (const [i, row] of rows.entries()) {
      const got = await readSource(root, row);
      if (!got) {
        index.deleteInstance(row.record.sopInstanceUid);
        result.deletedMeanwhile++;
        continue;
      }
      const meta = decodeFileMetaInformation(got.bytes).meta;
      if (meta.sopInstanceUid !== row.record.sopInstanceUid) {
        throw new Error(
          `${row.meta.homePath} holds ${meta.sopInstanceUid}, not the indexed object`,
        );
      }
      const target = `${dest}/${row.meta.homePath}`;
      const dir = target.slice(0, target.lastIndexOf("/"));
      await Deno.mkdir(dir, { recursive: true });
      dirs.add(dir);
      dirs.add(dir.slice(0, dir.lastIndexOf("/")));
      await writeFileSynced(target, got.bytes);
      index.setLocation(row.record.sopInstanceUid, {
        kind: "home",
        path: row.meta.homePath,
        offset: 0,
        length: got.bytes.length,
      });
      result.instances++;
      result.bytes += got.bytes.length;
      if (got.fromJournal) result.fromJournal++;
      onProgress?.(i + 1, rows.length);
    }
  } finally {
    index.close(); // checkpoints the WAL into the file
  }
  for (const suffix of ["-wal", "-shm"]) {
    await Deno.remove(`${snapshot}${suffix}`).catch(() => {});
  }
  for (const dir of [...dirs].sort((a, b) => b.length - a.length)) await syncDirectory(dir);
  await writeFileSynced(
    `${dest}/${MANIFEST_FILE}`,
    new TextEncoder().encode(
      JSON.stringify(
        {
          format: "minipacs-backup-1",
          source: root,
          snapshotAt: startedAt,
          finishedAt: new Date().toISOString(),
          index: "VACUUM INTO (one consistent snapshot)",
          instances: result.instances,
          bytes: result.bytes,
        },
        null,
        2,
      ) + "\n",
    ),
  );
  // Last: a backup with index.sqlite is complete.
  await Deno.rename(snapshot, `${dest}/${INDEX_FILE}`);
  await syncDirectory(dest);
  logger.log("info", "backup done", { ...result, dest });
  return result;
}

export interface RestoreResult {
  instances: number;
  bytes: number;
}

/**
 * Copies the backup `src` into the storage folder `root` (empty or missing; no server on it),
 * then opens it as the server would and reads every object back. Throws when any is missing
 * or unreadable.
 */
export async function restoreStorage(
  src: string,
  root: string,
  logger: Logger,
  opts: { implementationClassUid: string; implementationVersionName: string },
): Promise<RestoreResult> {
  try {
    await Deno.stat(`${src}/${INDEX_FILE}`);
  } catch {
    throw new Error(`${src} holds no ${INDEX_FILE}: not a finished MiniPACS backup`);
  }
  if (!(await isEmptyOrMissing(root))) {
    throw new Error(`${root} is not empty: restore into an empty storage folder`);
  }
  const lock = await lockStorage(root);
  try {
    await copyTree(src, root);
    const store = await FsObjectStore.open({
      root,
      durability: "fsync",
      duplicates: "overwrite",
      logger,
      ...opts,
    });
    let instances = 0;
    let bytes = 0;
    try {
      for (const row of store.allInstances()) {
        const stored = await store.readObject(row.record.sopInstanceUid);
        if (!stored) throw new Error(`${row.meta.homePath} is indexed but missing`);
        const all = new Uint8Array(stored.length);
        await stored.readAll(all);
        const meta = decodeFileMetaInformation(all).meta;
        if (meta.sopInstanceUid !== row.record.sopInstanceUid) {
          throw new Error(`${row.meta.homePath} does not hold ${row.record.sopInstanceUid}`);
        }
        instances++;
        bytes += all.length;
      }
    } finally {
      await store.close();
    }
    logger.log("info", "restore verified", { instances, bytes, root });
    return { instances, bytes };
  } finally {
    lock.release();
  }
}

/** Copies files and folders (the lock file and manifest stay behind), fsyncing each. */
async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.name === MANIFEST_FILE || e.name === "lock") continue;
    const a = `${from}/${e.name}`;
    const b = `${to}/${e.name}`;
    if (e.isDirectory) await copyTree(a, b);
    else if (e.isFile) {
      await Deno.copyFile(a, b);
      const f = await Deno.open(b, { read: true, write: true });
      try {
        await f.syncData();
      } finally {
        f.close();
      }
    }
  }
  await syncDirectory(to);
}
