// The schema of index.sqlite and its upgrades: a new file gets the tables, an older version is
// upgraded in place, a version this build does not know is refused (reindex rebuilds it).
import { DatabaseSync } from "node:sqlite";
import { pnSearchForms } from "../core/query/pn.ts";
import type { Row } from "./sql_statements.ts";
import { installTotals } from "./totals.ts";
import { trackCache } from "./sqlite_caches.ts";

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
export const TOMBSTONE_SCHEMA = `
CREATE TABLE IF NOT EXISTS deleted_instance (
  sop_instance_uid TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  home_path TEXT NOT NULL
) WITHOUT ROWID;
`;

/**
 * A patient's studies by date: a STUDY query by a name prefix and a date range reads the
 * patients by name, then only their studies in the range (not every study of each patient).
 * Added without a schema version: an older index gets it at its next open (one pass over the
 * study table, which holds a hundredth of the instances or fewer).
 */
export const STUDY_BY_PATIENT_DATE_SCHEMA = `
CREATE INDEX IF NOT EXISTS study_patient_date_idx ON study(patient_pk, study_date);
`;

/**
 * Instances by commit seq: the DICOMweb metadata builder reads the instances committed since its
 * last pass through it, not the whole table. Added without a schema version: an older index gets
 * it at its next open (one pass over the instance table, a few seconds at a million). A new seq
 * is always the highest, so keeping it costs an append at the index's right edge per store.
 */
export const INSTANCE_BY_SEQ_SCHEMA = `
CREATE INDEX IF NOT EXISTS instance_seq_idx ON instance(seq);
`;

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

/**
 * SQLite page cache of a read-only connection, in KiB. Each connection keeps its cache (2 MB by
 * default) for good once filled, and a server holds several readers (C-FIND, DICOMweb, pages):
 * at a million instances they kept about 8 MiB after a few queries. A page read again comes
 * from the OS page cache (a pread), and the queries cost the same within the noise.
 */
export const READER_CACHE_KIB = 256;

/**
 * WAL pages after which a commit on the writer connection checkpoints (SQLite's default is
 * 1,000, about 4 MiB: every 100-300 stored objects, on the thread taking stores). The index
 * is checkpointed when the materializer has caught up (materializer.ts), in a quiet moment;
 * this bounds the WAL, at about 64 MiB, under ingest that never pauses.
 */
export const WAL_AUTOCHECKPOINT_PAGES = 16384;

/** A connection to an index file, waiting up to 10 s for a lock. */
export function openDatabase(path: string, readOnly: boolean): DatabaseSync {
  const db = trackCache(new DatabaseSync(path, { readOnly }));
  db.exec("PRAGMA busy_timeout = 10000");
  if (readOnly) db.exec(`PRAGMA cache_size = -${READER_CACHE_KIB}`);
  return db;
}

/**
 * Opens the writer connection of the index at `path` (WAL), creating or upgrading the schema;
 * throws on an unknown schema version.
 */
export function openIndexDatabase(path: string): DatabaseSync {
  const db = openDatabase(path, false);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
  db.exec(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
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
  db.exec(STUDY_BY_PATIENT_DATE_SCHEMA);
  db.exec(INSTANCE_BY_SEQ_SCHEMA);
  // Kept totals (totals.ts), also without a schema version: filled once when missing.
  installTotals(db);
  return db;
}
