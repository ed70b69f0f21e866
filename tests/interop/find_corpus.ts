// The C-FIND interop corpus: six patients, seven studies, twelve instances with known
// attributes, written as Part 10 files (Explicit VR LE) in the character set each patient's
// modality used (ISO_IR 100, ISO_IR 192 or none). Tests store it first, then query it.
import {
  type DataElement,
  decodeDataset,
  encodeDataset,
  encodingOf,
  textElement,
  textOf,
} from "../../src/core/dicom/dataset.ts";
import {
  decodeFileMetaInformation,
  encodeFileMetaInformation,
} from "../../src/core/dicom/part10.ts";
import { run } from "../helpers/server.ts";

export const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const SOP_CLASS: Record<string, string> = {
  CT: "1.2.840.10008.5.1.4.1.1.2",
  MR: "1.2.840.10008.5.1.4.1.1.4",
  US: "1.2.840.10008.5.1.4.1.1.6.1",
  MG: "1.2.840.10008.5.1.4.1.1.1.2",
  SR: "1.2.840.10008.5.1.4.1.1.88.11",
};

export interface PatientSpec {
  id: string;
  name: string;
  birth: string;
  sex: string;
  charset: string;
}

export const PATIENTS = {
  doe: { id: "PID-DOE", name: "Doe^John", birth: "19700101", sex: "M", charset: "ISO_IR 100" },
  jane: { id: "PID-JANE", name: "Doe^Jane^Q", birth: "19800202", sex: "F", charset: "ISO_IR 100" },
  muller: {
    id: "PID-MUL",
    name: "Müller^Jürgen",
    birth: "19651224",
    sex: "M",
    charset: "ISO_IR 100",
  },
  soren: {
    id: "PID-SOR",
    name: "Østergård^Søren",
    birth: "19900309",
    sex: "M",
    charset: "ISO_IR 192",
  },
  yamada: {
    id: "PID-YAM",
    name: "Yamada^Tarou=山田^太郎=やまだ^たろう",
    birth: "19751111",
    sex: "M",
    charset: "ISO_IR 192",
  },
  smith: { id: "PID-SMI", name: "smith^anna", birth: "19550505", sex: "F", charset: "" },
} satisfies Record<string, PatientSpec>;

export type PatientLabel = keyof typeof PATIENTS;

interface SeriesSpec {
  label: string;
  modality: string;
  number: string;
  description: string;
  rows: number;
  instances: number;
}

interface StudySpec {
  label: string;
  patient: PatientLabel;
  date: string;
  time: string;
  accession: string;
  description: string;
  referrer: string;
  series: SeriesSpec[];
}

const s = (
  label: string,
  modality: string,
  number: string,
  description: string,
  rows: number,
  instances: number,
): SeriesSpec => ({ label, modality, number, description, rows, instances });

export const STUDIES: StudySpec[] = [
  {
    label: "s1",
    patient: "doe",
    date: "20240110",
    time: "083000",
    accession: "ACC-001",
    description: "CT HEAD",
    referrer: "Ref^One",
    series: [s("s1ct", "CT", "1", "AXIAL 5mm", 512, 3), s("s1sr", "SR", "2", "REPORT", 0, 1)],
  },
  {
    label: "s2",
    patient: "doe",
    date: "20240120",
    time: "140000",
    accession: "ACC-002",
    description: "MR KNEE",
    referrer: "Ref^Two",
    series: [s("s2mr", "MR", "1", "T1 SAG", 256, 2)],
  },
  {
    label: "s3",
    patient: "jane",
    date: "20240131",
    time: "235959",
    accession: "ACC-003",
    description: "CT CHEST",
    referrer: "Ref^One",
    series: [s("s3ct", "CT", "1", "AXIAL 1mm", 512, 1)],
  },
  {
    label: "s4",
    patient: "muller",
    date: "20231231",
    time: "120000",
    accession: "XB-004",
    description: "US ABDOMEN",
    referrer: "",
    series: [s("s4us", "US", "1", "ABDOMEN", 480, 1)],
  },
  {
    label: "s5",
    patient: "soren",
    date: "20240201",
    time: "090000",
    accession: "XB-005",
    description: "MR HEAD",
    referrer: "",
    series: [s("s5mr", "MR", "3", "FLAIR", 256, 1)],
  },
  {
    label: "s6",
    patient: "yamada",
    date: "20240215",
    time: "101500",
    accession: "XB-006",
    description: "CT",
    referrer: "",
    series: [s("s6ct", "CT", "1", "SCOUT", 512, 1)],
  },
  {
    label: "s7",
    patient: "smith",
    date: "20240110",
    time: "170000",
    accession: "XB-007",
    description: "MAMMO",
    referrer: "",
    series: [s("s7mg", "MG", "1", "L CC", 4096, 1)],
  },
];

