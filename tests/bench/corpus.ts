// Generates the benchmark corpus: N CT Image Storage objects, 512x512 16-bit, as Explicit VR
// Little Endian Part 10 files. One template is encoded here, byte by byte; each image is a
// copy with its UIDs, numbers and patient stamped into fixed-width slots and fresh pixels.

export const CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2";
export const EXPLICIT_VR_LE = "1.2.840.10008.1.2.1";
const ROWS = 512;
const COLUMNS = 512;
const PIXEL_BYTES = ROWS * COLUMNS * 2;
const STUDIES = 5;
const SERIES_PER_STUDY = 2;

export interface Corpus {
  dir: string;
  /** Every file, in generation order. */
  files: string[];
  /** `groups[k]` is a sub-folder holding the k-th share of the files (one per association). */
  groups: string[];
  totalBytes: number;
  /** Removes the folder. */
  remove(): Promise<void>;
}

// VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 7.1.2).
const LONG_VRS = new Set(["OB", "OW", "SQ", "UN", "UT", "UC", "UR"]);

interface Slot {
  offset: number;
  length: number;
  pad: number;
}

/** Little builder: appends Explicit VR LE elements and remembers where chosen values sit. */
class Writer {
  readonly chunks: Uint8Array[] = [];
  length = 0;
  readonly slots = new Map<string, Slot>();

