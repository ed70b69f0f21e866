// `minipacs demo DIR`: writes a few small studies as DICOM Part 10 files (several modalities,
// patients with plain and accented names) for trying MiniPACS out: store them, find them, see
// them on the page, move them. Synthetic images, made-up patients.
import { join } from "node:path";
import { type DataElement, encodeDataset, encodingOf, textElement } from "../core/dicom/dataset.ts";
import { encodeFileMetaInformation } from "../core/dicom/part10.ts";
import { EXPLICIT_VR_LE } from "../core/dicom/transfer_syntaxes.ts";
import { type Command, type CommandArgs, loadEffectiveConfig, UsageError } from "./subcommand.ts";

interface SeriesSpec {
  modality: string;
  sopClassUid: string;
  description: string;
  images: number;
  size: number;
  bits: 8 | 16;
  window: [number, number];
  bodyPart: string;
}

interface StudySpec {
  patientName: string;
  patientId: string;
  birthDate: string;
  sex: string;
  studyDate: string;
  description: string;
  series: SeriesSpec[];
}

const CT = "1.2.840.10008.5.1.4.1.1.2";
const MR = "1.2.840.10008.5.1.4.1.1.4";
const CR = "1.2.840.10008.5.1.4.1.1.1";
const US = "1.2.840.10008.5.1.4.1.1.6.1";

/** One series: `images` slices of size x size pixels at `bits`, shown with `window`. */
function series(
  modality: string,
  sopClassUid: string,
  description: string,
  images: number,
  size: number,
  bits: 8 | 16,
  window: [center: number, width: number],
  bodyPart: string,
): SeriesSpec {
  return { modality, sopClassUid, description, images, size, bits, window, bodyPart };
}

/** The demo patients and studies. */
export const DEMO_STUDIES: readonly StudySpec[] = [
  {
    patientName: "DOE^JOHN",
    patientId: "DEMO001",
    birthDate: "19600412",
    sex: "M",
    studyDate: "20240315",
    description: "CT chest",
    series: [
      series("CT", CT, "Axial 5 mm", 4, 128, 16, [40, 400], "CHEST"),
    ],
  },
  {
    patientName: "MÜLLER^HANS",
    patientId: "DEMO002",
    birthDate: "19751103",
    sex: "M",
    studyDate: "20240402",
    description: "MR head",
    series: [
      series("MR", MR, "T1 axial", 3, 128, 16, [600, 1200], "HEAD"),
      series("MR", MR, "T2 axial", 3, 128, 16, [700, 1400], "HEAD"),
    ],
  },
  {
    patientName: "SMITH^JANE",
    patientId: "DEMO003",
    birthDate: "19880720",
    sex: "F",
    studyDate: "20240510",
    description: "Chest and abdomen",
    series: [
      series("CR", CR, "PA chest", 1, 256, 16, [2048, 4096], "CHEST"),
      series("US", US, "Abdomen", 2, 128, 8, [128, 256], "ABDOMEN"),
    ],
  },
  {
    patientName: "GARCÍA^LUCÍA",
    patientId: "DEMO004",
    birthDate: "19921201",
    sex: "F",
    studyDate: "20240611",
    description: "CT abdomen",
    series: [
      series("CT", CT, "Portal venous", 3, 128, 16, [60, 360], "ABDOMEN"),
    ],
  },
];

/** A UID under 2.25 from random bits (PS3.5 B.2). */
export function randomUid(): string {
  const hex = crypto.randomUUID().replaceAll("-", "");
  return `2.25.${BigInt(`0x${hex}`).toString()}`;
}

function us(tag: number, n: number): DataElement {
  const value = new Uint8Array(2);
  new DataView(value.buffer).setUint16(0, n, true);
  return { tag, vr: "US", value };
}

function text(tag: number, vr: string, value: string): DataElement {
  return textElement(tag, vr, value, "ISO_IR 192")!;
}

/** A synthetic image: a disc and a ring on a gradient, shifted from slice to slice. */
function pixels(size: number, bits: 8 | 16, slice: number): Uint8Array {
  const max = bits === 8 ? 255 : 4095;
  const out = new Uint8Array(size * size * (bits / 8));
  const dv = new DataView(out.buffer);
  const c = size / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const r = Math.hypot(x - c, y - c - slice * 3) / c;
      let v = (0.15 + 0.25 * (x / size)) * max;
      if (r < 0.45) v = 0.75 * max;
      else if (r > 0.7 && r < 0.8) v = max;
      const i = y * size + x;
      if (bits === 8) out[i] = Math.round(v);
      else dv.setUint16(i * 2, Math.round(v), true);
    }
  }
  return out;
}

