// Deleting on request (the API, the command line, retention): a study, a series or an instance
// leaves the index and the disk in one crash-safe step. The index rows go first, in one durable
// transaction that also writes a tombstone per instance; the home files go after. A crash
// between the two leaves files without rows, never rows without files, and the next start-up
// (recovery) removes those files and replays no journal record of a tombstoned instance.
import type { Logger } from "../core/ports.ts";
import type { DatabaseSync } from "node:sqlite";
import type { DeleteLevel, IndexDb, StoredInstance } from "./index_db.ts";
import { openDatabase } from "./index_schema.ts";
import { forgetInstanceMetadata } from "./instance_metadata.ts";
import { removeIfPresent } from "./layout.ts";
import type { Row } from "./sql_statements.ts";

export type { DeleteLevel } from "./index_db.ts";

/** A deleted instance as its tombstone (index_schema.ts) records it. */
export interface Tombstone {
  sopInstanceUid: string;
  seq: number;
  homePath: string;
}

export function toTombstone(row: Row): Tombstone {
  return {
    sopInstanceUid: String(row.sop_instance_uid),
    seq: Number(row.seq),
    homePath: String(row.home_path),
  };
}

/** The tombstones of an index file, read-only; none when it cannot be read. */
export function readTombstones(path: string): Tombstone[] {
  let db: DatabaseSync | undefined;
  try {
    db = openDatabase(path, true);
    return (db.prepare("SELECT * FROM deleted_instance").all() as Row[]).map(toTombstone);
  } catch {
    return [];
  } finally {
    db?.close();
  }
}

/** What a delete removed. */
export interface DeleteResult {
  level: DeleteLevel;
  uid: string;
  /** Instances removed (0: nothing by that UID). */
  instances: number;
  /** Bytes they took. */
  bytes: number;
  /** The studies they belonged to. */
  studies: string[];
}

/** Removes the home files of deleted instances, then their series and study folders if empty. */
export async function removeFilesOf(root: string, gone: readonly StoredInstance[]): Promise<void> {
  const folders = new Set<string>();
  for (const row of gone) {
    await removeIfPresent(`${root}/${row.meta.homePath}`);
    const home = row.meta.homePath;
    folders.add(home.slice(0, home.lastIndexOf("/")));
    folders.add(home.slice(0, home.indexOf("/")));
  }
  // Series folders first, then study folders: each goes only if empty (Deno.remove refuses).
  for (const dir of [...folders].sort((a, b) => b.length - a.length)) {
    if (dir) await Deno.remove(`${root}/${dir}`).catch(() => {});
  }
}

/**
 * Deletes a study, a series or an instance from the index and the disk under `root` (through
 * FsObjectStore.deleteEntity). Objects still in the journal leave with their segment; a C-MOVE
 * reading one now finds it gone.
 */
export async function deleteStored(
  root: string,
  index: IndexDb,
  level: DeleteLevel,
  uid: string,
  logger?: Logger,
): Promise<DeleteResult> {
  const gone = index.deleteEntity(level, uid);
  forgetInstanceMetadata(root, gone.map((g) => g.record.sopInstanceUid)); // DICOMweb's
  await removeFilesOf(root, gone);
  const result: DeleteResult = {
    level,
    uid,
    instances: gone.length,
    bytes: gone.reduce((n, g) => n + g.meta.size, 0),
    studies: [...new Set(gone.map((g) => g.record.studyInstanceUid))],
  };
  if (gone.length > 0) {
    logger?.log("info", `${level} deleted`, { [level]: uid, instances: gone.length });
  }
  return result;
}

/**
 * At start-up, after the journal was read: removes the home files deletes left behind and
 * forgets the tombstones that no journal record (`entries`) could undo any more.
 */
export async function settleTombstones(
  root: string,
  index: IndexDb,
  entries: readonly { sopInstanceUid: string; seq: number }[],
  logger: Logger,
): Promise<{ removed: number; dropped: number }> {
  const tombstones = index.tombstones();
  if (tombstones.length === 0) return { removed: 0, dropped: 0 };
  const lowest = new Map<string, number>();
  for (const e of entries) {
    lowest.set(e.sopInstanceUid, Math.min(lowest.get(e.sopInstanceUid) ?? Infinity, e.seq));
  }
  let removed = 0;
  const drop: string[] = [];
  for (const t of tombstones) {
    const row = index.getInstance(t.sopInstanceUid);
    // Stored again since (a new row) at the same path: that file is the new one's.
    if (!row || row.meta.homePath !== t.homePath) {
      try {
        await Deno.stat(`${root}/${t.homePath}`);
        await removeIfPresent(`${root}/${t.homePath}`);
        removed++;
      } catch { /* already gone */ }
    }
    if (!((lowest.get(t.sopInstanceUid) ?? Infinity) <= t.seq)) drop.push(t.sopInstanceUid);
  }
  index.dropTombstones(drop);
  if (removed > 0) {
    logger.log("info", "deleted objects' files left by a crash removed", { files: removed });
  }
  return { removed, dropped: drop.length };
}

/** True when a journal record is a version of an instance deleted since. */
export function isTombstoned(
  tombstones: ReadonlyMap<string, number>,
  sopInstanceUid: string,
  seq: number,
): boolean {
  const deletedAt = tombstones.get(sopInstanceUid);
  return deletedAt !== undefined && seq <= deletedAt;
}
