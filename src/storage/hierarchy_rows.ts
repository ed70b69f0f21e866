// The patient, study and series rows above the instances (the Patient Root hierarchy of
// PS3.4 C.3.1): found or created for each instance written, their counts kept right when an
// instance, series or study moves, pruned when they become empty, and the study's derived
// attributes recomputed. Called inside the index's write transactions (index_db.ts).
import type { InstanceRecord } from "../core/ports.ts";
import { pnSearchForms } from "../core/query/pn.ts";
import {
  PATIENT_FIELDS,
  patientKey,
  SERIES_FIELDS,
  STUDY_FIELDS,
  values,
} from "./instance_rows.ts";
import type { Row, SqlStatements } from "./sql_statements.ts";

const PATIENT_FIND = `SELECT pk, ${PATIENT_FIELDS.map(([, c]) => c).join(", ")}
  FROM patient WHERE patient_key = ?`;
const STUDY_FIND = `SELECT pk, patient_pk, num_series, num_instances,
  ${STUDY_FIELDS.map(([, c]) => c).join(", ")} FROM study WHERE study_instance_uid = ?`;
const SERIES_FIND = `SELECT pk, study_pk, num_instances,
  ${SERIES_FIELDS.map(([, c]) => c).join(", ")} FROM series WHERE series_instance_uid = ?`;

/** True when the row already holds these values in the columns `fields` name. */
function sameValues(
  row: Row,
  fields: readonly (readonly [string, string])[],
  vals: string[],
): boolean {
  return fields.every(([, column], i) => row[column] === vals[i]);
}

export class HierarchyRows {
  readonly #sql: SqlStatements;
  /** Studies whose derived attributes need a refresh at the end of the transaction. */
  readonly #touched = new Set<number>();

  constructor(sql: SqlStatements) {
    this.#sql = sql;
  }

  /**
   * The patient, study and series rows of `record`, created or updated (moved when the
   * instance now names another parent); starts a change whose touched studies are refreshed
   * by refreshTouched(). A row whose attributes are already those of `record` is not written
   * (nor its indexes), and the study is touched only when its series changed: created, moved
   * or given another modality (touch() it when its SOP classes may have changed).
   */
  resolve(record: InstanceRecord): { patientPk: number; studyPk: number; seriesPk: number } {
    this.#touched.clear();
    const patientPk = this.#resolvePatient(record);
    const studyPk = this.#resolveStudy(record, patientPk);
    const seriesPk = this.#resolveSeries(record, studyPk);
    return { patientPk, studyPk, seriesPk };
  }

  /** Marks a study for refreshTouched(). */
  touch(studyPk: number): void {
    this.#touched.add(studyPk);
  }