/** One Part 10 file's bytes. */
function instance(
  study: StudySpec,
  series: SeriesSpec,
  uids: { study: string; series: string; sop: string },
  seriesNumber: number,
  n: number,
  meta: { implementationClassUid: string; implementationVersionName: string },
): Uint8Array {
  const bits = series.bits;
  const elements: DataElement[] = [
    text(0x00080005, "CS", "ISO_IR 192"),
    text(0x00080008, "CS", "ORIGINAL\\PRIMARY\\AXIAL"),
    text(0x00080016, "UI", series.sopClassUid),
    text(0x00080018, "UI", uids.sop),
    text(0x00080020, "DA", study.studyDate),
    text(0x00080030, "TM", "101500"),
    text(0x00080050, "SH", `ACC${study.patientId.slice(-3)}`),
    text(0x00080060, "CS", series.modality),
    text(0x00080090, "PN", "REFERRER^DEMO"),
    text(0x00081030, "LO", study.description),
    text(0x0008103e, "LO", series.description),
    text(0x00100010, "PN", study.patientName),
    text(0x00100020, "LO", study.patientId),
    text(0x00100030, "DA", study.birthDate),
    text(0x00100040, "CS", study.sex),
    text(0x00180015, "CS", series.bodyPart),
    text(0x0020000d, "UI", uids.study),
    text(0x0020000e, "UI", uids.series),
    text(0x00200010, "SH", "1"),
    text(0x00200011, "IS", String(seriesNumber)),
    text(0x00200013, "IS", String(n)),
    us(0x00280002, 1),
    text(0x00280004, "CS", "MONOCHROME2"),
    us(0x00280010, series.size),
    us(0x00280011, series.size),
    us(0x00280100, bits),
    us(0x00280101, bits === 8 ? 8 : 12),
    us(0x00280102, bits === 8 ? 7 : 11),
    us(0x00280103, 0),
    text(0x00281050, "DS", String(series.window[0])),
    text(0x00281051, "DS", String(series.window[1])),
    {
      tag: 0x7fe00010,
      vr: bits === 8 ? "OB" : "OW",
      value: pixels(series.size, bits, n),
    },
  ];
  if (series.modality === "CT") {
    elements.push(text(0x00281052, "DS", "-1024"), text(0x00281053, "DS", "1"));
  }
  const dataset = encodeDataset(elements, encodingOf(EXPLICIT_VR_LE));
  const head = encodeFileMetaInformation({
    sopClassUid: series.sopClassUid,
    sopInstanceUid: uids.sop,
    transferSyntaxUid: EXPLICIT_VR_LE,
    implementationClassUid: meta.implementationClassUid,
    implementationVersionName: meta.implementationVersionName,
  });
  const out = new Uint8Array(head.length + dataset.length);
  out.set(head);
  out.set(dataset, head.length);
  return out;
}

export interface DemoFile {
  path: string;
  patientName: string;
  modality: string;
  studyInstanceUid: string;
  sopInstanceUid: string;
}

/** Writes the demo studies under `dir` (created if needed); returns the files written. */
export async function writeDemo(
  dir: string,
  meta: { implementationClassUid: string; implementationVersionName: string },
): Promise<DemoFile[]> {
  const files: DemoFile[] = [];
  for (const study of DEMO_STUDIES) {
    const studyUid = randomUid();
    const folder = join(dir, study.patientId);
    await Deno.mkdir(folder, { recursive: true });
    for (const [s, series] of study.series.entries()) {
      const seriesUid = randomUid();
      for (let n = 1; n <= series.images; n++) {
        const sop = randomUid();
        const path = join(folder, `${series.modality}${s + 1}_${String(n).padStart(3, "0")}.dcm`);
        const bytes = instance(
          study,
          series,
          { study: studyUid, series: seriesUid, sop },
          s + 1,
          n,
          meta,
        );
        await Deno.writeFile(path, bytes);
        files.push({
          path,
          patientName: study.patientName,
          modality: series.modality,
          studyInstanceUid: studyUid,
          sopInstanceUid: sop,
        });
      }
    }
  }
  return files;
}

async function run(args: CommandArgs): Promise<number> {
  if (args.positionals.length > 1) throw new UsageError("demo takes at most one folder");
  const dir = args.positionals[0] ?? "demo-data";
  const { config } = await loadEffectiveConfig(args.values);
  const files = await writeDemo(dir, config.server);
  const studies = new Set(files.map((f) => f.studyInstanceUid)).size;
  const modalities = [...new Set(files.map((f) => f.modality))].join(", ");
  const names = [...new Set(files.map((f) => f.patientName))].join(", ");
  console.log(`wrote ${files.length} images in ${studies} studies to ${dir} (${modalities})`);
  console.log(`patients: ${names}`);
  console.log(
    `next: minipacs store ${config.server.aeTitle}@127.0.0.1:${config.server.port || 4242} ${dir}`,
  );
  return 0;
}

export const demoCommand: Command = {
  summary: "write a few sample studies (CT, MR, CR, US) as DICOM files to try MiniPACS",
  usage: [
    "Usage: minipacs demo [DIR]",
    "",
    "Writes four small studies of made-up patients (DOE^JOHN, MÜLLER^HANS, SMITH^JANE,",
    "GARCÍA^LUCÍA) with synthetic CT, MR, CR and US images to DIR (default ./demo-data), one",
    "folder per patient, new UIDs each time. Store them with `minipacs store`.",
  ].join("\n"),
  run,
};
