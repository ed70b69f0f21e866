// DICOMweb's own reads of the index (the instances of a study, series or instance, in a
// stable order) and its metadata cache: each instance's DICOM JSON as first computed, kept in
// dicomweb.sqlite beside the index and valid while the instance's commit seq is unchanged.
// A cache that is lost or stale only costs a re-read of the stored headers.
import { DatabaseSync, type StatementSync } from "node:sqlite";

/** One stored instance, as WADO-RS needs it. */
export interface StoredInstanceEntry {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  /** The commit seq of the stored copy: a new copy has a higher one. */
  seq: number;
}

/** Which instances: a study, a series of it, or one instance. */
export interface InstanceScope {
  studyInstanceUid: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
}

export const METADATA_CACHE_FILE = "dicomweb.sqlite";

const INSTANCES_SQL = `
SELECT st.study_instance_uid AS study, se.series_instance_uid AS series,
       i.sop_instance_uid AS sop, i.sop_class_uid AS class, i.transfer_syntax_uid AS ts,
       i.seq AS seq
  FROM instance i JOIN series se ON se.pk = i.series_pk JOIN study st ON st.pk = se.study_pk`;
const ORDER = ` ORDER BY se.pk, CAST(i.instance_number AS INTEGER), i.pk`;

export class DicomWebIndex {
  readonly #openReader: () => DatabaseSync;
  #reader: DatabaseSync | undefined;
  #statements = new Map<string, StatementSync>();

  constructor(openReader: () => DatabaseSync) {
    this.#openReader = openReader;
  }

  #stmt(sql: string): StatementSync {
    this.#reader ??= this.#openReader();
    let s = this.#statements.get(sql);
    if (!s) this.#statements.set(sql, s = this.#reader.prepare(sql));
    return s;
  }

  /** The instances in scope, by series then Instance Number; [] when none. */
  instances(scope: InstanceScope): StoredInstanceEntry[] {
    let sql = `${INSTANCES_SQL} WHERE st.study_instance_uid = ?`;
    const params = [scope.studyInstanceUid];
    if (scope.seriesInstanceUid !== undefined) {
      sql += " AND se.series_instance_uid = ?";
      params.push(scope.seriesInstanceUid);
    }
    if (scope.sopInstanceUid !== undefined) {
      sql += " AND i.sop_instance_uid = ?";
      params.push(scope.sopInstanceUid);
    }
    const rows = this.#stmt(sql + ORDER).all(...params) as Record<string, unknown>[];
    return rows.map((r) => ({
      studyInstanceUid: String(r.study),
      seriesInstanceUid: String(r.series),
      sopInstanceUid: String(r.sop),
      sopClassUid: String(r.class),
      transferSyntaxUid: String(r.ts),
      seq: Number(r.seq),
    }));
  }

  /** The series of a study, in the order they were first stored. */
  seriesOf(studyInstanceUid: string): string[] {
    const rows = this.#stmt(
      `SELECT se.series_instance_uid AS series FROM series se JOIN study st
         ON st.pk = se.study_pk WHERE st.study_instance_uid = ? ORDER BY se.pk`,
    ).all(studyInstanceUid) as Record<string, unknown>[];
    return rows.map((r) => String(r.series));
  }

  close(): void {
    this.#statements.clear();
    this.#reader?.close();
    this.#reader = undefined;
  }
}

/** Per-instance DICOM JSON, keyed by SOP Instance UID and valid for one commit seq. */
export class MetadataCache {
  readonly #db: DatabaseSync;
  readonly #get: StatementSync;
  readonly #put: StatementSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
    this.#get = db.prepare("SELECT seq, json FROM instance_metadata WHERE sop_instance_uid = ?");
    this.#put = db.prepare(
      "INSERT OR REPLACE INTO instance_metadata (sop_instance_uid, seq, json) VALUES (?, ?, ?)",
    );
  }

  /** Opens (creating) the cache in the storage folder; a damaged file is started afresh. */
  static open(root: string): MetadataCache {
    const path = `${root}/${METADATA_CACHE_FILE}`;
    const create = (db: DatabaseSync) => {
      db.exec("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF");
      db.exec(`CREATE TABLE IF NOT EXISTS instance_metadata (
        sop_instance_uid TEXT PRIMARY KEY, seq INTEGER NOT NULL, json TEXT NOT NULL
      ) WITHOUT ROWID`);
      return new MetadataCache(db);
    };
    try {
      return create(new DatabaseSync(path));
    } catch {
      for (const suffix of ["", "-wal", "-shm"]) {
        try {
          Deno.removeSync(path + suffix);
        } catch { /* absent */ }
      }
      return create(new DatabaseSync(path));
    }
  }

  /** The cached JSON of an instance when it was computed for this seq. */
  get(sopInstanceUid: string, seq: number): string | undefined {
    const row = this.#get.get(sopInstanceUid) as { seq: number; json: string } | undefined;
    return row && Number(row.seq) === seq ? row.json : undefined;
  }

  /** Keeps several instances' JSON in one transaction. */
  putAll(entries: readonly { sopInstanceUid: string; seq: number; json: string }[]): void {
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

  close(): void {
    this.#db.close();
  }
}
