// Instance rows of index.sqlite: which attribute of an InstanceRecord lives in which column of
// the patient, study, series and instance tables, and a joined row read back as a StoredInstance.
import type { InstanceLocation, InstanceRecord } from "../core/ports.ts";
import type { Row } from "./sql_statements.ts";

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

export const PATIENT_FIELDS = [
  ["patientId", "patient_id"],
  ["patientName", "patient_name"],
  ["patientBirthDate", "patient_birth_date"],
  ["patientSex", "patient_sex"],
  ["otherPatientIds", "other_patient_ids"],
] as const;
export const STUDY_FIELDS = [
  ["studyInstanceUid", "study_instance_uid"],
  ["studyDate", "study_date"],
  ["studyTime", "study_time"],
  ["accessionNumber", "accession_number"],
  ["studyId", "study_id"],
  ["studyDescription", "study_description"],
  ["referringPhysicianName", "referring_physician_name"],
] as const;
export const SERIES_FIELDS = [
  ["seriesInstanceUid", "series_instance_uid"],
  ["modality", "modality"],
  ["seriesNumber", "series_number"],
  ["seriesDescription", "series_description"],
  ["bodyPartExamined", "body_part_examined"],
  ["seriesDate", "series_date"],
  ["seriesTime", "series_time"],
] as const;
export const INSTANCE_FIELDS = [
  ["sopInstanceUid", "sop_instance_uid"],
  ["sopClassUid", "sop_class_uid"],
  ["instanceNumber", "instance_number"],
  ["transferSyntaxUid", "transfer_syntax_uid"],
  ["specificCharacterSet", "specific_character_set"],
] as const;
const ALL_FIELDS = [...PATIENT_FIELDS, ...STUDY_FIELDS, ...SERIES_FIELDS, ...INSTANCE_FIELDS];

/** The attributes of `record` named by `fields`, as column values. */
export function values(record: InstanceRecord, fields: readonly (readonly [string, string])[]) {
  return fields.map(([key]) => String(record[key as keyof InstanceRecord] ?? ""));
}

/** Patients are told apart by Patient ID, or by name when the ID is empty. */
export function patientKey(record: InstanceRecord): string {
  return record.patientId !== "" ? `I:${record.patientId}` : `N:${record.patientName}`;
}

/** An instance row joined with its series, study and patient rows (read with toStored). */
export const INSTANCE_SELECT = `SELECT i.*, se.series_instance_uid, se.modality, se.series_number,
  se.series_description, se.body_part_examined, se.series_date, se.series_time,
  st.study_instance_uid, st.study_date, st.study_time, st.accession_number, st.study_id,
  st.study_description, st.referring_physician_name, p.patient_id, p.patient_name,
  p.patient_birth_date, p.patient_sex, p.other_patient_ids
  FROM instance i JOIN series se ON se.pk = i.series_pk JOIN study st ON st.pk = se.study_pk
  JOIN patient p ON p.pk = st.patient_pk`;

export function toStored(row: Row): StoredInstance {
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
