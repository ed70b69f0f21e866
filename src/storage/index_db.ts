// The index: patient / study / series / instance rows on node:sqlite (WAL). The journal is
// the source of truth for objects not yet materialized, so synchronous=NORMAL is enough for
// ingest; changes that let files or segments be deleted commit with synchronous=FULL.
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { InstanceLocation, InstanceRecord } from "../core/ports.ts";
import { pnSearchForms } from "../core/query/pn.ts";
import { installTotals, TOTALS_SELECT, totalsOf } from "./totals.ts";

/** Per-instance facts besides the DICOM attributes. */
export interface InstanceMeta {
  /** Home file path relative to the root, where the materializer puts (or put) it. */
  homePath: string;
  size: number;
  /** ISO 8601 time of the commit. */
  receivedAt: string;
  callingAe: string;
  /** Commit order; a higher seq is a newer version of the same SOP Instance. */
  seq: number;
}

export interface StoredInstance {
  record: InstanceRecord;
  location: InstanceLocation;
  meta: InstanceMeta;
}

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

type Row = Record<string, unknown>;
type SqlValue = string | number | null;

export const SCHEMA_VERSION = 2;

/** The whole schema; bump SCHEMA_VERSION when it changes (reindex rebuilds). */
const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE patient (
  pk INTEGER PRIMARY KEY,
  patient_key TEXT NOT NULL UNIQUE,
  patient_id TEXT NOT NULL,
  patient_name TEXT NOT NULL,
  patient_birth_date TEXT NOT NULL,
  patient_sex TEXT NOT NULL,
  other_patient_ids TEXT NOT NULL,
  num_studies INTEGER NOT NULL DEFAULT 0,
  num_series INTEGER NOT NULL DEFAULT 0,
  num_instances INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX patient_id_idx ON patient(patient_id);
CREATE INDEX patient_name_idx ON patient(patient_name COLLATE NOCASE);
CREATE TABLE study (
  pk INTEGER PRIMARY KEY,
  patient_pk INTEGER NOT NULL,
  study_instance_uid TEXT NOT NULL UNIQUE,
  study_date TEXT NOT NULL,
  study_time TEXT NOT NULL,
  accession_number TEXT NOT NULL,
  study_id TEXT NOT NULL,
  study_description TEXT NOT NULL,
  referring_physician_name TEXT NOT NULL,
  modalities_in_study TEXT NOT NULL DEFAULT '',
  sop_classes_in_study TEXT NOT NULL DEFAULT '',
  num_series INTEGER NOT NULL DEFAULT 0,
  num_instances INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX study_patient_idx ON study(patient_pk);
CREATE INDEX study_date_idx ON study(study_date);
CREATE INDEX study_accession_idx ON study(accession_number);
CREATE TABLE series (
  pk INTEGER PRIMARY KEY,
  study_pk INTEGER NOT NULL,
  series_instance_uid TEXT NOT NULL UNIQUE,
  modality TEXT NOT NULL,
  series_number TEXT NOT NULL,
  series_description TEXT NOT NULL,
  body_part_examined TEXT NOT NULL,
  series_date TEXT NOT NULL,
  series_time TEXT NOT NULL,
  num_instances INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX series_study_idx ON series(study_pk);
CREATE INDEX series_modality_idx ON series(modality);
CREATE TABLE series_sop_class (
  series_pk INTEGER NOT NULL,
  sop_class_uid TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (series_pk, sop_class_uid)
) WITHOUT ROWID;
CREATE TABLE instance (
  pk INTEGER PRIMARY KEY,
  series_pk INTEGER NOT NULL,
  sop_instance_uid TEXT NOT NULL UNIQUE,
  sop_class_uid TEXT NOT NULL,
  instance_number TEXT NOT NULL,
  transfer_syntax_uid TEXT NOT NULL,
  specific_character_set TEXT NOT NULL,
  loc_kind TEXT NOT NULL CHECK (loc_kind IN ('journal', 'home')),
  loc_path TEXT NOT NULL,
  loc_offset INTEGER NOT NULL,
  loc_length INTEGER NOT NULL,
  home_path TEXT NOT NULL,
  size INTEGER NOT NULL,
  received_at TEXT NOT NULL,
  calling_ae TEXT NOT NULL,
  seq INTEGER NOT NULL
);
CREATE INDEX instance_series_idx ON instance(series_pk);
CREATE INDEX instance_journal_idx ON instance(loc_path) WHERE loc_kind = 'journal';
`;

/**
 * Version 2: person names in their search forms for C-FIND (core/query/pn.ts): the alphabetic
 * group and the other groups, upper case, so that a prefix query uses an index.
 */
const SCHEMA_2 = `
ALTER TABLE patient ADD COLUMN patient_name_norm TEXT NOT NULL DEFAULT '';
ALTER TABLE patient ADD COLUMN patient_name_alt TEXT NOT NULL DEFAULT '';
ALTER TABLE study ADD COLUMN referring_physician_name_norm TEXT NOT NULL DEFAULT '';
ALTER TABLE study ADD COLUMN referring_physician_name_alt TEXT NOT NULL DEFAULT '';
CREATE INDEX patient_name_norm_idx ON patient(patient_name_norm);
CREATE INDEX patient_name_alt_idx ON patient(patient_name_alt);
CREATE INDEX study_referring_norm_idx ON study(referring_physician_name_norm);
`;

/**
 * Tombstones: an instance deleted on request, with the seq it had and its home file. Recovery
 * replays no journal record of it with that seq or lower, and removes the home file if a crash
 * left it behind; a tombstone goes once no journal record could bring the instance back.
 */
const TOMBSTONE_SCHEMA = `
CREATE TABLE IF NOT EXISTS deleted_instance (
  sop_instance_uid TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  home_path TEXT NOT NULL
) WITHOUT ROWID;
`;

/** A deleted instance as its tombstone records it. */
export interface Tombstone {
  sopInstanceUid: string;
  seq: number;
  homePath: string;
}

/** What a delete names: a study, a series or an instance by its UID. */
export type DeleteLevel = "study" | "series" | "instance";

/** Upgrades a version 1 index in place: adds and fills the person name search columns. */
function migrateToVersion2(db: DatabaseSync): void {
  db.exec(SCHEMA_2);
  const patients = db.prepare("SELECT pk, patient_name FROM patient").all() as Row[];
  const setPatient = db.prepare(
    "UPDATE patient SET patient_name_norm = ?, patient_name_alt = ? WHERE pk = ?",
  );
  for (const r of patients) {
    const f = pnSearchForms(String(r.patient_name));
    setPatient.run(f.norm, f.alt, Number(r.pk));
  }
  const studies = db.prepare("SELECT pk, referring_physician_name FROM study").all() as Row[];
  const setStudy = db.prepare(
    `UPDATE study SET referring_physician_name_norm = ?, referring_physician_name_alt = ?
     WHERE pk = ?`,
  );
  for (const r of studies) {
    const f = pnSearchForms(String(r.referring_physician_name));
    setStudy.run(f.norm, f.alt, Number(r.pk));
  }
}

const PATIENT_FIELDS = [
  ["patientId", "patient_id"],
  ["patientName", "patient_name"],
  ["patientBirthDate", "patient_birth_date"],
  ["patientSex", "patient_sex"],
  ["otherPatientIds", "other_patient_ids"],
] as const;
const STUDY_FIELDS = [
  ["studyInstanceUid", "study_instance_uid"],
  ["studyDate", "study_date"],
  ["studyTime", "study_time"],
  ["accessionNumber", "accession_number"],
  ["studyId", "study_id"],
  ["studyDescription", "study_description"],
  ["referringPhysicianName", "referring_physician_name"],
] as const;
const SERIES_FIELDS = [
  ["seriesInstanceUid", "series_instance_uid"],
  ["modality", "modality"],
  ["seriesNumber", "series_number"],
  ["seriesDescription", "series_description"],
  ["bodyPartExamined", "body_part_examined"],
  ["seriesDate", "series_date"],
  ["seriesTime", "series_time"],
] as const;
const INSTANCE_FIELDS = [
  ["sopInstanceUid", "sop_instance_uid"],
  ["sopClassUid", "sop_class_uid"],
  ["instanceNumber", "instance_number"],
  ["transferSyntaxUid", "transfer_syntax_uid"],
  ["specificCharacterSet", "specific_character_set"],
] as const;
const ALL_FIELDS = [...PATIENT_FIELDS, ...STUDY_FIELDS, ...SERIES_FIELDS, ...INSTANCE_FIELDS];

function values(record: InstanceRecord, fields: readonly (readonly [string, string])[]) {
  return fields.map(([key]) => String(record[key as keyof InstanceRecord] ?? ""));
}

/** Patients are told apart by Patient ID, or by name when the ID is empty. */
function patientKey(record: InstanceRecord): string {
  return record.patientId !== "" ? `I:${record.patientId}` : `N:${record.patientName}`;
}

const INSTANCE_SELECT = `SELECT i.*, se.series_instance_uid, se.modality, se.series_number,
  se.series_description, se.body_part_examined, se.series_date, se.series_time,
  st.study_instance_uid, st.study_date, st.study_time, st.accession_number, st.study_id,
  st.study_description, st.referring_physician_name, p.patient_id, p.patient_name,
  p.patient_birth_date, p.patient_sex, p.other_patient_ids
  FROM instance i JOIN series se ON se.pk = i.series_pk JOIN study st ON st.pk = se.study_pk
  JOIN patient p ON p.pk = st.patient_pk`;

function toStored(row: Row): StoredInstance {
  const record = {} as Record<string, string>;
  for (const [key, column] of ALL_FIELDS) record[key] = String(row[column] ?? "");
  return {
    record: record as unknown as InstanceRecord,
    location: {
      kind: row.loc_kind === "home" ? "home" : "journal",
      path: String(row.loc_path),
      offset: Number(row.loc_offset),
      length: Number(row.loc_length),
    },
    meta: {
      homePath: String(row.home_path),
      size: Number(row.size),
      receivedAt: String(row.received_at),
      callingAe: String(row.calling_ae),
      seq: Number(row.seq),
    },
  };
}

/** The tombstones of an index file, read-only; none when it cannot be read. */
export function readTombstones(path: string): Tombstone[] {
  let db: DatabaseSync | undefined;
  try {
    db = openDatabase(path, true);
    return (db.prepare("SELECT * FROM deleted_instance").all() as Row[]).map((r) => ({
      sopInstanceUid: String(r.sop_instance_uid),
      seq: Number(r.seq),
      homePath: String(r.home_path),
    }));
  } catch {
    return [];
  } finally {
    db?.close();
  }
}

function openDatabase(path: string, readOnly: boolean): DatabaseSync {
  const db = new DatabaseSync(path, { readOnly });
  db.exec("PRAGMA busy_timeout = 10000");
  return db;
}

/** The writer connection of index.sqlite. Synchronous calls: each method is atomic in JS. */
export class IndexDb {
  readonly path: string;
  #db: DatabaseSync;
  #statements = new Map<string, StatementSync>();
  /** Studies whose derived attributes need a refresh at the end of the transaction. */
  #touched = new Set<number>();
  /** Called inside the transaction that writes an instance row (forwarding queues). */
  #onWritten: ((record: InstanceRecord, meta: InstanceMeta) => void)[] = [];

  private constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
  }

  /** Opens (creating if needed) the index at `path`; throws on an unknown schema version. */
  static open(path: string): IndexDb {
    const db = openDatabase(path, false);
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
    const version = Number((db.prepare("PRAGMA user_version").get() as Row).user_version);
    if (version === 0 || version === 1) {
      db.exec("BEGIN IMMEDIATE");
      try {
        if (version === 0) db.exec(SCHEMA + SCHEMA_2);
        else migrateToVersion2(db);
        db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
        db.exec("COMMIT");
      } catch (e) {
        db.exec("ROLLBACK");
        db.close();
        throw e;
      }
    } else if (version !== SCHEMA_VERSION) {
      db.close();
      throw new Error(
        `index ${path} has schema version ${version}, this build knows ${SCHEMA_VERSION}; ` +
          "run reindex to rebuild it",
      );
    }
    // Deletions not yet safe from a journal replay (storage/delete.ts); added without a
    // schema version: an older index simply gets the empty table.
    db.exec(TOMBSTONE_SCHEMA);
    // Kept totals (totals.ts), also without a schema version: filled once when missing.
    installTotals(db);
    return new IndexDb(path, db);
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
  openReader(): DatabaseSync {
    return openDatabase(this.path, true);
  }

  #stmt(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  #get(sql: string, ...params: SqlValue[]): Row | undefined {
    return this.#stmt(sql).get(...params) as Row | undefined;
  }

  #run(sql: string, ...params: SqlValue[]): number {
    return Number(this.#stmt(sql).run(...params).changes);
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
    return this.#transaction(() => {
      const old = this.#get(
        "SELECT * FROM instance WHERE sop_instance_uid = ?",
        record.sopInstanceUid,
      );
      if (old && options.onlyIfAbsent) return { conflict: true };
      if (old && Number(old.seq) > meta.seq) return { superseded: true };

      this.#touched.clear();
      const patientPk = this.#resolvePatient(record);
      const studyPk = this.#resolveStudy(record, patientPk);
      const seriesPk = this.#resolveSeries(record, studyPk);
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
      this.#touched.add(studyPk);
      if (!old) {
        this.#run(
          `INSERT INTO instance (series_pk, sop_instance_uid, sop_class_uid, instance_number,
            transfer_syntax_uid, specific_character_set, loc_kind, loc_path, loc_offset,
            loc_length, home_path, size, received_at, calling_ae, seq)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          ...row,
        );
        this.#addInstances(seriesPk, 1);
        this.#addSopClass(seriesPk, record.sopClassUid, 1);
        this.#refreshTouched();
        for (const hook of this.#onWritten) hook(record, meta);
        return {};
      }
      const oldSeriesPk = Number(old.series_pk);
      const oldStudyPk = this.#studyOfSeries(oldSeriesPk);
      if (oldStudyPk !== undefined) this.#touched.add(oldStudyPk);
      this.#run(
        `UPDATE instance SET series_pk = ?, sop_instance_uid = ?, sop_class_uid = ?,
          instance_number = ?, transfer_syntax_uid = ?, specific_character_set = ?,
          loc_kind = ?, loc_path = ?, loc_offset = ?, loc_length = ?, home_path = ?, size = ?,
          received_at = ?, calling_ae = ?, seq = ? WHERE pk = ?`,
        ...row,
        Number(old.pk),
      );
      this.#addSopClass(oldSeriesPk, String(old.sop_class_uid), -1);
      this.#addSopClass(seriesPk, record.sopClassUid, 1);
      if (oldSeriesPk !== seriesPk) {
        this.#addInstances(oldSeriesPk, -1);
        this.#addInstances(seriesPk, 1);
        this.#pruneSeries(oldSeriesPk);
      }
      this.#refreshTouched();
      for (const hook of this.#onWritten) hook(record, meta);
      const { location: prevLocation, meta: prevMeta } = toStored(old);
      return { previous: { location: prevLocation, meta: prevMeta } };
    });
  }

  #resolvePatient(record: InstanceRecord): number {
    const key = patientKey(record);
    const name = pnSearchForms(record.patientName);
    const attrs = [...values(record, PATIENT_FIELDS), name.norm, name.alt];
    const found = this.#get("SELECT pk FROM patient WHERE patient_key = ?", key);
    if (found) {
      this.#run(
        `UPDATE patient SET patient_id = ?, patient_name = ?, patient_birth_date = ?,
          patient_sex = ?, other_patient_ids = ?, patient_name_norm = ?, patient_name_alt = ?
         WHERE pk = ?`,
        ...attrs,
        Number(found.pk),
      );
      return Number(found.pk);
    }
    return this.#insert(
      `INSERT INTO patient (patient_key, patient_id, patient_name, patient_birth_date,
        patient_sex, other_patient_ids, patient_name_norm, patient_name_alt)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      key,
      ...attrs,
    );
  }

  #resolveStudy(record: InstanceRecord, patientPk: number): number {
    const referrer = pnSearchForms(record.referringPhysicianName);
    const attrs = [...values(record, STUDY_FIELDS), referrer.norm, referrer.alt];
    const found = this.#get(
      "SELECT pk, patient_pk, num_series, num_instances FROM study WHERE study_instance_uid = ?",
      record.studyInstanceUid,
    );
    if (!found) {
      const pk = this.#insert(
        `INSERT INTO study (patient_pk, study_instance_uid, study_date, study_time,
          accession_number, study_id, study_description, referring_physician_name,
          referring_physician_name_norm, referring_physician_name_alt)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        patientPk,
        ...attrs,
      );
      this.#addToPatient(patientPk, 1, 0, 0);
      return pk;
    }
    const pk = Number(found.pk);
    this.#run(
      `UPDATE study SET study_date = ?, study_time = ?, accession_number = ?, study_id = ?,
        study_description = ?, referring_physician_name = ?, referring_physician_name_norm = ?,
        referring_physician_name_alt = ? WHERE pk = ?`,
      ...attrs.slice(1),
      pk,
    );
    const oldPatientPk = Number(found.patient_pk);
    if (oldPatientPk !== patientPk) {
      // The study moves to another patient, with all its series and instances.
      const nSeries = Number(found.num_series);
      const nInstances = Number(found.num_instances);
      this.#addToPatient(oldPatientPk, -1, -nSeries, -nInstances);
      this.#run("UPDATE study SET patient_pk = ? WHERE pk = ?", patientPk, pk);
      this.#addToPatient(patientPk, 1, nSeries, nInstances);
      this.#prunePatient(oldPatientPk);
    }
    return pk;
  }

  #resolveSeries(record: InstanceRecord, studyPk: number): number {
    const attrs = values(record, SERIES_FIELDS);
    const found = this.#get(
      "SELECT pk, study_pk, num_instances FROM series WHERE series_instance_uid = ?",
      record.seriesInstanceUid,
    );
    if (!found) {
      const pk = this.#insert(
        `INSERT INTO series (study_pk, series_instance_uid, modality, series_number,
          series_description, body_part_examined, series_date, series_time)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        studyPk,
        ...attrs,
      );
      this.#addToStudy(studyPk, 1, 0);
      return pk;
    }
    const pk = Number(found.pk);
    this.#run(
      `UPDATE series SET modality = ?, series_number = ?, series_description = ?,
        body_part_examined = ?, series_date = ?, series_time = ? WHERE pk = ?`,
      ...attrs.slice(1),
      pk,
    );
    const oldStudyPk = Number(found.study_pk);
    if (oldStudyPk !== studyPk) {
      // The series moves to another study, with all its instances.
      const n = Number(found.num_instances);
      this.#addToStudy(oldStudyPk, -1, -n);
      this.#touched.add(oldStudyPk);
      this.#run("UPDATE series SET study_pk = ? WHERE pk = ?", studyPk, pk);
      this.#addToStudy(studyPk, 1, n);
      this.#pruneStudy(oldStudyPk);
    }
    return pk;
  }

  #insert(sql: string, ...params: SqlValue[]): number {
    return Number(this.#stmt(sql).run(...params).lastInsertRowid);
  }

  #studyOfSeries(seriesPk: number): number | undefined {
    const row = this.#get("SELECT study_pk FROM series WHERE pk = ?", seriesPk);
    return row ? Number(row.study_pk) : undefined;
  }

  #addInstances(seriesPk: number, n: number): void {
    this.#run("UPDATE series SET num_instances = num_instances + ? WHERE pk = ?", n, seriesPk);
    const studyPk = this.#studyOfSeries(seriesPk);
    if (studyPk !== undefined) this.#addToStudy(studyPk, 0, n);
  }

  #addToStudy(studyPk: number, series: number, instances: number): void {
    this.#run(
      "UPDATE study SET num_series = num_series + ?, num_instances = num_instances + ? WHERE pk = ?",
      series,
      instances,
      studyPk,
    );
    const row = this.#get("SELECT patient_pk FROM study WHERE pk = ?", studyPk);
    if (row) this.#addToPatient(Number(row.patient_pk), 0, series, instances);
  }

  #addToPatient(patientPk: number, studies: number, series: number, instances: number): void {
    this.#run(
      `UPDATE patient SET num_studies = num_studies + ?, num_series = num_series + ?,
        num_instances = num_instances + ? WHERE pk = ?`,
      studies,
      series,
      instances,
      patientPk,
    );
  }

  #addSopClass(seriesPk: number, sopClassUid: string, n: number): void {
    this.#run(
      `INSERT INTO series_sop_class (series_pk, sop_class_uid, n) VALUES (?, ?, ?)
       ON CONFLICT (series_pk, sop_class_uid) DO UPDATE SET n = n + excluded.n`,
      seriesPk,
      sopClassUid,
      n,
    );
    this.#run("DELETE FROM series_sop_class WHERE series_pk = ? AND n <= 0", seriesPk);
  }

  /** Deletes the series if empty, then its study and patient if they became empty. */
  #pruneSeries(seriesPk: number): void {
    const row = this.#get("SELECT study_pk, num_instances FROM series WHERE pk = ?", seriesPk);
    if (!row || Number(row.num_instances) > 0) return;
    const studyPk = Number(row.study_pk);
    this.#run("DELETE FROM series WHERE pk = ?", seriesPk);
    this.#run("DELETE FROM series_sop_class WHERE series_pk = ?", seriesPk);
    this.#addToStudy(studyPk, -1, 0);
    this.#pruneStudy(studyPk);
  }

  #pruneStudy(studyPk: number): void {
    const row = this.#get("SELECT patient_pk, num_series FROM study WHERE pk = ?", studyPk);
    if (!row || Number(row.num_series) > 0) return;
    const patientPk = Number(row.patient_pk);
    this.#run("DELETE FROM study WHERE pk = ?", studyPk);
    this.#addToPatient(patientPk, -1, 0, 0);
    this.#prunePatient(patientPk);
  }

  #prunePatient(patientPk: number): void {
    this.#run("DELETE FROM patient WHERE pk = ? AND num_studies <= 0", patientPk);
  }

  #refreshTouched(): void {
    for (const pk of this.#touched) this.#refreshStudy(pk);
    this.#touched.clear();
  }

  /** Recomputes Modalities in Study and SOP Classes in Study (PS3.4 C.6.1.1.3). */
  #refreshStudy(studyPk: number): void {
    this.#run(
      `UPDATE study SET
        modalities_in_study = coalesce((SELECT group_concat(m, '\\') FROM (SELECT DISTINCT
          modality AS m FROM series WHERE study_pk = ?1 AND modality <> '' ORDER BY m)), ''),
        sop_classes_in_study = coalesce((SELECT group_concat(c, '\\') FROM (SELECT DISTINCT
          c.sop_class_uid AS c FROM series_sop_class c JOIN series s ON s.pk = c.series_pk
          WHERE s.study_pk = ?1 ORDER BY c)), '')
       WHERE pk = ?1`,
      studyPk,
    );
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
    const studyPk = this.#studyOfSeries(seriesPk);
    this.#run("DELETE FROM instance WHERE pk = ?", Number(old.pk));
    this.#addSopClass(seriesPk, String(old.sop_class_uid), -1);
    this.#addInstances(seriesPk, -1);
    this.#pruneSeries(seriesPk);
    if (studyPk !== undefined) this.#refreshStudy(studyPk);
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
      const uids = (this.#stmt(sql).all(uid) as Row[]).map((r) => String(r.uid));
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
    return (this.#stmt("SELECT * FROM deleted_instance").all() as Row[]).map((r) => ({
      sopInstanceUid: String(r.sop_instance_uid),
      seq: Number(r.seq),
      homePath: String(r.home_path),
    }));
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
    return (this.#stmt(`${INSTANCE_SELECT} WHERE i.loc_kind = 'journal'`).all() as Row[]).map(
      toStored,
    );
  }

  close(): void {
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}
