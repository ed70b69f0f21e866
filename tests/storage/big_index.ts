// An index of 100,000 instances written straight into index.sqlite in one transaction (half a
// second instead of minutes of C-STOREs): 2,000 patients x 5 studies x 2 series x 5 instances.
import { DatabaseSync } from "node:sqlite";
import { pnSearchForms } from "../../src/core/query/pn.ts";
import { IndexDb } from "../../src/storage/index_db.ts";

export const BIG = { patients: 2000, studiesPerPatient: 5, seriesPerStudy: 2, perSeries: 5 };
export const MODALITIES = ["CT", "MR", "US", "CR", "DX"];

/** Study number n (1-based): its date, spread over ten years without order. */
export function studyDate(n: number): string {
  const d = new Date(Date.UTC(2015, 0, 1) + ((n * 7919) % 3650) * 86_400_000);
  return d.toISOString().slice(0, 10).replaceAll("-", "");
}

export function patientName(p: number): string {
  return `Fam${p}^Given${p % 37}`;
}

/** Creates `dir`/index.sqlite with the schema of IndexDb and fills it. */
export function buildBigIndex(dir: string): IndexDb {
  const index = IndexDb.open(`${dir}/index.sqlite`);
  const db = new DatabaseSync(`${dir}/index.sqlite`);
  try {
    db.exec("BEGIN");
    const patient = db.prepare(
      `INSERT INTO patient (pk, patient_key, patient_id, patient_name, patient_birth_date,
        patient_sex, other_patient_ids, num_studies, num_series, num_instances,
        patient_name_norm, patient_name_alt) VALUES (?, ?, ?, ?, '19700101', 'M', '', ?, ?, ?, ?, '')`,
    );
    const study = db.prepare(
      `INSERT INTO study (pk, patient_pk, study_instance_uid, study_date, study_time,
        accession_number, study_id, study_description, referring_physician_name,
        modalities_in_study, num_series, num_instances)
       VALUES (?, ?, ?, ?, '101010', ?, '1', 'Study', '', ?, ?, ?)`,
    );
    const series = db.prepare(
      `INSERT INTO series (pk, study_pk, series_instance_uid, modality, series_number,
        series_description, body_part_examined, series_date, series_time, num_instances)
       VALUES (?, ?, ?, ?, ?, 'Series', '', ?, '', ?)`,
    );
    const instance = db.prepare(
      `INSERT INTO instance (series_pk, sop_instance_uid, sop_class_uid, instance_number,
        transfer_syntax_uid, specific_character_set, loc_kind, loc_path, loc_offset, loc_length,
        home_path, size, received_at, calling_ae, seq)
       VALUES (?, ?, '1.2.840.10008.5.1.4.1.1.2', ?, '1.2.840.10008.1.2.1', '', 'home', 'x', 0,
        100, 'x', 100, '2024-01-01T00:00:00Z', 'MODALITY', ?)`,
    );
    const { patients, studiesPerPatient, seriesPerStudy, perSeries } = BIG;
    const perStudy = seriesPerStudy * perSeries;
    let seriesPk = 0;
    let seq = 0;
    for (let p = 1; p <= patients; p++) {
      const name = patientName(p);
      patient.run(
        p,
        `I:P${p}`,
        `P${p}`,
        name,
        studiesPerPatient,
        studiesPerPatient * seriesPerStudy,
        studiesPerPatient * perStudy,
        pnSearchForms(name).norm,
      );
      for (let k = 0; k < studiesPerPatient; k++) {
        const n = (p - 1) * studiesPerPatient + k + 1;
        const modality = MODALITIES[n % MODALITIES.length];
        study.run(n, p, `1.2.9.${n}`, studyDate(n), `A${n}`, modality, seriesPerStudy, perStudy);
        for (let r = 1; r <= seriesPerStudy; r++) {
          seriesPk++;
          series.run(seriesPk, n, `1.2.9.${n}.${r}`, modality, String(r), studyDate(n), perSeries);
          for (let i = 1; i <= perSeries; i++) {
            instance.run(seriesPk, `1.2.9.${n}.${r}.${i}`, String(i), ++seq);
          }
        }
      }
    }
    db.exec("COMMIT");
  } finally {
    db.close();
  }
  return index;
}
