// The data of the scale benchmark: a store of N instances (100 per study, so 10,000 studies for
// 1,000,000) with realistic keys, built once into a folder that later runs reuse.
//
// - Patients: two studies each on average; names in five scripts (plain Latin, accented Latin,
//   Greek, Cyrillic, Japanese with its ideographic and phonetic groups), all in ISO_IR 192.
// - Studies: Study Dates spread over ten years (2016-2025), five modalities; an even study
//   holds one series of 100 instances, an odd one two series of 50.
// - Every instance goes through IndexDb.upsertInstance (the code each C-STORE commits with)
//   and gets a small Part 10 file at its home path, so `reindex` has the whole store to read.
//   Only the network and the journal are skipped.
import { encodeDataset, encodingOf } from "../../src/core/dicom/dataset.ts";
import { encodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import type { InstanceRecord } from "../../src/core/ports.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import { recordElements } from "./find_bench.ts";

export const PER_STUDY = 100;
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const UTF8 = "ISO_IR 192";
export const SCALE_UID_ROOT = "1.2.826.0.1.3680043.9.7433.19";
export const MODALITIES = ["CT", "MR", "US", "CR", "MG"] as const;
export const SOP_CLASS: Record<string, string> = {
  CT: "1.2.840.10008.5.1.4.1.1.2",
  MR: "1.2.840.10008.5.1.4.1.1.4",
  US: "1.2.840.10008.5.1.4.1.1.6.1",
  CR: "1.2.840.10008.5.1.4.1.1.1",
  MG: "1.2.840.10008.5.1.4.1.1.1.2",
};
const FIRST_DAY = Date.UTC(2016, 0, 1);
const TEN_YEARS_DAYS = 3653;

/** [family names, given names] per script; a name is family^given (Japanese: three groups). */
const SCRIPTS: [string[], string[]][] = [
  [
    "SMITH JOHNSON BROWN JONES GARCIA MILLER DAVIS WILSON ANDERSON TAYLOR MOORE MARTIN LEE"
      .split(" "),
    "JAMES MARY ROBERT LINDA DAVID SUSAN JOSEPH SARAH ANNA PAUL".split(" "),
  ],
  [
    "Müller Schäfer Jürgens Ñúñez Gonçalves Søndergaard Dvořák Łukasiewicz Åberg Özdemir"
      .split(" "),
    "Jürgen Zoë Chloé Søren François Agnès Józef Mónica Björn Renée".split(" "),
  ],
  [
    "Παπαδόπουλος Γεωργίου Νικολάου Οικονόμου Αλεξίου Δημητρίου Κωνσταντίνου".split(" "),
    "Γιώργος Μαρία Ελένη Νίκος Δημήτρης Σοφία Κώστας".split(" "),
  ],
  [
    "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов".split(" "),
    "Сергей Анна Ольга Дмитрий Елена Андрей Наталья".split(" "),
  ],
  [
    "Yamada=山田=やまだ Tanaka=田中=たなか Suzuki=鈴木=すずき Sato=佐藤=さとう Kato=加藤=かとう"
      .split(" "),
    "Tarou=太郎=たろう Hanako=花子=はなこ Ichiro=一郎=いちろう Yuki=雪=ゆき".split(" "),
  ],
];

/** Patient's Name of patient p: family and given from the script p % 5. */
export function patientName(p: number): string {
  const [families, givens] = SCRIPTS[p % SCRIPTS.length];
  const q = Math.floor(p / SCRIPTS.length);
  const family = families[q % families.length].split("=");
  const given = givens[Math.floor(q / families.length) % givens.length].split("=");
  return family.map((f, g) => `${f}^${given[g]}`).join("=");
}

export const patientIdOf = (p: number) => `SP${String(p).padStart(7, "0")}`;
export const studyUidOf = (s: number) => `${SCALE_UID_ROOT}.${s + 1}`;
export const seriesUidOf = (s: number, k: number) => `${SCALE_UID_ROOT}.${s + 1}.${k + 1}`;
/** Series in study s: one of 100 instances (even s) or two of 50 (odd s). */
export const seriesCountOf = (s: number) => (s % 2 ? 2 : 1);

/** The shape of a store of `studies` studies that the queries need to know. */
export interface ScaleShape {
  studies: number;
  patients: number;
}

export const shapeOf = (studies: number): ScaleShape => ({
  studies,
  patients: Math.max(1, Math.floor(studies / 2)),
});

/** The patient of study s: patient p has studies p and p + patients (different dates). */
export const patientOf = (shape: ScaleShape, s: number) => s % shape.patients;

/** Study Date of study s, YYYYMMDD, over ten years. */
export function studyDateOf(s: number): string {
  const day = new Date(FIRST_DAY + ((s * 7919) % TEN_YEARS_DAYS) * 86_400_000);
  return day.toISOString().slice(0, 10).replaceAll("-", "");
}

export const modalityOf = (s: number) => MODALITIES[s % MODALITIES.length];

/** The attributes of instance i (0..99) of study s. */
export function scaleRecord(shape: ScaleShape, s: number, i: number): InstanceRecord {
  const p = patientOf(shape, s);
  const perSeries = PER_STUDY / seriesCountOf(s);
  const k = Math.floor(i / perSeries);
  const modality = modalityOf(s);
  const date = studyDateOf(s);
  return {
    patientId: patientIdOf(p),
    patientName: patientName(p),
    patientBirthDate: `19${String(30 + (p % 70)).padStart(2, "0")}${
      String(1 + (p % 12)).padStart(2, "0")
    }15`,
    patientSex: p % 2 ? "F" : "M",
    otherPatientIds: "",
    studyInstanceUid: studyUidOf(s),
    studyDate: date,
    studyTime: `${String(7 + (s % 12)).padStart(2, "0")}${String((s * 7) % 60).padStart(2, "0")}00`,
    accessionNumber: `SA${String(s).padStart(8, "0")}`,
    studyId: String(s % 100_000),
    studyDescription: `${modality} EXAM ${s % 23}`,
    referringPhysicianName: patientName(p + 7),
    seriesInstanceUid: seriesUidOf(s, k),
    modality,
    seriesNumber: String(k + 1),
    seriesDescription: `${modality} SERIES ${k + 1}`,
    bodyPartExamined: ["CHEST", "HEAD", "ABDOMEN", "BREAST", "KNEE"][s % 5],
    seriesDate: date,
    seriesTime: "080000",
    sopInstanceUid: `${seriesUidOf(s, k)}.${i - k * perSeries + 1}`,
    sopClassUid: SOP_CLASS[modality],
    instanceNumber: String(i - k * perSeries + 1),
    transferSyntaxUid: EXPLICIT_LE,
    specificCharacterSet: UTF8,
  };
}

/** A small Part 10 file of the record (no pixel data): what reindex reads back. */
export function part10Of(r: InstanceRecord): Uint8Array {
  const elements = recordElements(r);
  const meta = encodeFileMetaInformation({
    sopClassUid: r.sopClassUid,
    sopInstanceUid: r.sopInstanceUid,
    transferSyntaxUid: EXPLICIT_LE,
    implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.1",
    implementationVersionName: "SCALE_BENCH",
    sourceAeTitle: "SCALEBENCH",
  });
  const dataset = encodeDataset(elements, encodingOf(EXPLICIT_LE));
  const out = new Uint8Array(meta.length + dataset.length);
  out.set(meta);
  out.set(dataset, meta.length);
  return out;
}

export interface LoadOptions {
  /** Study numbers [first, first + count). */
  first: number;
  count: number;
  /** The store's shape (patients) the records take their keys from. */
  shape: ScaleShape;
  /** Received time of every instance (ISO 8601): retention reads it. */
  receivedAt: (s: number) => string;
  /** Called after every 100 studies with the instances loaded so far. */
  onProgress?: (instances: number) => void;
}

/** Indexes studies through IndexDb.upsertInstance and writes their home files. */
export function loadStudies(storage: string, o: LoadOptions): number {
  Deno.mkdirSync(storage, { recursive: true });
  const db = IndexDb.open(`${storage}/index.sqlite`);
  let loaded = 0;
  try {
    let seq = Date.now() * 1024;
    for (let s = o.first; s < o.first + o.count; s++) {
      const receivedAt = o.receivedAt(s);
      // One transaction per study (each upsert a savepoint in it), as a reindex batches.
      db.transaction(() => {
        for (let i = 0; i < PER_STUDY; i++) {
          const record = scaleRecord(o.shape, s, i);
          const dir = `${record.studyInstanceUid}/${record.seriesInstanceUid}`;
          const path = `${dir}/${record.sopInstanceUid}.dcm`;
          if (i === 0 || record.instanceNumber === "1") {
            Deno.mkdirSync(`${storage}/${dir}`, { recursive: true });
          }
          const bytes = part10Of(record);
          Deno.writeFileSync(`${storage}/${path}`, bytes);
          db.upsertInstance(record, { kind: "home", path, offset: 0, length: bytes.length }, {
            homePath: path,
            size: bytes.length,
            receivedAt,
            callingAe: "SCALEBENCH",
            seq: ++seq,
          });
          loaded++;
        }
      });
      if ((s - o.first + 1) % 100 === 0) o.onProgress?.(loaded);
    }
  } finally {
    db.close();
  }
  return loaded;
}
