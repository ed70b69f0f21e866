// Query/Retrieve information models, levels and the keys the index holds (PS3.4 C.6.1, C.6.2).
// Each index key has a field name: the one word the storage layer maps to its column.

/** Q/R levels (0008,0052), top to bottom. */
export type Level = "PATIENT" | "STUDY" | "SERIES" | "IMAGE";
/** Patient Root or Study Root information model (PS3.4 C.6.1, C.6.2). */
export type Model = "PATIENT" | "STUDY";
/** The index tables, top to bottom. */
export type Entity = "patient" | "study" | "series" | "instance";

export const QR_SOP_CLASSES = {
  PatientRootFind: "1.2.840.10008.5.1.4.1.2.1.1",
  PatientRootMove: "1.2.840.10008.5.1.4.1.2.1.2",
  PatientRootGet: "1.2.840.10008.5.1.4.1.2.1.3",
  StudyRootFind: "1.2.840.10008.5.1.4.1.2.2.1",
  StudyRootMove: "1.2.840.10008.5.1.4.1.2.2.2",
  StudyRootGet: "1.2.840.10008.5.1.4.1.2.2.3",
} as const;

/** The information model of a Q/R SOP Class (FIND, MOVE or GET); undefined for others. */
export function modelOf(sopClassUid: string): Model | undefined {
  if (sopClassUid.startsWith("1.2.840.10008.5.1.4.1.2.1.")) return "PATIENT";
  if (sopClassUid.startsWith("1.2.840.10008.5.1.4.1.2.2.")) return "STUDY";
  return undefined;
}

export const LEVELS: readonly Level[] = ["PATIENT", "STUDY", "SERIES", "IMAGE"];

/** The levels of a model, top first. */
export function levelsOf(model: Model): readonly Level[] {
  return model === "PATIENT" ? LEVELS : LEVELS.slice(1);
}

const ENTITY_RANK: Record<Entity, number> = { patient: 0, study: 1, series: 2, instance: 3 };
const LEVEL_ENTITY: Record<Level, Entity> = {
  PATIENT: "patient",
  STUDY: "study",
  SERIES: "series",
  IMAGE: "instance",
};

/** True when attributes of `entity` are known for each match at `level` (it or above it). */
export function entityVisibleAt(entity: Entity, level: Level): boolean {
  return ENTITY_RANK[entity] <= ENTITY_RANK[LEVEL_ENTITY[level]];
}

export interface IndexKey {
  tag: number;
  vr: string;
  entity: Entity;
  /** The field name the storage layer maps to a column. */
  field: string;
  /** Computed by the index (counts, Modalities/SOP Classes in Study). */
  derived?: boolean;
  /** Held with several values, backslash-separated. */
  multiValued?: boolean;
}

/** Unique keys (PS3.4 C.6.1.1, C.6.2.1). */
export const UNIQUE_KEY: Record<Level, number> = {
  PATIENT: 0x00100020, // Patient ID
  STUDY: 0x0020000d, // Study Instance UID
  SERIES: 0x0020000e, // Series Instance UID
  IMAGE: 0x00080018, // SOP Instance UID
};

const k = (
  tag: number,
  vr: string,
  entity: Entity,
  field: string,
  extra: Partial<IndexKey> = {},
): IndexKey => ({ tag, vr, entity, field, ...extra });

/** Every attribute the index holds, by tag. */
export const INDEX_KEYS: ReadonlyMap<number, IndexKey> = new Map(
  [
    // Patient (PS3.4 Table C.6-1, C.6-5)
    k(0x00100010, "PN", "patient", "patientName"),
    k(0x00100020, "LO", "patient", "patientId"),
    k(0x00100030, "DA", "patient", "patientBirthDate"),
    k(0x00100040, "CS", "patient", "patientSex"),
    k(0x00101000, "LO", "patient", "otherPatientIds", { multiValued: true }),
    k(0x00201200, "IS", "patient", "numberOfPatientRelatedStudies", { derived: true }),
    k(0x00201202, "IS", "patient", "numberOfPatientRelatedSeries", { derived: true }),
    k(0x00201204, "IS", "patient", "numberOfPatientRelatedInstances", { derived: true }),
    // Study (Table C.6-2, C.6-5)
    k(0x0020000d, "UI", "study", "studyInstanceUid"),
    k(0x00080020, "DA", "study", "studyDate"),
    k(0x00080030, "TM", "study", "studyTime"),
    k(0x00080050, "SH", "study", "accessionNumber"),
    k(0x00200010, "SH", "study", "studyId"),
    k(0x00081030, "LO", "study", "studyDescription"),
    k(0x00080090, "PN", "study", "referringPhysicianName"),
    k(0x00080061, "CS", "study", "modalitiesInStudy", { derived: true, multiValued: true }),
    k(0x00080062, "UI", "study", "sopClassesInStudy", { derived: true, multiValued: true }),
    k(0x00201206, "IS", "study", "numberOfStudyRelatedSeries", { derived: true }),
    k(0x00201208, "IS", "study", "numberOfStudyRelatedInstances", { derived: true }),
    // Series (Table C.6-3)
    k(0x0020000e, "UI", "series", "seriesInstanceUid"),
    k(0x00080060, "CS", "series", "modality"),
    k(0x00200011, "IS", "series", "seriesNumber"),
    k(0x0008103e, "LO", "series", "seriesDescription"),
    k(0x00180015, "CS", "series", "bodyPartExamined"),
    k(0x00080021, "DA", "series", "seriesDate"),
    k(0x00080031, "TM", "series", "seriesTime"),
    k(0x00201209, "IS", "series", "numberOfSeriesRelatedInstances", { derived: true }),
    // Composite object instance (Table C.6-4)
    k(0x00080018, "UI", "instance", "sopInstanceUid"),
    k(0x00080016, "UI", "instance", "sopClassUid"),
    k(0x00200013, "IS", "instance", "instanceNumber"),
    k(0x00083002, "UI", "instance", "availableTransferSyntaxUid"),
  ].map((key) => [key.tag, key]),
);

/** Pairs of date and time keys that combined date-time matching joins (PS3.4 C.2.2.2.5.4). */
export const DATE_TIME_PAIRS: readonly (readonly [number, number])[] = [
  [0x00080020, 0x00080030], // Study Date, Study Time
  [0x00080021, 0x00080031], // Series Date, Series Time
  [0x00080022, 0x00080032], // Acquisition Date, Time
  [0x00080023, 0x00080033], // Content Date, Time
];

/** Tags every response carries whatever was asked. */
export const SPECIFIC_CHARACTER_SET = 0x00080005;
export const QUERY_RETRIEVE_LEVEL = 0x00080052;
export const RETRIEVE_AE_TITLE = 0x00080054;
export const INSTANCE_AVAILABILITY = 0x00080056;
export const TIMEZONE_OFFSET_FROM_UTC = 0x00080201;
