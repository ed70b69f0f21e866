// Each instance's DICOMweb metadata (its DICOM JSON, bulk data as BulkDataURI templates),
// computed once and kept in dicomweb.sqlite beside the index: a row is valid while the
// instance's commit seq in the index is the one it was computed for. Deleting an instance
// removes its row; a reindex drops the file and everything is computed again from the files.
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { READER_CACHE_KIB } from "./index_schema.ts";
import { removeIfPresent } from "./layout.ts";
import { trackCache } from "./sqlite_caches.ts";

export const METADATA_FILE = "dicomweb.sqlite";

/** One instance's DICOM JSON as computed for one commit seq. */
export interface InstanceMetadata {
  sopInstanceUid: string;
  seq: number;
  json: string;
}

/**
 * A rowid table: each row (a kilobyte or two) stays within its page, where a WITHOUT ROWID
 * table would spill most rows into overflow pages (three times the file, slower reads).
 */
function prepare(db: DatabaseSync): void {
  db.exec("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
  // Rows are read by key; a small cache holds the upper B-tree pages (index_schema.ts).
  db.exec(`PRAGMA cache_size = -${READER_CACHE_KIB}`);
  const older = db.prepare(
    "SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'instance_metadata'",
  ).get();
  if (older) throw new Error("an earlier layout: started afresh");
  db.exec(`CREATE TABLE IF NOT EXISTS instance_json (
    sop_instance_uid TEXT PRIMARY KEY, seq INTEGER NOT NULL, json TEXT NOT NULL
  )`);
  db.exec(`CREATE TABLE IF NOT EXISTS built (
    id INTEGER PRIMARY KEY CHECK (id = 1), through_seq INTEGER NOT NULL
  )`);
}

export class InstanceMetadataStore {
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #put: StatementSync;
  readonly #get: StatementSync;

  private constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
    this.#get = db.prepare("SELECT seq, json FROM instance_json WHERE sop_instance_uid = ?");
    this.#put = db.prepare(
      "INSERT OR REPLACE INTO instance_json (sop_instance_uid, seq, json) VALUES (?, ?, ?)",
    );
  }

  /** Opens (creating) the file in the storage folder; a damaged or older one starts afresh. */
  static open(root: string): InstanceMetadataStore {
    const path = `${root}/${METADATA_FILE}`;
    let db: DatabaseSync | undefined;
    try {
      db = trackCache(new DatabaseSync(path));
      prepare(db);
      return new InstanceMetadataStore(path, db);
    } catch {
      try {
        db?.close();
      } catch { /* not open */ }
      for (const suffix of ["", "-wal", "-shm"]) {
        try {
          Deno.removeSync(path + suffix);
        } catch { /* absent */ }
      }
      const fresh = trackCache(new DatabaseSync(path));
      prepare(fresh);
      return new InstanceMetadataStore(path, fresh);
    }
  }

  /** The kept JSON of an instance when it was computed for this seq. */
  get(sopInstanceUid: string, seq: number): string | undefined {
    const row = this.#get.get(sopInstanceUid) as { seq: number; json: string } | undefined;
    return row && Number(row.seq) === seq ? row.json : undefined;
  }

  /** Keeps several instances' JSON in one transaction. */
  putAll(entries: readonly InstanceMetadata[]): void {
    if (entries.length === 0) return;
    this.#db.exec("BEGIN");
    try {
      for (const e of entries) this.#put.run(e.sopInstanceUid, e.seq, e.json);
      this.#db.exec("COMMIT");
    } catch (e) {
      this.#db.exec("ROLLBACK");
      throw e;
    }
  }

  /** Every instance with a commit seq up to this one has been looked at (0: none yet). */
  builtThrough(): number {
    const row = this.#db.prepare("SELECT through_seq AS s FROM built WHERE id = 1").get() as
      | { s: number }
      | undefined;
    return row ? Number(row.s) : 0;
  }

  setBuiltThrough(seq: number): void {
    this.#db.prepare("INSERT OR REPLACE INTO built (id, through_seq) VALUES (1, ?)").run(seq);
  }

  close(): void {
    this.#db.close();
  }
}

/** Removes the metadata of deleted instances (nothing to do when the file does not exist). */
export function forgetInstanceMetadata(root: string, sopInstanceUids: readonly string[]): void {
  if (sopInstanceUids.length === 0) return;
  let db: DatabaseSync;
  try {
    Deno.statSync(`${root}/${METADATA_FILE}`);
    db = new DatabaseSync(`${root}/${METADATA_FILE}`);
  } catch {
    return;
  }
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    const del = db.prepare("DELETE FROM instance_json WHERE sop_instance_uid = ?");
    db.exec("BEGIN");
    for (const uid of sopInstanceUids) del.run(uid);
    db.exec("COMMIT");
  } catch {
    // A damaged file: stale rows are never served (their seq no longer matches).
  } finally {
    db.close();
  }
}

/** Drops every instance's metadata (after a reindex): it is computed again from the files. */
export async function dropInstanceMetadata(root: string): Promise<void> {
  for (const suffix of ["", "-wal", "-shm"]) {
    await removeIfPresent(`${root}/${METADATA_FILE}${suffix}`);
  }
}
