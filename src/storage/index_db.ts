// The index: patient / study / series / instance rows on node:sqlite (WAL). The journal is
// the source of truth for objects not yet materialized, so synchronous=NORMAL is enough for
// ingest; changes that let files or segments be deleted commit with synchronous=FULL.
// The schema is in index_schema.ts, the column mapping in instance_rows.ts, the rows above
// the instances in hierarchy_rows.ts.
import type { DatabaseSync } from "node:sqlite";
import type { InstanceLocation, InstanceRecord } from "../core/ports.ts";
import { type Tombstone, toTombstone } from "./delete.ts";
import { HierarchyRows } from "./hierarchy_rows.ts";
import { openDatabase, openIndexDatabase } from "./index_schema.ts";
import {
  INSTANCE_FIELDS,
  INSTANCE_SELECT,
  type InstanceMeta,
  type StoredInstance,
  toStored,
  values,
} from "./instance_rows.ts";
import { type Row, SqlStatements, type SqlValue } from "./sql_statements.ts";
import { TOTALS_SELECT, totalsOf } from "./totals.ts";

export type { InstanceMeta, StoredInstance } from "./instance_rows.ts";

export interface UpsertResult {
  /** What was stored before under this SOP Instance UID (now replaced). */
  previous?: { location: InstanceLocation; meta: InstanceMeta };
  /** Not stored: a row exists and onlyIfAbsent was asked for. */
  conflict?: boolean;
  /** Not stored: the stored row has a higher seq (a newer version won). */
  superseded?: boolean;
}

export interface IndexCounts {
  patients: number;
  studies: number;
  series: number;
  instances: number;
  /** Bytes received (Part 10, as they arrived). */
  bytes: number;
  /** Bytes the objects take where they are now (smaller once compressed at rest). */
  storedBytes: number;
}

/** A read-only connection to index.sqlite, from IndexDb.openReader. */
export type IndexReader = DatabaseSync;

/** What a delete names: a study, a series or an instance by its UID. */
export type DeleteLevel = "study" | "series" | "instance";

/** The writer connection of index.sqlite. Synchronous calls: each method is atomic in JS. */
export class IndexDb {
  readonly path: string;
  #db: DatabaseSync;
  #sql: SqlStatements;
  #hierarchy: HierarchyRows;
  /** Inside group(): upsertInstance() writes without a savepoint. */
  #grouped = false;
  /** Called inside the transaction that writes an instance row (forwarding queues). */
  #onWritten: ((record: InstanceRecord, meta: InstanceMeta) => void)[] = [];

