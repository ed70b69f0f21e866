// Generates DICOM test objects with DCMTK (dump2dcm, dcmconv, dcmcjpeg, dcmcjpls, dcmcrle):
// many storage classes, every transfer syntax those tools can write, distinct UIDs.
import { run } from "./server.ts";

export interface CorpusObject {
  path: string;
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  transferSyntaxUid: string;
  patientId: string;
  patientName: string;
  modality: string;
  className: string;
}

interface ClassSpec {
  name: string;
  uid: string;
  modality: string;
  /** Bits allocated for an image; 0 = no pixel data. */
  bits: 0 | 8 | 16;
  frames?: number;
  extra?: string;
}

/** Storage classes the corpus covers (PS3.4 Annex B). */
export const CORPUS_CLASSES: ClassSpec[] = [
  { name: "CT Image", uid: "1.2.840.10008.5.1.4.1.1.2", modality: "CT", bits: 16 },
  { name: "MR Image", uid: "1.2.840.10008.5.1.4.1.1.4", modality: "MR", bits: 16 },
  { name: "Ultrasound Image", uid: "1.2.840.10008.5.1.4.1.1.6.1", modality: "US", bits: 8 },
  { name: "Secondary Capture", uid: "1.2.840.10008.5.1.4.1.1.7", modality: "OT", bits: 8 },
  { name: "X-Ray Angiographic", uid: "1.2.840.10008.5.1.4.1.1.12.1", modality: "XA", bits: 8 },
  { name: "Computed Radiography", uid: "1.2.840.10008.5.1.4.1.1.1", modality: "CR", bits: 16 },
  {
    name: "Digital X-Ray (presentation)",
    uid: "1.2.840.10008.5.1.4.1.1.1.1",
    modality: "DX",
    bits: 16,
  },
  {
    name: "Digital Mammography (presentation)",
    uid: "1.2.840.10008.5.1.4.1.1.1.2",
    modality: "MG",
    bits: 16,
  },
  { name: "Nuclear Medicine", uid: "1.2.840.10008.5.1.4.1.1.20", modality: "NM", bits: 16 },
  { name: "PET Image", uid: "1.2.840.10008.5.1.4.1.1.128", modality: "PT", bits: 16 },
  {
    name: "Ultrasound Multi-frame (retired)",
    uid: "1.2.840.10008.5.1.4.1.1.3",
    modality: "US",
    bits: 8,
    frames: 3,
  },
  {
    name: "Multi-frame Grayscale Byte SC",
    uid: "1.2.840.10008.5.1.4.1.1.7.2",
    modality: "OT",
    bits: 8,
    frames: 2,
  },
  { name: "Basic Text SR", uid: "1.2.840.10008.5.1.4.1.1.88.11", modality: "SR", bits: 0 },
  { name: "Key Object Selection", uid: "1.2.840.10008.5.1.4.1.1.88.59", modality: "KO", bits: 0 },
  {
    name: "Grayscale Softcopy Presentation State",
    uid: "1.2.840.10008.5.1.4.1.1.11.1",
    modality: "PR",
    bits: 0,
  },
  {
    name: "Encapsulated PDF",
    uid: "1.2.840.10008.5.1.4.1.1.104.1",
    modality: "DOC",
    bits: 0,
    extra: "(0042,0011) OB =doc.pdf\n(0042,0012) LO [application/pdf]\n",
  },
  { name: "RT Structure Set", uid: "1.2.840.10008.5.1.4.1.1.481.3", modality: "RTSTRUCT", bits: 0 },
  { name: "RT Plan", uid: "1.2.840.10008.5.1.4.1.1.481.5", modality: "RTPLAN", bits: 0 },
];

export const TS = {
  implicitLE: "1.2.840.10008.1.2",
  explicitLE: "1.2.840.10008.1.2.1",
  deflated: "1.2.840.10008.1.2.1.99",
  explicitBE: "1.2.840.10008.1.2.2",
  jpegBaseline: "1.2.840.10008.1.2.4.50",
  jpegLosslessSV1: "1.2.840.10008.1.2.4.70",
  jpegLsLossless: "1.2.840.10008.1.2.4.80",
  rle: "1.2.840.10008.1.2.5",
} as const;

/** How each transfer syntax is made from an Explicit VR LE file. */
const CONVERSIONS: { ts: string; tool: string; args: string[]; needsPixels?: 8 | 16 | true }[] = [
  { ts: TS.explicitLE, tool: "", args: [] },
  { ts: TS.implicitLE, tool: "dcmconv", args: ["+ti"] },
  { ts: TS.explicitBE, tool: "dcmconv", args: ["+tb"] },
  { ts: TS.deflated, tool: "dcmconv", args: ["+td"] },
  { ts: TS.jpegBaseline, tool: "dcmcjpeg", args: ["+eb", "+un"], needsPixels: 8 },
  { ts: TS.jpegLosslessSV1, tool: "dcmcjpeg", args: ["+e1"], needsPixels: true },
  { ts: TS.jpegLsLossless, tool: "dcmcjpls", args: ["+el"], needsPixels: true },
  { ts: TS.rle, tool: "dcmcrle", args: [], needsPixels: true },
];

let uidCounter = 0;
const ROOT_UID = `1.2.826.0.1.3680043.9.7433.2.${Date.now() % 1e9}.${
  Math.floor(Math.random() * 1e6)
}`;
export function newUid(): string {
  return `${ROOT_UID}.${++uidCounter}`;
}

function pixels(
  bits: 8 | 16,
  rows: number,
  cols: number,
  frames: number,
  seed: number,
): Uint8Array {
  const n = rows * cols * frames * (bits / 8);
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (i % 64) * 3 + (x & 15);
  }
  if (bits === 16) { for (let i = 1; i < n; i += 2) out[i] &= 0x0f; // 12 bits stored
   }
  return out;
}