  raw(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  element(tag: number, vr: string, value: Uint8Array, slot?: string, pad = 0x20): void {
    const long = LONG_VRS.has(vr);
    const header = new Uint8Array(long ? 12 : 8);
    const view = new DataView(header.buffer);
    view.setUint16(0, tag >>> 16, true);
    view.setUint16(2, tag & 0xffff, true);
    header[4] = vr.charCodeAt(0);
    header[5] = vr.charCodeAt(1);
    if (long) view.setUint32(8, value.length, true);
    else view.setUint16(6, value.length, true);
    this.raw(header);
    if (slot) this.slots.set(slot, { offset: this.length, length: value.length, pad });
    this.raw(value);
  }

  /** A text value padded to even length (UIDs with NUL, the rest with space, PS3.5 6.2). */
  text(tag: number, vr: string, value: string, slot?: string, width?: number): void {
    const pad = vr === "UI" ? 0 : 0x20;
    let n = Math.max(value.length, width ?? 0);
    if (n % 2) n++;
    const bytes = new Uint8Array(n).fill(pad);
    for (let i = 0; i < value.length; i++) bytes[i] = value.charCodeAt(i);
    this.element(tag, vr, bytes, slot, pad);
  }

  us(tag: number, value: number): void {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value, true);
    this.element(tag, "US", b);
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** Fixed-length UIDs: the root, a kind digit, then "1" + zero-padded number. */
function uidMaker(): (kind: number, n: number) => string {
  const rand = crypto.getRandomValues(new Uint32Array(2));
  const root = `2.25.${1 + (rand[0] % 9)}${String(rand[1]).padStart(10, "0")}`;
  return (kind, n) => `${root}.${kind}.1${String(n).padStart(6, "0")}`;
}

const PATIENTS = [
  ["DOE^JANE", "F", "19580312"],
  ["MUSTERMANN^MAX", "M", "19690824"],
  ["ROSSI^GIULIA", "F", "19811105"],
  ["DUPONT^PIERRE", "M", "19470130"],
  ["NAKAMURA^KENJI", "M", "19730619"],
];

interface Template {
  bytes: Uint8Array;
  slots: Map<string, Slot>;
  pixelOffset: number;
}

function buildTemplate(uid: (kind: number, n: number) => string): Template {
  const meta = new Writer();
  meta.text(0x00020002, "UI", CT_IMAGE_STORAGE);
  meta.text(0x00020003, "UI", uid(3, 0), "sop");
  meta.text(0x00020010, "UI", EXPLICIT_VR_LE);
  meta.text(0x00020012, "UI", "1.2.826.0.1.3680043.9.7433.1.1");
  meta.text(0x00020013, "SH", "MINIPACS_BENCH");
  const metaBytes = meta.bytes();

  const w = new Writer();
  w.raw(new Uint8Array(128)); // PS3.10 7.1 preamble
  w.raw(new Uint8Array([0x44, 0x49, 0x43, 0x4d])); // "DICM"
  const groupLength = new Uint8Array(4);
  new DataView(groupLength.buffer).setUint32(0, metaBytes.length + 14, true);
  w.element(0x00020000, "UL", groupLength);
  w.element(0x00020001, "OB", new Uint8Array([0, 1]));
  const metaStart = w.length;
  w.raw(metaBytes);
  for (const [name, s] of meta.slots) {
    w.slots.set(`meta.${name}`, { ...s, offset: s.offset + metaStart });
  }

  const p = PATIENTS[0];
  w.text(0x00080005, "CS", "ISO_IR 100");
  w.text(0x00080008, "CS", "ORIGINAL\\PRIMARY\\AXIAL");
  w.text(0x00080012, "DA", "20240517");
  w.text(0x00080013, "TM", "101512");
  w.text(0x00080016, "UI", CT_IMAGE_STORAGE);
  w.text(0x00080018, "UI", uid(3, 0), "sop");
  w.text(0x00080020, "DA", "20240517");
  w.text(0x00080030, "TM", "101500");
  w.text(0x00080050, "SH", "ACC0000001", "accession");
  w.text(0x00080060, "CS", "CT");
  w.text(0x00080070, "LO", "ACME Medical");
  w.text(0x00080080, "LO", "General Hospital");
  w.text(0x00080090, "PN", "HOUSE^GREGORY");
  w.text(0x00081030, "LO", "CT CHEST ABDOMEN PELVIS W/O CONTRAST");
  w.text(0x0008103e, "LO", "AXIAL 1.0 SERIES 00", "seriesDescription");
  w.text(0x00081090, "LO", "Bench CT 64");
  w.text(0x00100010, "PN", p[0], "patientName", 16);
  w.text(0x00100020, "LO", "PID00001", "patientId");
  w.text(0x00100030, "DA", p[2], "birthDate");
  w.text(0x00100040, "CS", p[1], "sex");
  w.text(0x00180015, "CS", "CHEST");
  w.text(0x00180050, "DS", "1.0");
  w.text(0x00180060, "DS", "120");
  w.text(0x00181151, "IS", "250");
  w.text(0x00185100, "CS", "HFS");
  w.text(0x0020000d, "UI", uid(1, 0), "study");
  w.text(0x0020000e, "UI", uid(2, 0), "series");
  w.text(0x00200010, "SH", "S0001", "studyId");
  w.text(0x00200011, "IS", "1", "seriesNumber", 4);
  w.text(0x00200013, "IS", "1", "instanceNumber", 8);
  w.text(0x00200032, "DS", "-250.0\\-250.0\\0.00", "position", 32);
  w.text(0x00200037, "DS", "1\\0\\0\\0\\1\\0");
  w.text(0x00200052, "UI", uid(4, 0), "frame");
  w.text(0x00201041, "DS", "0.00", "sliceLocation", 12);
  w.us(0x00280002, 1);
  w.text(0x00280004, "CS", "MONOCHROME2");
  w.us(0x00280010, ROWS);
  w.us(0x00280011, COLUMNS);
  w.text(0x00280030, "DS", "0.9765625\\0.9765625");
  w.us(0x00280100, 16);
  w.us(0x00280101, 12);
  w.us(0x00280102, 11);
  w.us(0x00280103, 0);
  w.text(0x00281050, "DS", "40");
  w.text(0x00281051, "DS", "400");
  w.text(0x00281052, "DS", "-1024");
  w.text(0x00281053, "DS", "1");
  w.element(0x7fe00010, "OW", new Uint8Array(PIXEL_BYTES), "pixels");
  const slots = w.slots;
  return { bytes: w.bytes(), slots, pixelOffset: slots.get("pixels")!.offset };
}

function stamp(buf: Uint8Array, slot: Slot | undefined, value: string): void {
  if (!slot) throw new Error("no such slot");
  if (value.length > slot.length) throw new Error(`"${value}" does not fit ${slot.length} bytes`);
  buf.fill(slot.pad, slot.offset, slot.offset + slot.length);
  for (let i = 0; i < value.length; i++) buf[slot.offset + i] = value.charCodeAt(i);
}

/** 12-bit noise over a smooth body-like disc (xorshift32), so nothing compresses it away. */
function fillPixels(buf: Uint8Array, offset: number, seed: number): void {
  const px = new Uint16Array(buf.buffer, buf.byteOffset + offset, ROWS * COLUMNS);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let r = 0; r < ROWS; r++) {
    const dy = r - ROWS / 2;
    for (let c = 0; c < COLUMNS; c++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const dx = c - COLUMNS / 2;
      const inside = dx * dx + dy * dy < 220 * 220;
      px[r * COLUMNS + c] = ((inside ? 1040 : 24) + ((x >>> 0) & 0xff)) & 0x0fff;
    }
  }
}

/**
 * Writes `count` CT images into a fresh temporary folder, split into `groupCount` sub-folders
 * (group k holds images k, k+groupCount, ...: the same mix of series in each).
 */
export async function generateCorpus(count: number, groupCount = 8): Promise<Corpus> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-bench-corpus-" });
  const uid = uidMaker();
  const t = buildTemplate(uid);
  const seriesTotal = STUDIES * SERIES_PER_STUDY;
  const groups: string[] = [];
  for (let k = 0; k < groupCount; k++) {
    groups.push(`${dir}/g${k}`);
    await Deno.mkdir(groups[k]);
  }
  const files: string[] = [];
  const s = (name: string) => t.slots.get(name);
  const writes: Promise<void>[] = [];
  const BATCH = 32; // files written concurrently
  for (let i = 0; i < count; i++) {
    const series = Math.min(seriesTotal - 1, Math.floor((i * seriesTotal) / count));
    const study = Math.floor(series / SERIES_PER_STUDY);
    const p = PATIENTS[study % PATIENTS.length];
    const slice = i - Math.ceil((series * count) / seriesTotal);
    const z = (-slice * 1.0).toFixed(2);
    const buf = t.bytes.slice();
    const sop = uid(3, i + 1);
    stamp(buf, s("meta.sop"), sop);
    stamp(buf, s("sop"), sop);
    stamp(buf, s("study"), uid(1, study + 1));
    stamp(buf, s("series"), uid(2, series + 1));
    stamp(buf, s("frame"), uid(4, series + 1));
    stamp(buf, s("accession"), `ACC${String(study + 1).padStart(7, "0")}`);
    stamp(buf, s("studyId"), `S${String(study + 1).padStart(4, "0")}`);
    stamp(buf, s("patientName"), p[0]);
    stamp(buf, s("patientId"), `PID${String(study + 1).padStart(5, "0")}`);
    stamp(buf, s("birthDate"), p[2]);
    stamp(buf, s("sex"), p[1]);
    stamp(buf, s("seriesDescription"), `AXIAL 1.0 SERIES ${String(series + 1).padStart(2, "0")}`);
    stamp(buf, s("seriesNumber"), String((series % SERIES_PER_STUDY) + 1));
    stamp(buf, s("instanceNumber"), String(slice + 1));
    stamp(buf, s("position"), `-250.0\\-250.0\\${z}`);
    stamp(buf, s("sliceLocation"), z);
    fillPixels(buf, t.pixelOffset, i + 1);
    const path = `${groups[i % groupCount]}/ct${String(i + 1).padStart(6, "0")}.dcm`;
    files.push(path);
    writes.push(Deno.writeFile(path, buf));
    if (writes.length >= BATCH) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
  return {
    dir,
    files,
    groups,
    totalBytes: count * t.bytes.length,
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}