/** The Requested Procedure ID in the Request Attributes Sequence of instance s7mg-1. */
export const REQUESTED_PROCEDURE_ID = "RP-7";

export interface CorpusInstance {
  label: string;
  study: string;
  series: string;
  studyLabel: string;
  seriesLabel: string;
  patient: PatientLabel;
  sopInstanceUid: string;
  sopClassUid: string;
  path: string;
}

export interface FindCorpus {
  dir: string;
  instances: CorpusInstance[];
  /** Study, series or instance UID by label ("s1", "s1ct", "s1ct-2"). */
  uid(label: string): string;
  /** Labels -> UIDs, sorted. */
  uids(...labels: string[]): string[];
  /** The label of a UID (the value itself when it is not one of the corpus UIDs). */
  label(uid: string): string;
}

let counter = 0;

/** Writes the corpus into `dir` (one file per instance). */
export async function makeFindCorpus(dir: string): Promise<FindCorpus> {
  const root = `1.2.826.0.1.3680043.9.7433.3.${Date.now() % 1e9}.${++counter}`;
  const byLabel = new Map<string, string>();
  let n = 0;
  const uidFor = (label: string) => {
    let u = byLabel.get(label);
    if (!u) byLabel.set(label, u = `${root}.${++n}`);
    return u;
  };
  const instances: CorpusInstance[] = [];
  for (const study of STUDIES) {
    const p: PatientSpec = PATIENTS[study.patient];
    for (const series of study.series) {
      for (let k = 1; k <= series.instances; k++) {
        const label = `${series.label}-${k}`;
        const sop = uidFor(label);
        const sopClassUid = SOP_CLASS[series.modality];
        const t = (tag: number, vr: string, text: string) => {
          const el = textElement(tag, vr, text, p.charset);
          if (!el) throw new Error(`${text} does not fit ${p.charset}`);
          return el;
        };
        const elements: DataElement[] = [
          t(0x00080016, "UI", sopClassUid),
          t(0x00080018, "UI", sop),
          t(0x00080020, "DA", study.date),
          t(0x00080023, "DA", study.date),
          t(0x00080030, "TM", study.time),
          t(0x00080050, "SH", study.accession),
          t(0x00080060, "CS", series.modality),
          t(0x00080080, "LO", "Test Clinic"),
          t(0x00080090, "PN", study.referrer),
          t(0x00081030, "LO", study.description),
          t(0x0008103e, "LO", series.description),
          t(0x00100010, "PN", p.name),
          t(0x00100020, "LO", p.id),
          t(0x00100030, "DA", p.birth),
          t(0x00100040, "CS", p.sex),
          t(0x0020000d, "UI", uidFor(study.label)),
          t(0x0020000e, "UI", uidFor(series.label)),
          t(0x00200010, "SH", study.label.toUpperCase()),
          t(0x00200011, "IS", series.number),
          t(0x00200013, "IS", String(k)),
        ];
        if (p.charset) elements.push(t(0x00080005, "CS", p.charset));
        if (series.rows) {
          const v = new Uint8Array([series.rows & 0xff, series.rows >> 8]);
          elements.push({ tag: 0x00280010, vr: "US", value: v }, {
            tag: 0x00280011,
            vr: "US",
            value: v,
          });
        }
        if (label === "s7mg-1") {
          elements.push({
            tag: 0x00400275,
            vr: "SQ",
            value: new Uint8Array(0),
            items: [[t(0x00401001, "SH", REQUESTED_PROCEDURE_ID)]],
          });
        }
        const meta = encodeFileMetaInformation({
          sopClassUid,
          sopInstanceUid: sop,
          transferSyntaxUid: EXPLICIT_LE,
          implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.1",
          implementationVersionName: "FINDTEST",
        });
        const dataset = encodeDataset(elements, encodingOf(EXPLICIT_LE));
        const path = `${dir}/${label}.dcm`;
        await Deno.writeFile(path, new Uint8Array([...meta, ...dataset]));
        instances.push({
          label,
          study: uidFor(study.label),
          series: uidFor(series.label),
          studyLabel: study.label,
          seriesLabel: series.label,
          patient: study.patient,
          sopInstanceUid: sop,
          sopClassUid,
          path,
        });
      }
    }
  }
  const uid = (label: string) => {
    const u = byLabel.get(label);
    if (!u) throw new Error(`no UID labelled ${label}`);
    return u;
  };
  const labels = new Map([...byLabel].map(([l, u]) => [u, l]));
  return {
    dir,
    instances,
    uid,
    uids: (...list) => list.map(uid).sort(),
    label: (u) => labels.get(u) ?? u,
  };
}