export interface MakeOptions {
  spec: ClassSpec;
  dir: string;
  sopInstanceUid?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  patientId?: string;
  patientName?: string;
  /** Extra dump2dcm lines. */
  more?: string;
  /** Instance Number (0020,0013); default 1. */
  instanceNumber?: number;
  rows?: number;
}

/** Writes one Explicit VR LE Part 10 file with dump2dcm. */
export async function makeObject(o: MakeOptions): Promise<CorpusObject> {
  const sop = o.sopInstanceUid ?? newUid();
  const study = o.studyInstanceUid ?? newUid();
  const series = o.seriesInstanceUid ?? newUid();
  const patientId = o.patientId ?? "PAT001";
  const patientName = o.patientName ?? "Doe^John";
  const s = o.spec;
  const base = `${o.dir}/${sop}`;
  const lines = [
    `(0008,0005) CS [ISO_IR 100]`,
    `(0008,0016) UI [${s.uid}]`,
    `(0008,0018) UI [${sop}]`,
    `(0008,0020) DA [20240315]`,
    `(0008,0030) TM [101500]`,
    `(0008,0050) SH [ACC${sop.slice(-6)}]`,
    `(0008,0060) CS [${s.modality}]`,
    `(0008,0090) PN [Referrer^Rita]`,
    `(0008,1030) LO [Test study]`,
    `(0008,103e) LO [${s.name}]`,
    `(0010,0010) PN [${patientName}]`,
    `(0010,0020) LO [${patientId}]`,
    `(0010,0030) DA [19700101]`,
    `(0010,0040) CS [M]`,
    `(0020,000d) UI [${study}]`,
    `(0020,000e) UI [${series}]`,
    `(0020,0010) SH [S1]`,
    `(0020,0011) IS [1]`,
    `(0020,0013) IS [${o.instanceNumber ?? 1}]`,
  ];
  if (s.extra) lines.push(s.extra.replaceAll("=doc.pdf", `=${o.dir}/doc.pdf`).trimEnd());
  if (s.uid.endsWith(".104.1")) {
    await Deno.writeFile(`${o.dir}/doc.pdf`, new TextEncoder().encode("%PDF-1.4\n%%EOF\n"));
  }
  if (s.bits) {
    const rows = o.rows ?? 16;
    const frames = s.frames ?? 1;
    await Deno.writeFile(`${base}.raw`, pixels(s.bits, rows, rows, frames, uidCounter));
    lines.push(
      `(0028,0002) US 1`,
      `(0028,0004) CS [MONOCHROME2]`,
      ...(s.frames ? [`(0028,0008) IS [${frames}]`] : []),
      `(0028,0010) US ${rows}`,
      `(0028,0011) US ${rows}`,
      `(0028,0100) US ${s.bits}`,
      `(0028,0101) US ${s.bits === 16 ? 12 : 8}`,
      `(0028,0102) US ${s.bits === 16 ? 11 : 7}`,
      `(0028,0103) US 0`,
      `(7fe0,0010) ${s.bits === 16 ? "OW" : "OB"} =${base}.raw`,
    );
  }
  if (o.more) lines.push(o.more.trimEnd());
  await Deno.writeTextFile(`${base}.dump`, lines.join("\n") + "\n");
  const r = await run("dump2dcm", ["+te", `${base}.dump`, `${base}.dcm`]);
  if (r.code !== 0 || r.stderr.includes("E:")) {
    throw new Error(`dump2dcm failed for ${s.name}: ${r.stderr}`);
  }
  await Deno.remove(`${base}.dump`);
  if (s.bits) await Deno.remove(`${base}.raw`);
  return {
    path: `${base}.dcm`,
    sopClassUid: s.uid,
    sopInstanceUid: sop,
    studyInstanceUid: study,
    seriesInstanceUid: series,
    transferSyntaxUid: TS.explicitLE,
    patientId,
    patientName,
    modality: s.modality,
    className: s.name,
  };
}

/** Re-encodes an object (with a fresh SOP Instance UID) into the given transfer syntax. */
async function convert(
  dir: string,
  spec: ClassSpec,
  ts: (typeof CONVERSIONS)[number],
): Promise<CorpusObject> {
  const obj = await makeObject({ spec, dir });
  if (!ts.tool) return obj;
  const out = obj.path.replace(/\.dcm$/, `.${ts.tool}.dcm`);
  const r = await run(ts.tool, [...ts.args, obj.path, out]);
  if (r.code !== 0) {
    throw new Error(`${ts.tool} ${ts.args.join(" ")} failed for ${spec.name}: ${r.stderr}`);
  }
  await Deno.remove(obj.path);
  return { ...obj, path: out, transferSyntaxUid: ts.ts };
}

/**
 * The interop corpus: every class in Explicit VR LE, plus each other transfer syntax on the
 * classes it suits (JPEG baseline on 8-bit images, lossless codecs on every image...).
 */
export async function makeCorpus(dir: string): Promise<CorpusObject[]> {
  const jobs: Promise<CorpusObject>[] = [];
  for (const spec of CORPUS_CLASSES) {
    for (const ts of CONVERSIONS) {
      if (ts.needsPixels && !spec.bits) continue;
      if (ts.needsPixels === 8 && spec.bits !== 8) continue;
      // Keep the corpus small: the non-default syntaxes on a few classes each.
      if (
        ts.ts !== TS.explicitLE &&
        ![
          "CT Image",
          "Secondary Capture",
          "Ultrasound Multi-frame (retired)",
          "Basic Text SR",
          "Ultrasound Image",
        ].includes(spec.name)
      ) continue;
      jobs.push(convert(dir, spec, ts));
    }
  }
  return await Promise.all(jobs);
}