  #resolvePatient(record: InstanceRecord): number {
    const key = patientKey(record);
    const fields = values(record, PATIENT_FIELDS);
    const found = this.#sql.get(PATIENT_FIND, key);
    if (found && sameValues(found, PATIENT_FIELDS, fields)) return Number(found.pk);
    const name = pnSearchForms(record.patientName);
    const attrs = [...fields, name.norm, name.alt];
    if (found) {
      this.#sql.run(
        `UPDATE patient SET patient_id = ?, patient_name = ?, patient_birth_date = ?,
          patient_sex = ?, other_patient_ids = ?, patient_name_norm = ?, patient_name_alt = ?
         WHERE pk = ?`,
        ...attrs,
        Number(found.pk),
      );
      return Number(found.pk);
    }
    return this.#sql.insert(
      `INSERT INTO patient (patient_key, patient_id, patient_name, patient_birth_date,
        patient_sex, other_patient_ids, patient_name_norm, patient_name_alt)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      key,
      ...attrs,
    );
  }

  #resolveStudy(record: InstanceRecord, patientPk: number): number {
    const fields = values(record, STUDY_FIELDS);
    const found = this.#sql.get(STUDY_FIND, record.studyInstanceUid);
    if (
      found && Number(found.patient_pk) === patientPk && sameValues(found, STUDY_FIELDS, fields)
    ) return Number(found.pk);
    const referrer = pnSearchForms(record.referringPhysicianName);
    const attrs = [...fields, referrer.norm, referrer.alt];
    if (!found) {
      const pk = this.#sql.insert(
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
    this.#sql.run(
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
      this.#sql.run("UPDATE study SET patient_pk = ? WHERE pk = ?", patientPk, pk);
      this.#addToPatient(patientPk, 1, nSeries, nInstances);
      this.#prunePatient(oldPatientPk);
    }
    return pk;
  }

  #resolveSeries(record: InstanceRecord, studyPk: number): number {
    const attrs = values(record, SERIES_FIELDS);
    const found = this.#sql.get(SERIES_FIND, record.seriesInstanceUid);
    if (
      found && Number(found.study_pk) === studyPk && sameValues(found, SERIES_FIELDS, attrs)
    ) return Number(found.pk);
    if (!found) {
      const pk = this.#sql.insert(
        `INSERT INTO series (study_pk, series_instance_uid, modality, series_number,
          series_description, body_part_examined, series_date, series_time)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        studyPk,
        ...attrs,
      );
      this.#addToStudy(studyPk, 1, 0);
      this.#touched.add(studyPk);
      return pk;
    }
    const pk = Number(found.pk);
    if (String(found.modality) !== record.modality) this.#touched.add(studyPk);
    this.#sql.run(
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
      this.#touched.add(studyPk);
      this.#sql.run("UPDATE series SET study_pk = ? WHERE pk = ?", studyPk, pk);
      this.#addToStudy(studyPk, 1, n);
      this.#pruneStudy(oldStudyPk);
    }
    return pk;
  }

  /** The study row a series row belongs to. */
  studyOfSeries(seriesPk: number): number | undefined {
    const row = this.#sql.get("SELECT study_pk FROM series WHERE pk = ?", seriesPk);
    return row ? Number(row.study_pk) : undefined;
  }

  /** Counts `n` more instances in a series, its study and its patient, all three known. */
  addInstancesTo(pks: { patientPk: number; studyPk: number; seriesPk: number }, n: number): void {
    this.#sql.run(
      "UPDATE series SET num_instances = num_instances + ? WHERE pk = ?",
      n,
      pks.seriesPk,
    );
    this.#sql.run(
      "UPDATE study SET num_instances = num_instances + ? WHERE pk = ?",
      n,
      pks.studyPk,
    );
    this.#sql.run(
      "UPDATE patient SET num_instances = num_instances + ? WHERE pk = ?",
      n,
      pks.patientPk,
    );
  }

  addInstances(seriesPk: number, n: number): void {
    this.#sql.run("UPDATE series SET num_instances = num_instances + ? WHERE pk = ?", n, seriesPk);
    const studyPk = this.studyOfSeries(seriesPk);
    if (studyPk !== undefined) this.#addToStudy(studyPk, 0, n);
  }

  #addToStudy(studyPk: number, series: number, instances: number): void {
    this.#sql.run(
      "UPDATE study SET num_series = num_series + ?, num_instances = num_instances + ? WHERE pk = ?",
      series,
      instances,
      studyPk,
    );
    const row = this.#sql.get("SELECT patient_pk FROM study WHERE pk = ?", studyPk);
    if (row) this.#addToPatient(Number(row.patient_pk), 0, series, instances);
  }

  #addToPatient(patientPk: number, studies: number, series: number, instances: number): void {
    this.#sql.run(
      `UPDATE patient SET num_studies = num_studies + ?, num_series = num_series + ?,
        num_instances = num_instances + ? WHERE pk = ?`,
      studies,
      series,
      instances,
      patientPk,
    );
  }

  /**
   * Counts `n` more (or fewer) instances of a SOP class in a series; true when the series'
   * set of SOP classes changed (a class came or went), which its study's derived attributes
   * follow.
   */
  addSopClass(seriesPk: number, sopClassUid: string, n: number): boolean {
    const row = this.#sql.get(
      `INSERT INTO series_sop_class (series_pk, sop_class_uid, n) VALUES (?, ?, ?)
       ON CONFLICT (series_pk, sop_class_uid) DO UPDATE SET n = n + excluded.n RETURNING n`,
      seriesPk,
      sopClassUid,
      n,
    );
    const now = Number(row?.n ?? 0);
    if (now > 0) return now === n; // a class first counted now, or one counted before
    this.#sql.run("DELETE FROM series_sop_class WHERE series_pk = ? AND n <= 0", seriesPk);
    return true;
  }

  /** Deletes the series if empty, then its study and patient if they became empty. */
  pruneSeries(seriesPk: number): void {
    const row = this.#sql.get("SELECT study_pk, num_instances FROM series WHERE pk = ?", seriesPk);
    if (!row || Number(row.num_instances) > 0) return;
    const studyPk = Number(row.study_pk);
    this.#sql.run("DELETE FROM series WHERE pk = ?", seriesPk);
    this.#sql.run("DELETE FROM series_sop_class WHERE series_pk = ?", seriesPk);
    this.#addToStudy(studyPk, -1, 0);
    this.#pruneStudy(studyPk);
  }

  #pruneStudy(studyPk: number): void {
    const row = this.#sql.get("SELECT patient_pk, num_series FROM study WHERE pk = ?", studyPk);
    if (!row || Number(row.num_series) > 0) return;
    const patientPk = Number(row.patient_pk);
    this.#sql.run("DELETE FROM study WHERE pk = ?", studyPk);
    this.#addToPatient(patientPk, -1, 0, 0);
    this.#prunePatient(patientPk);
  }

  #prunePatient(patientPk: number): void {
    this.#sql.run("DELETE FROM patient WHERE pk = ? AND num_studies <= 0", patientPk);
  }

  /** Recomputes the derived attributes of the studies this change touched. */
  refreshTouched(): void {
    for (const pk of this.#touched) this.refreshStudy(pk);
    this.#touched.clear();
  }

  /** Recomputes Modalities in Study and SOP Classes in Study (PS3.4 C.6.1.1.3). */
  refreshStudy(studyPk: number): void {
    this.#sql.run(
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
}