  private constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
    this.#sql = new SqlStatements(db);
    this.#hierarchy = new HierarchyRows(this.#sql);
  }

  /** Opens (creating if needed) the index at `path`; throws on an unknown schema version. */
  static open(path: string): IndexDb {
    return new IndexDb(path, openIndexDatabase(path));
  }

  /**
   * Runs `hook` inside the transaction of every instance row written (stored, replaced or
   * replayed at recovery): what it writes commits, or is lost, with the row itself.
   */
  onInstanceWritten(hook: (record: InstanceRecord, meta: InstanceMeta) => void): void {
    this.#onWritten.push(hook);
  }

  /** The writer connection, for the tables kept beside the index (forward, commitment). */
  get connection(): DatabaseSync {
    return this.#db;
  }

  /** Runs `fn` in one write transaction on the writer connection. */
  transaction<T>(fn: () => T, durable = false): T {
    return this.#transaction(fn, durable);
  }

  /** A read-only connection for queries; WAL readers never block the writer. */
  openReader(): IndexReader {
    return openDatabase(this.path, true);
  }

  #get(sql: string, ...params: SqlValue[]): Row | undefined {
    return this.#sql.get(sql, ...params);
  }

  #run(sql: string, ...params: SqlValue[]): number {
    return this.#sql.run(sql, ...params);
  }

  /**
   * Runs `fn` in one write transaction; `durable` commits with synchronous=FULL. Inside a
   * caller's transaction (reindex writes its rows in batches) it is a savepoint: a failed
   * step undoes only itself, and the caller's commit decides durability.
   */
  #transaction<T>(fn: () => T, durable = false): T {
    if (this.#db.isTransaction) {
      this.#db.exec("SAVEPOINT step");
      try {
        const result = fn();
        this.#db.exec("RELEASE step");
        return result;
      } catch (e) {
        this.#db.exec("ROLLBACK TO step");
        this.#db.exec("RELEASE step");
        throw e;
      }
    }
    if (durable) this.#db.exec("PRAGMA synchronous = FULL");
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        const result = fn();
        this.#db.exec("COMMIT");
        return result;
      } catch (e) {
        this.#db.exec("ROLLBACK");
        throw e;
      }
    } finally {
      if (durable) this.#db.exec("PRAGMA synchronous = NORMAL");
    }
  }

  /**
   * Stores or replaces the instance, moving it (and keeping every derived count right) when
   * its series, study or patient changed. With `onlyIfAbsent` an existing row is left alone
   * (`conflict`); a row with a higher seq is never replaced (`superseded`).
   */
  upsertInstance(
    record: InstanceRecord,
    location: InstanceLocation,
    meta: InstanceMeta,
    options: { onlyIfAbsent?: boolean } = {},
  ): UpsertResult {
    const upsert = () => this.#upsert(record, location, meta, options);
    return this.#grouped ? upsert() : this.#transaction(upsert);
  }

  /**
   * Runs `fn` in one write transaction in which upsertInstance() takes no savepoint of its
   * own (a savepoint copies every page it changes aside): a failure rolls back all that `fn`
   * wrote, and the caller may write the rows again one by one.
   */
  group<T>(fn: () => T): T {
    if (this.#grouped || this.#db.isTransaction) return this.#transaction(fn);
    this.#grouped = true;
    try {
      return this.#transaction(fn);
    } finally {
      this.#grouped = false;
    }
  }

  #upsert(
    record: InstanceRecord,
    location: InstanceLocation,
    meta: InstanceMeta,
    options: { onlyIfAbsent?: boolean },
  ): UpsertResult {
    const old = this.#get(
      "SELECT * FROM instance WHERE sop_instance_uid = ?",
      record.sopInstanceUid,
    );
    if (old && options.onlyIfAbsent) return { conflict: true };
    if (old && Number(old.seq) > meta.seq) return { superseded: true };

    const pks = this.#hierarchy.resolve(record);
    const { studyPk, seriesPk } = pks;
    const row: SqlValue[] = [
      seriesPk,
      ...values(record, INSTANCE_FIELDS),
      location.kind,
      location.path,
      location.offset,
      location.length,
      meta.homePath,
      meta.size,
      meta.receivedAt,
      meta.callingAe,
      meta.seq,
    ];
    if (!old) {
      this.#run(
        `INSERT INTO instance (series_pk, sop_instance_uid, sop_class_uid, instance_number,
          transfer_syntax_uid, specific_character_set, loc_kind, loc_path, loc_offset,
          loc_length, home_path, size, received_at, calling_ae, seq)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ...row,
      );
      this.#hierarchy.addInstancesTo(pks, 1);
      if (this.#hierarchy.addSopClass(seriesPk, record.sopClassUid, 1)) {
        this.#hierarchy.touch(studyPk);
      }
      this.#hierarchy.refreshTouched();
      for (const hook of this.#onWritten) hook(record, meta);
      return {};
    }
    const oldSeriesPk = Number(old.series_pk);
    const oldStudyPk = this.#hierarchy.studyOfSeries(oldSeriesPk);
    if (oldStudyPk !== undefined) this.#hierarchy.touch(oldStudyPk);
    this.#hierarchy.touch(studyPk);
    this.#run(
      `UPDATE instance SET series_pk = ?, sop_instance_uid = ?, sop_class_uid = ?,
        instance_number = ?, transfer_syntax_uid = ?, specific_character_set = ?,
        loc_kind = ?, loc_path = ?, loc_offset = ?, loc_length = ?, home_path = ?, size = ?,
        received_at = ?, calling_ae = ?, seq = ? WHERE pk = ?`,
      ...row,
      Number(old.pk),
    );
    this.#hierarchy.addSopClass(oldSeriesPk, String(old.sop_class_uid), -1);
    this.#hierarchy.addSopClass(seriesPk, record.sopClassUid, 1);
    if (oldSeriesPk !== seriesPk) {
      this.#hierarchy.addInstances(oldSeriesPk, -1);
      this.#hierarchy.addInstances(seriesPk, 1);
      this.#hierarchy.pruneSeries(oldSeriesPk);
    }
    this.#hierarchy.refreshTouched();
    for (const hook of this.#onWritten) hook(record, meta);
    const { location: prevLocation, meta: prevMeta } = toStored(old);
    return { previous: { location: prevLocation, meta: prevMeta } };
  }

  /** The Study Instance UID a series is filed under, if the series is known. */
  studyOfSeries(seriesInstanceUid: string): string | undefined {
    const row = this.#get(
      `SELECT st.study_instance_uid FROM series se JOIN study st ON st.pk = se.study_pk
        WHERE se.series_instance_uid = ?`,
      seriesInstanceUid,
    );
    return row === undefined ? undefined : String(row.study_instance_uid);
  }

  getInstance(sopInstanceUid: string): StoredInstance | undefined {
    const row = this.#get(`${INSTANCE_SELECT} WHERE i.sop_instance_uid = ?`, sopInstanceUid);
    return row ? toStored(row) : undefined;
  }

  /** Points the instance at a new location; false when the row is gone. */
  setLocation(sopInstanceUid: string, location: InstanceLocation): boolean {
    return this.#run(
      `UPDATE instance SET loc_kind = ?, loc_path = ?, loc_offset = ?, loc_length = ?
       WHERE sop_instance_uid = ?`,
      location.kind,
      location.path,
      location.offset,
      location.length,
      sopInstanceUid,
    ) > 0;
  }

  /**
   * Marks materialized objects as living in their home files, in one durable transaction
   * (synchronous=FULL, which also makes every earlier commit durable). Each entry only
   * applies when the row still has the given seq and journal location; returns the SOP
   * Instance UIDs that were updated. `transferSyntaxUid` is the home file's, when it was
   * compressed on the way (the index records the syntax of the bytes at the location).
   */
  markMaterialized(
    entries: {
      sopInstanceUid: string;
      seq: number;
      journalPath: string;
      home: InstanceLocation;
      transferSyntaxUid?: string;
    }[],
  ): Set<string> {
    return this.#transaction(() => {
      const done = new Set<string>();
      for (const e of entries) {
        const changed = this.#run(
          `UPDATE instance SET loc_kind = 'home', loc_path = ?, loc_offset = ?, loc_length = ?,
             transfer_syntax_uid = coalesce(?, transfer_syntax_uid)
           WHERE sop_instance_uid = ? AND seq = ? AND loc_kind = 'journal' AND loc_path = ?`,
          e.home.path,
          e.home.offset,
          e.home.length,
          e.transferSyntaxUid ?? null,
          e.sopInstanceUid,
          e.seq,
          e.journalPath,
        );
        if (changed > 0) done.add(e.sopInstanceUid);
      }
      this.#run(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('materialized_at', ?)",
        new Date().toISOString(),
      );
      return done;
    }, true);
  }

  /** Removes the instance (and emptied series/study/patient); durable. */
  deleteInstance(sopInstanceUid: string): StoredInstance | undefined {
    return this.#transaction(() => this.#deleteRow(sopInstanceUid), true);
  }

  #deleteRow(sopInstanceUid: string): StoredInstance | undefined {
    const found = this.getInstance(sopInstanceUid);
    const old = this.#get(
      "SELECT pk, series_pk, sop_class_uid FROM instance WHERE sop_instance_uid = ?",
      sopInstanceUid,
    );
    if (!found || !old) return undefined;
    const seriesPk = Number(old.series_pk);
    const studyPk = this.#hierarchy.studyOfSeries(seriesPk);
    this.#run("DELETE FROM instance WHERE pk = ?", Number(old.pk));
    this.#hierarchy.addSopClass(seriesPk, String(old.sop_class_uid), -1);
    this.#hierarchy.addInstances(seriesPk, -1);
    this.#hierarchy.pruneSeries(seriesPk);
    if (studyPk !== undefined) this.#hierarchy.refreshStudy(studyPk);
    return found;
  }

  /**
   * Deletes every instance of a study, a series, or one instance, in one durable transaction
   * that also writes their tombstones: after a crash the entity is either all there or all
   * gone, and no journal replay brings it back. Counts and derived keys follow. Returns the
   * instances deleted (none when the UID is unknown); their files are the caller's to remove.
   */
  deleteEntity(level: DeleteLevel, uid: string): StoredInstance[] {
    const sql = level === "instance"
      ? "SELECT sop_instance_uid AS uid FROM instance WHERE sop_instance_uid = ?"
      : level === "series"
      ? `SELECT i.sop_instance_uid AS uid FROM instance i JOIN series se ON se.pk = i.series_pk
         WHERE se.series_instance_uid = ?`
      : `SELECT i.sop_instance_uid AS uid FROM instance i JOIN series se ON se.pk = i.series_pk
         JOIN study st ON st.pk = se.study_pk WHERE st.study_instance_uid = ?`;
    return this.#transaction(() => {
      const uids = (this.#sql.all(sql, uid)).map((r) => String(r.uid));
      const gone: StoredInstance[] = [];
      for (const u of uids) {
        const row = this.#deleteRow(u);
        if (!row) continue;
        this.#run(
          `INSERT INTO deleted_instance (sop_instance_uid, seq, home_path) VALUES (?, ?, ?)
           ON CONFLICT (sop_instance_uid) DO UPDATE SET seq = max(seq, excluded.seq),
           home_path = excluded.home_path`,
          u,
          row.meta.seq,
          row.meta.homePath,
        );
        gone.push(row);
      }
      return gone;
    }, true);
  }

  /** Every tombstone (storage/delete.ts). */
  tombstones(): Tombstone[] {
    return this.#sql.all("SELECT * FROM deleted_instance").map(toTombstone);
  }

  /** Writes tombstones kept from another index (reindex). */
  addTombstones(tombstones: Iterable<Tombstone>): void {
    this.#transaction(() => {
      for (const t of tombstones) {
        this.#run(
          "INSERT OR REPLACE INTO deleted_instance (sop_instance_uid, seq, home_path) VALUES (?, ?, ?)",
          t.sopInstanceUid,
          t.seq,
          t.homePath,
        );
      }
    });
  }

  /** Forgets tombstones no journal record needs any more. */
  dropTombstones(sopInstanceUids: Iterable<string>): void {
    this.#transaction(() => {
      for (const u of sopInstanceUids) {
        this.#run("DELETE FROM deleted_instance WHERE sop_instance_uid = ?", u);
      }
    });
  }

  counts(): IndexCounts {
    const n = (table: string) => Number((this.#get(`SELECT count(*) AS n FROM ${table}`) as Row).n);
    const kept = totalsOf(this.#get(TOTALS_SELECT));
    return {
      patients: n("patient"),
      studies: n("study"),
      series: n("series"),
      instances: kept.instances,
      bytes: kept.bytes,
      storedBytes: kept.storedBytes,
    };
  }

  /** Highest seq ever written to the index (0 when never written): read, not scanned. */
  maxSeq(): number {
    return totalsOf(this.#get(TOTALS_SELECT)).maxSeq;
  }

  /** Every instance, in SOP Instance UID order. */
  *allInstances(): Generator<StoredInstance> {
    const stmt = this.#db.prepare(`${INSTANCE_SELECT} ORDER BY i.sop_instance_uid`);
    for (const row of stmt.iterate()) yield toStored(row as Row);
  }

  /** Instances whose location is a journal segment. */
  journalInstances(): StoredInstance[] {
    return this.#sql.all(`${INSTANCE_SELECT} WHERE i.loc_kind = 'journal'`).map(toStored);
  }

  /**
   * Copies what the WAL holds into the database file as far as readers allow (PASSIVE: waits
   * for no one); the WAL starts over at the next write once all of it is copied.
   */
  checkpoint(): void {
    this.#db.exec("PRAGMA wal_checkpoint(PASSIVE)");
  }

  close(): void {
    this.#sql.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}