/** Sends files with storescu (one association); throws with its output on failure. */
export async function storeFiles(port: number, calledAe: string, files: string[]): Promise<void> {
  const r = await run("storescu", [
    "-aet",
    "FINDTEST",
    "-aec",
    calledAe,
    "127.0.0.1",
    String(port),
    ...files,
  ]);
  if (r.code !== 0 || /^E: /m.test(r.stderr)) throw new Error(`storescu failed: ${r.stderr}`);
}

export interface FindResult {
  /** Response identifiers in arrival order. */
  responses: DataElement[][];
  /** Final status. */
  status: number;
  errorComment: string;
  /** Pending statuses seen. */
  pending: number[];
}

/**
 * Runs findscu (-S Study Root or -P Patient Root) with keys, plus an optional query file,
 * and reads back what DCMTK received: the extracted responses and the final status.
 */
export async function findscu(
  port: number,
  calledAe: string,
  model: "S" | "P",
  keys: string[],
  opts: { queryFile?: string; cancelAfter?: number } = {},
): Promise<FindResult> {
  const out = await Deno.makeTempDir({ prefix: "minipacs-findscu-" });
  try {
    const args = ["-d", `-${model}`, "-aet", "FINDTEST", "-aec", calledAe, "-X", "-od", out];
    if (opts.cancelAfter) args.push("--cancel", String(opts.cancelAfter));
    for (const k of keys) args.push("-k", k);
    args.push("127.0.0.1", String(port));
    if (opts.queryFile) args.push(opts.queryFile);
    const r = await run("findscu", args);
    const log = r.stdout + r.stderr;
    const statuses = [...log.matchAll(/DIMSE Status\s+:\s+0x([0-9a-f]{4})/gi)].map((m) =>
      parseInt(m[1], 16)
    );
    if (statuses.length === 0) throw new Error(`findscu got no response:\n${log.slice(-3000)}`);
    const files = [...Deno.readDirSync(out)].map((e) => e.name).filter((n) => n.endsWith(".dcm"))
      .sort();
    const responses = files.map((name) => {
      const bytes = Deno.readFileSync(`${out}/${name}`);
      const { datasetOffset } = decodeFileMetaInformation(bytes);
      return decodeDataset(bytes.subarray(datasetOffset), encodingOf(EXPLICIT_LE));
    });
    return {
      responses,
      status: statuses.at(-1)!,
      pending: statuses.slice(0, -1),
      errorComment: /ErrorComment/.test(log)
        ? (/\(0000,0902\) LO \[([^\]]*)\]/.exec(log)?.[1] ?? "").trim()
        : "",
    };
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

/** The text of a tag in a response, decoded with the response's own character set. */
export function valueOf(response: DataElement[], tag: number): string | undefined {
  const el = response.find((e) => e.tag === tag);
  if (!el) return undefined;
  const cs = response.find((e) => e.tag === 0x00080005);
  return textOf(el, cs ? textOf(cs, "") : "");
}

/** One tag's values across responses, sorted. */
export function valuesOf(result: FindResult, tag: number): string[] {
  return result.responses.map((r) => valueOf(r, tag) ?? "").sort();
}

/** Writes a query file (Explicit VR LE Part 10) in a character set, for values argv cannot carry. */
export async function queryFile(
  path: string,
  charset: string,
  keys: [tag: number, vr: string, text: string][],
): Promise<string> {
  const elements = keys.map(([tag, vr, text]) => {
    const el = textElement(tag, vr, text, charset);
    if (!el) throw new Error(`${text} does not fit ${charset}`);
    return el;
  });
  if (charset) elements.push(textElement(0x00080005, "CS", charset, "")!);
  const meta = encodeFileMetaInformation({
    sopClassUid: "1.2.840.10008.5.1.4.1.2.2.1",
    sopInstanceUid: "1.2.3",
    transferSyntaxUid: EXPLICIT_LE,
    implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.1",
    implementationVersionName: "FINDTEST",
  });
  await Deno.writeFile(
    path,
    new Uint8Array([...meta, ...encodeDataset(elements, encodingOf(EXPLICIT_LE))]),
  );
  return path;
}

export const TAG = {
  SpecificCharacterSet: 0x00080005,
  SOPInstanceUID: 0x00080018,
  QueryRetrieveLevel: 0x00080052,
  RetrieveAETitle: 0x00080054,
  ModalitiesInStudy: 0x00080061,
  PatientName: 0x00100010,
  PatientID: 0x00100020,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  NumberOfStudyRelatedSeries: 0x00201206,
  NumberOfStudyRelatedInstances: 0x00201208,
  NumberOfSeriesRelatedInstances: 0x00201209,
  Rows: 0x00280010,
} as const;

/** One query and the UID set the standard says it matches in the corpus. */
export interface FindCase {
  name: string;
  model: "S" | "P";
  keys(c: FindCorpus): string[];
  /** Written to a query file in this character set (for values argv cannot carry). */
  file?: { charset: string; keys: [tag: number, vr: string, text: string][] };
  /** The tag whose values are compared. */
  tag: number;
  /** The expected values: corpus labels turned into UIDs, or literal values. */
  expect(c: FindCorpus): string[];
  /** Known to differ in Orthanc: which answer the standard supports, and why. */
  orthanc?: OrthancDifference;
}

export interface OrthancDifference {
  /** "MiniPACS": Orthanc departs from PS3.4; "both": PS3.4 allows either answer. */
  standard: "MiniPACS" | "both";
  why: string;
}

const STUDY = ["QueryRetrieveLevel=STUDY", "StudyInstanceUID"];
const study = (
  name: string,
  keys: string[],
  labels: string[],
  orthanc?: OrthancDifference,
): FindCase => ({
  name: `STUDY ${name}`,
  model: "S",
  keys: () => [...STUDY, ...keys],
  tag: TAG.StudyInstanceUID,
  expect: (c) => c.uids(...labels),
  orthanc,
});

/** A STUDY query by Patient's Name written to a query file in a character set argv cannot carry. */
const studyByNameIn = (
  charset: string,
  name: string,
  patientName: string,
  labels: string[],
  orthanc?: OrthancDifference,
): FindCase => ({
  ...study(`${charset} ${name}`, [], labels, orthanc),
  keys: () => [],
  file: {
    charset,
    keys: [
      [TAG.QueryRetrieveLevel, "CS", "STUDY"],
      [TAG.StudyInstanceUID, "UI", ""],
      [TAG.PatientName, "PN", patientName],
    ],
  },
});

const COMPONENT_NOTE: OrthancDifference = {
  standard: "both",
  why: "Orthanc matches a name without wildcards literally as a whole, MiniPACS component " +
    "by component; PS3.4 C.2.2.2.1 lets PN matching be insensitive to such aspects",
};

export const FIND_CASES: FindCase[] = [
  study("universal", [], ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]),
  study("single value Patient ID", ["PatientID=PID-DOE"], ["s1", "s2"]),
  {
    ...study("list of UIDs", [], ["s1", "s3"]),
    keys: (c) => [...STUDY.slice(0, 1), `StudyInstanceUID=${c.uid("s1")}\\${c.uid("s3")}`],
  },
  study("single date", ["StudyDate=20240110"], ["s1", "s7"]),
  study("date range", ["StudyDate=20240110-20240131"], ["s1", "s2", "s3", "s7"]),
  study("open date range after", ["StudyDate=20240201-"], ["s5", "s6"]),
  study("open date range before", ["StudyDate=-20231231"], ["s4"]),
  study(
    "time range",
    ["StudyTime=0800-1200"],
    ["s1", "s4", "s5", "s6"],
    {
      standard: "MiniPACS",
      why: "Orthanc compares times as text and drops 120000 from 0800-1200; PS3.4 " +
        "C.2.2.2.5.2 makes the range inclusive, and 12:00:00 is its end",
    },
  ),
  study("date and time ranges", ["StudyDate=20240110-20240120", "StudyTime=1000-1800"], [
    "s2",
    "s7",
  ]),
  study("wildcard ? on Accession Number", ["AccessionNumber=ACC-00?"], ["s1", "s2", "s3"]),
  study("wildcard * on Accession Number", ["AccessionNumber=XB*"], ["s4", "s5", "s6", "s7"]),
  study("wildcard on Study Description", ["StudyDescription=*HEAD*"], ["s1", "s5"]),
  study("Study ID", ["StudyID=S1"], ["s1"]),
  study("Modalities in Study", ["ModalitiesInStudy=MR"], ["s2", "s5"]),
  study("Modalities in Study list", ["ModalitiesInStudy=CT\\MR"], ["s1", "s2", "s3", "s5", "s6"]),
  study("Modalities in Study of a second series", ["ModalitiesInStudy=SR"], ["s1"]),
  study("Patient's Name wildcard", ["PatientName=Doe*"], ["s1", "s2", "s3"]),
  study("Patient's Name case-insensitive", ["PatientName=SMITH^ANNA"], ["s7"]),
  study("Patient's Name wildcard per component", ["PatientName=doe^j*"], ["s1", "s2", "s3"]),
  study("Patient's Name caret, exact", ["PatientName=DOE^JOHN"], ["s1", "s2"]),
  study(
    "Patient's Name family name alone",
    ["PatientName=doe"],
    ["s1", "s2", "s3"],
    COMPONENT_NOTE,
  ),
  study("Patient's Name given name alone", ["PatientName=^anna"], ["s7"], COMPONENT_NOTE),
  study(
    "Patient's Name without the middle name",
    ["PatientName=Doe^Jane"],
    ["s3"],
    COMPONENT_NOTE,
  ),
  study("Referring Physician's Name", ["ReferringPhysicianName=Ref^One"], ["s1", "s3"]),
  study("Patient's Birth Date range", ["PatientBirthDate=19600101-19751231"], [
    "s1",
    "s2",
    "s4",
    "s6",
  ]),
  study("Patient's Sex", ["PatientSex=F"], ["s3", "s7"]),
  studyByNameIn("ISO_IR 100", "query for a Latin-1 name", "MÜLLER*", ["s4"]),
  studyByNameIn("ISO_IR 192", "query for a Latin-1 name", "müller^jürgen", ["s4"]),
  studyByNameIn("ISO_IR 100", "query for a UTF-8 name", "østergård*", ["s5"]),
  studyByNameIn("ISO_IR 192", "query for an ideographic name", "山田*", ["s6"], {
    standard: "both",
    why: "Orthanc matches the whole value, MiniPACS also each ideographic and phonetic " +
      "group (PS3.4 C.2.2.2.1 leaves PN matching aspects to the SCP)",
  }),
  {
    name: "SERIES of one study",
    model: "S",
    keys: (
      c,
    ) => ["QueryRetrieveLevel=SERIES", `StudyInstanceUID=${c.uid("s1")}`, "SeriesInstanceUID"],
    tag: TAG.SeriesInstanceUID,
    expect: (c) => c.uids("s1ct", "s1sr"),
  },
  {
    name: "SERIES Modality",
    model: "S",
    keys: (c) => [
      "QueryRetrieveLevel=SERIES",
      `StudyInstanceUID=${c.uid("s1")}`,
      "SeriesInstanceUID",
      "Modality=CT",
    ],
    tag: TAG.SeriesInstanceUID,
    expect: (c) => c.uids("s1ct"),
  },
  {
    name: "SERIES list of UIDs stays inside the study",
    model: "S",
    keys: (c) => [
      "QueryRetrieveLevel=SERIES",
      `StudyInstanceUID=${c.uid("s1")}`,
      `SeriesInstanceUID=${c.uid("s1ct")}\\${c.uid("s2mr")}`,
    ],
    tag: TAG.SeriesInstanceUID,
    expect: (c) => c.uids("s1ct"),
  },
  {
    name: "SERIES Series Number",
    model: "S",
    keys: (c) => [
      "QueryRetrieveLevel=SERIES",
      `StudyInstanceUID=${c.uid("s1")}`,
      "SeriesInstanceUID",
      "SeriesNumber=2",
    ],
    tag: TAG.SeriesInstanceUID,
    expect: (c) => c.uids("s1sr"),
  },
  {
    name: "SERIES wildcard Series Description",
    model: "S",
    keys: (c) => [
      "QueryRetrieveLevel=SERIES",
      `StudyInstanceUID=${c.uid("s1")}`,
      "SeriesInstanceUID",
      "SeriesDescription=AXIAL*",
    ],
    tag: TAG.SeriesInstanceUID,
    expect: (c) => c.uids("s1ct"),
  },
  ...imageCases(),
  {
    name: "PATIENT universal (Patient Root)",
    model: "P",
    keys: () => ["QueryRetrieveLevel=PATIENT", "PatientID"],
    tag: TAG.PatientID,
    expect: () => Object.values(PATIENTS).map((p) => p.id).sort(),
  },
  {
    name: "PATIENT wildcard name (Patient Root)",
    model: "P",
    keys: () => ["QueryRetrieveLevel=PATIENT", "PatientID", "PatientName=DOE*"],
    tag: TAG.PatientID,
    expect: () => [PATIENTS.doe.id, PATIENTS.jane.id].sort(),
  },
  {
    name: "PATIENT Patient's Sex (Patient Root)",
    model: "P",
    keys: () => ["QueryRetrieveLevel=PATIENT", "PatientID", "PatientSex=F"],
    tag: TAG.PatientID,
    expect: () => [PATIENTS.jane.id, PATIENTS.smith.id].sort(),
  },
  {
    name: "STUDY under a patient (Patient Root)",
    model: "P",
    keys: () => ["QueryRetrieveLevel=STUDY", "PatientID=PID-DOE", "StudyInstanceUID"],
    tag: TAG.StudyInstanceUID,
    expect: (c) => c.uids("s1", "s2"),
  },
  {
    name: "IMAGE under a patient (Patient Root)",
    model: "P",
    keys: (c) => [
      "QueryRetrieveLevel=IMAGE",
      "PatientID=PID-DOE",
      `StudyInstanceUID=${c.uid("s2")}`,
      `SeriesInstanceUID=${c.uid("s2mr")}`,
      "SOPInstanceUID",
    ],
    tag: TAG.SOPInstanceUID,
    expect: (c) => c.uids("s2mr-1", "s2mr-2"),
  },
];

function imageCases(): FindCase[] {
  const image = (
    name: string,
    series: string,
    keys: string[],
    labels: string[],
    orthanc?: OrthancDifference,
  ): FindCase => ({
    name: `IMAGE ${name}`,
    model: "S",
    keys: (c) => [
      "QueryRetrieveLevel=IMAGE",
      `StudyInstanceUID=${
        c.uid(STUDIES.find((s) => s.series.some((x) => x.label === series))!.label)
      }`,
      `SeriesInstanceUID=${c.uid(series)}`,
      "SOPInstanceUID",
      ...keys,
    ],
    tag: TAG.SOPInstanceUID,
    expect: (c) => c.uids(...labels),
    orthanc,
  });
  return [
    image("all of a series", "s1ct", [], ["s1ct-1", "s1ct-2", "s1ct-3"]),
    {
      ...image("list of UIDs", "s1ct", [], ["s1ct-1", "s1ct-3"]),
      keys: (c) => [
        "QueryRetrieveLevel=IMAGE",
        `StudyInstanceUID=${c.uid("s1")}`,
        `SeriesInstanceUID=${c.uid("s1ct")}`,
        `SOPInstanceUID=${c.uid("s1ct-1")}\\${c.uid("s1ct-3")}`,
      ],
    },
    image("Instance Number", "s1ct", ["InstanceNumber=2"], ["s1ct-2"]),
    image("SOP Class UID", "s1ct", ["SOPClassUID=1.2.840.10008.5.1.4.1.1.2"], [
      "s1ct-1",
      "s1ct-2",
      "s1ct-3",
    ]),
    image("Rows read from the file", "s2mr", ["Rows=256"], ["s2mr-1", "s2mr-2"]),
    image("Rows read from the file, no match", "s2mr", ["Rows=512"], []),
    image(
      "sequence matching, one item",
      "s7mg",
      [`RequestAttributesSequence[0].RequestedProcedureID=${REQUESTED_PROCEDURE_ID}`],
      ["s7mg-1"],
    ),
    image(
      "sequence matching, no match",
      "s7mg",
      ["RequestAttributesSequence[0].RequestedProcedureID=RP-8"],
      [],
      {
        standard: "MiniPACS",
        why: "Orthanc ignores the sequence key and returns the instance; PS3.4 C.2.2.2.6 " +
          "defines sequence matching (or 0xFF01 when an SCP does not match a key)",
      },
    ),
  ];
}

/** Runs one case: findscu with its keys (and query file), the values of its tag. */
export async function runCase(
  port: number,
  calledAe: string,
  c: FindCorpus,
  fc: FindCase,
): Promise<{ result: FindResult; values: string[] }> {
  let file: string | undefined;
  if (fc.file) {
    file = await queryFile(
      `${c.dir}/query-${crypto.randomUUID()}.dcm`,
      fc.file.charset,
      fc.file.keys,
    );
  }
  const result = await findscu(port, calledAe, fc.model, fc.keys(c), { queryFile: file });
  if (file) await Deno.remove(file);
  return { result, values: valuesOf(result, fc.tag) };
}
