import assert from "node:assert/strict";
import {
  HeaderError,
  HeaderScanner,
  type ScannedHeader,
} from "../../../src/core/dicom/header_scanner.ts";
import { decodeFileMetaInformation } from "../../../src/core/dicom/part10.ts";
import { Tag } from "../../../src/core/dicom/tags.ts";
import {
  DEFLATED_EXPLICIT_VR_LE,
  EXPLICIT_VR_BE,
  EXPLICIT_VR_LE,
  IMPLICIT_VR_LE,
} from "../../../src/core/dicom/transfer_syntaxes.ts";

// ---- A small dataset writer (PS3.5 7.1) -------------------------------------------------

interface Encoding {
  explicit: boolean;
  le: boolean;
}
const EXPLICIT_LE: Encoding = { explicit: true, le: true };
const IMPLICIT_LE: Encoding = { explicit: false, le: true };
const EXPLICIT_BE: Encoding = { explicit: true, le: false };

const LONG = new Set([
  "OB",
  "OD",
  "OF",
  "OL",
  "OV",
  "OW",
  "SQ",
  "SV",
  "UC",
  "UN",
  "UR",
  "UT",
  "UV",
]);
const UNDEFINED = 0xffffffff;

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function text(value: string, vr: string): Uint8Array {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length % 2 === 0) return bytes;
  return concat([bytes, new Uint8Array([vr === "UI" ? 0 : 0x20])]);
}

/** Element header (+ value); length defaults to the value's, UNDEFINED for undefined length. */
function element(
  enc: Encoding,
  tag: number,
  vr: string,
  value: Uint8Array | string = new Uint8Array(0),
  length?: number,
): Uint8Array {
  const bytes = typeof value === "string" ? text(value, vr) : value;
  const len = length ?? bytes.length;
  const itemish = tag >>> 16 === 0xfffe;
  const headerLength = !enc.explicit || itemish || !LONG.has(vr) ? 8 : 12;
  const head = new Uint8Array(headerLength);
  const v = new DataView(head.buffer);
  v.setUint16(0, tag >>> 16, enc.le);
  v.setUint16(2, tag & 0xffff, enc.le);
  if (!enc.explicit || itemish) v.setUint32(4, len, enc.le);
  else {
    head[4] = vr.charCodeAt(0);
    head[5] = vr.charCodeAt(1);
    if (headerLength === 12) v.setUint32(8, len, enc.le);
    else v.setUint16(6, len, enc.le);
  }
  return concat([head, bytes]);
}

const item = (enc: Encoding, content: Uint8Array, undefinedLength: boolean) =>
  undefinedLength
    ? concat([
      element(enc, Tag.Item, "", new Uint8Array(0), UNDEFINED),
      content,
      element(enc, Tag.ItemDelimitationItem, ""),
    ])
    : element(enc, Tag.Item, "", content);

/** A sequence of undefined length whose items are of undefined length. */
const sequence = (enc: Encoding, tag: number, items: Uint8Array[], vr = "SQ") =>
  concat([
    element(enc, tag, vr, new Uint8Array(0), UNDEFINED),
    ...items.map((c) => item(enc, c, true)),
    element(enc, Tag.SequenceDelimitationItem, ""),
  ]);

// ---- Fixtures -----------------------------------------------------------------------------

const EXPECTED = {
  patientId: "PID-001",
  patientName: "Doe^John",
  patientBirthDate: "19700101",
  patientSex: "M",
  otherPatientIds: "OLD-1\\OLD-22",
  studyInstanceUid: "1.2.826.0.1.3680043.2.1125.1",
  studyDate: "20240102",
  studyTime: "101500",
  accessionNumber: "ACC123",
  studyId: "S1",
  studyDescription: "CT HEAD",
  referringPhysicianName: "Smith^Anna",
  seriesInstanceUid: "1.2.826.0.1.3680043.2.1125.1.2",
  modality: "CT",
  seriesNumber: "3",
  seriesDescription: "AXIAL 5mm",
  bodyPartExamined: "HEAD",
  seriesDate: "20240102",
  seriesTime: "101600",
  sopInstanceUid: "1.2.826.0.1.3680043.2.1125.1.2.3",
  sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
  instanceNumber: "7",
  specificCharacterSet: "ISO_IR 100",
};

/** A CT-like dataset in tag order: nested sequences before the patient module, then pixels. */
function ctDataset(enc: Encoding, options: { omit?: number; pixels?: Uint8Array } = {}) {
  const e = (tag: number, vr: string, value: string | Uint8Array) =>
    tag === options.omit ? new Uint8Array(0) : element(enc, tag, vr, value);
  const nestedItem = concat([
    element(enc, 0x00080100, "SH", "T-A0100"),
    sequence(enc, 0x00400260, [element(enc, 0x00080104, "LO", "nested")]),
    // A defined-length sequence with a defined-length item inside an undefined-length one.
    element(enc, 0x00081140, "SQ", item(enc, element(enc, 0x00081150, "UI", "1.2.3"), false)),
  ]);
  return concat([
    e(Tag.SpecificCharacterSet, "CS", "ISO_IR 100"),
    element(enc, 0x00080008, "CS", "ORIGINAL\\PRIMARY\\AXIAL"),
    e(Tag.SOPClassUID, "UI", EXPECTED.sopClassUid),
    e(Tag.SOPInstanceUID, "UI", EXPECTED.sopInstanceUid),
    e(Tag.StudyDate, "DA", EXPECTED.studyDate),
    e(Tag.SeriesDate, "DA", EXPECTED.seriesDate),
    e(Tag.StudyTime, "TM", EXPECTED.studyTime),
    e(Tag.SeriesTime, "TM", EXPECTED.seriesTime),
    e(Tag.AccessionNumber, "SH", EXPECTED.accessionNumber),
    e(Tag.Modality, "CS", EXPECTED.modality),
    e(Tag.ReferringPhysicianName, "PN", EXPECTED.referringPhysicianName),
    sequence(enc, 0x00081032, [nestedItem, element(enc, 0x00080100, "SH", "X")]),
    e(Tag.StudyDescription, "LO", EXPECTED.studyDescription),
    e(Tag.SeriesDescription, "LO", EXPECTED.seriesDescription),
    e(Tag.PatientName, "PN", EXPECTED.patientName),
    e(Tag.PatientID, "LO", EXPECTED.patientId),
    e(Tag.PatientBirthDate, "DA", EXPECTED.patientBirthDate),
    e(Tag.PatientSex, "CS", EXPECTED.patientSex),
    e(Tag.OtherPatientIDs, "LO", EXPECTED.otherPatientIds),
    e(Tag.BodyPartExamined, "CS", EXPECTED.bodyPartExamined),
    e(Tag.StudyInstanceUID, "UI", EXPECTED.studyInstanceUid),
    e(Tag.SeriesInstanceUID, "UI", EXPECTED.seriesInstanceUid),
    e(Tag.StudyID, "SH", EXPECTED.studyId),
    e(Tag.SeriesNumber, "IS", EXPECTED.seriesNumber),
    e(Tag.InstanceNumber, "IS", EXPECTED.instanceNumber),
    element(enc, 0x00280010, "US", new Uint8Array([2, 0])),
    options.pixels ?? element(enc, Tag.PixelData, "OW", new Uint8Array(8)),
  ]);
}

async function deflate(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function scan(
  ts: string,
  chunks: Iterable<Uint8Array>,
  options?: ConstructorParameters<typeof HeaderScanner>[1],
): Promise<ScannedHeader> {
  const scanner = new HeaderScanner(ts, options);
  for (const c of chunks) await scanner.push(c);
  return scanner.finish();
}

// ---- Tests --------------------------------------------------------------------------------

const SYNTAXES: Array<[string, string, Encoding]> = [
  ["Explicit VR Little Endian", EXPLICIT_VR_LE, EXPLICIT_LE],
  ["Implicit VR Little Endian", IMPLICIT_VR_LE, IMPLICIT_LE],
  ["Explicit VR Big Endian", EXPLICIT_VR_BE, EXPLICIT_BE],
];

for (const [name, ts, enc] of SYNTAXES) {
  Deno.test(`HeaderScanner reads every record attribute in ${name}`, async () => {
    const header = await scan(ts, [ctDataset(enc)]);
    assert.deepEqual(header.record, EXPECTED);
    assert.equal(header.sawPixelData, true);
    assert.equal(new TextDecoder().decode(header.values.get(Tag.PatientID)), "PID-001 ");
  });
}

Deno.test("HeaderScanner reads a deflated dataset, with or without a trailing pad byte", async () => {
  const compressed = await deflate(ctDataset(EXPLICIT_LE));
  const header = await scan(DEFLATED_EXPLICIT_VR_LE, [compressed]);
  assert.deepEqual(header.record, EXPECTED);
  const padded = concat([compressed, new Uint8Array(1)]);
  assert.deepEqual((await scan(DEFLATED_EXPLICIT_VR_LE, [padded])).record, EXPECTED);
});

Deno.test("HeaderScanner reads a deflated dataset split at every offset", async () => {
  const compressed = await deflate(ctDataset(EXPLICIT_LE));
  for (let cut = 0; cut <= compressed.length; cut++) {
    const header = await scan(DEFLATED_EXPLICIT_VR_LE, [
      compressed.slice(0, cut),
      compressed.slice(cut),
    ]);
    assert.deepEqual(header.record, EXPECTED, `cut at ${cut}`);
  }
});

Deno.test("HeaderScanner reads the dataset outside encapsulated pixel data (JPEG 2000)", async () => {
  const enc = EXPLICIT_LE;
  const pixels = concat([
    element(enc, Tag.PixelData, "OB", new Uint8Array(0), UNDEFINED),
    element(enc, Tag.Item, "", new Uint8Array(0)), // empty offset table
    element(enc, Tag.Item, "", new Uint8Array([0xff, 0x4f, 0xff, 0x51])),
    element(enc, Tag.SequenceDelimitationItem, ""),
  ]);
  const header = await scan("1.2.840.10008.1.2.4.90", [ctDataset(enc, { pixels })]);
  assert.deepEqual(header.record, EXPECTED);
  assert.equal(header.sawPixelData, true);
});

for (const [name, ts, enc] of SYNTAXES) {
  Deno.test(`HeaderScanner gives the same record for every chunking (${name})`, async () => {
    const bytes = ctDataset(enc);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const header = await scan(ts, [bytes.subarray(0, cut), bytes.subarray(cut)]);
      assert.deepEqual(header.record, EXPECTED, `cut at ${cut}`);
    }
    const single = Array.from(bytes, (b) => new Uint8Array([b]));
    assert.deepEqual((await scan(ts, single)).record, EXPECTED);
  });
}

Deno.test("HeaderScanner treats an implicit VR private tag of undefined length as a sequence", async () => {
  const enc = IMPLICIT_LE;
  const privateSeq = sequence(enc, 0x00291010, [
    // Bytes that would be a Patient ID if the scanner looked inside.
    element(enc, Tag.PatientID, "LO", "WRONG"),
  ]);
  const bytes = concat([privateSeq, ctDataset(enc)]);
  const header = await scan(IMPLICIT_VR_LE, [bytes]);
  assert.equal(header.record.patientId, "PID-001");
});

Deno.test("HeaderScanner reads UN of undefined length as Implicit VR LE inside (PS3.5 6.2.2)", async () => {
  // Inside the UN the content is implicit VR LE even in a big endian dataset.
  for (const [ts, enc] of [[EXPLICIT_VR_LE, EXPLICIT_LE], [EXPLICIT_VR_BE, EXPLICIT_BE]] as const) {
    const inner = concat([
      element(IMPLICIT_LE, Tag.Item, "", new Uint8Array(0), UNDEFINED),
      element(IMPLICIT_LE, 0x00091001, "", new Uint8Array([0x51, 0x51, 0x51, 0x51])), // "QQ" no VR
      sequence(IMPLICIT_LE, 0x00091002, [element(IMPLICIT_LE, Tag.PatientID, "", "WRONG")]),
      element(IMPLICIT_LE, Tag.ItemDelimitationItem, ""),
      element(IMPLICIT_LE, Tag.SequenceDelimitationItem, ""),
    ]);
    const un = concat([element(enc, 0x00091000, "UN", new Uint8Array(0), UNDEFINED), inner]);
    const header = await scan(ts, [concat([un, ctDataset(enc)])]);
    assert.deepEqual(header.record, EXPECTED);
  }
});

Deno.test("HeaderScanner stops at top-level pixel data and ignores the garbage after it", async () => {
  const garbage = new Uint8Array(1000).map((_, i) => (i * 37) & 0xff);
  for (const pixelTag of [Tag.PixelData, Tag.FloatPixelData, Tag.DoubleFloatPixelData]) {
    const pixels = concat([
      element(EXPLICIT_LE, pixelTag, "OW", new Uint8Array(0), 0x7ffffff0),
      garbage,
    ]);
    const scanner = new HeaderScanner(EXPLICIT_VR_LE);
    await scanner.push(ctDataset(EXPLICIT_LE, { pixels }));
    await scanner.push(garbage);
    assert.equal(scanner.stopped, true);
    const header = await scanner.finish();
    assert.equal(header.sawPixelData, true);
    assert.deepEqual(header.record, EXPECTED);
  }
});

Deno.test("HeaderScanner does not stop at pixel data nested in an icon image sequence", async () => {
  const enc = EXPLICIT_LE;
  const icon = sequence(enc, 0x00880200, [
    concat([
      element(enc, 0x00280010, "US", new Uint8Array([1, 0])),
      element(enc, Tag.PixelData, "OB", new Uint8Array(0), UNDEFINED),
      element(enc, Tag.Item, "", new Uint8Array(0)),
      element(enc, Tag.Item, "", new Uint8Array([1, 2, 3, 4])),
      element(enc, Tag.SequenceDelimitationItem, ""),
    ]),
  ]);
  const header = await scan(EXPLICIT_VR_LE, [concat([icon, ctDataset(enc)])]);
  assert.deepEqual(header.record, EXPECTED);
});

Deno.test("HeaderScanner without pixel data reports sawPixelData false", async () => {
  const bytes = ctDataset(EXPLICIT_LE, { pixels: new Uint8Array(0) });
  const header = await scan(EXPLICIT_VR_LE, [bytes]);
  assert.equal(header.sawPixelData, false);
  assert.deepEqual(header.record, EXPECTED);
});

Deno.test("HeaderScanner decodes names with the dataset's Specific Character Set", async () => {
  const enc = EXPLICIT_LE;
  // deno-fmt-ignore
  const yamada = new Uint8Array([
    0x59, 0x61, 0x6d, 0x61, 0x64, 0x61, 0x5e, 0x54, 0x61, 0x72, 0x6f, 0x75, 0x3d,
    0x1b, 0x24, 0x42, 0x3b, 0x33, 0x45, 0x44, 0x1b, 0x28, 0x42, 0x5e,
    0x1b, 0x24, 0x42, 0x42, 0x40, 0x4f, 0x3a, 0x1b, 0x28, 0x42, 0x3d,
    0x1b, 0x24, 0x42, 0x24, 0x64, 0x24, 0x5e, 0x24, 0x40, 0x1b, 0x28, 0x42, 0x5e,
    0x1b, 0x24, 0x42, 0x24, 0x3f, 0x24, 0x6d, 0x24, 0x26, 0x1b, 0x28, 0x42,
  ]);
  const bytes = concat([
    element(enc, Tag.SpecificCharacterSet, "CS", "\\ISO 2022 IR 87"),
    element(enc, Tag.SOPClassUID, "UI", EXPECTED.sopClassUid),
    element(enc, Tag.SOPInstanceUID, "UI", EXPECTED.sopInstanceUid + "\0\0"), // over-padded
    element(enc, Tag.StudyDescription, "LO", new Uint8Array([0x4a, 0xe9, 0x20, 0x20])),
    element(enc, Tag.PatientName, "PN", yamada),
    element(enc, Tag.StudyInstanceUID, "UI", " " + EXPECTED.studyInstanceUid),
    element(enc, Tag.SeriesInstanceUID, "UI", EXPECTED.seriesInstanceUid),
  ]);
  const { record } = await scan(EXPLICIT_VR_LE, [bytes]);
  assert.equal(record.specificCharacterSet, "\\ISO 2022 IR 87");
  assert.equal(record.patientName, "Yamada^Tarou=山田^太郎=やまだ^たろう");
  assert.equal(record.sopInstanceUid, EXPECTED.sopInstanceUid);
  assert.equal(record.studyInstanceUid, EXPECTED.studyInstanceUid);
  assert.equal(record.studyDescription, "Jé"); // undeclared Latin-1 byte tolerated
  assert.equal(record.patientId, "");
  assert.equal(record.modality, "");
});

Deno.test("HeaderScanner keeps only wanted tags and skips values over maxValueBytes", async () => {
  const enc = EXPLICIT_LE;
  const long = "x".repeat(70 * 1024);
  const bytes = concat([
    element(enc, Tag.SOPClassUID, "UI", EXPECTED.sopClassUid),
    element(enc, Tag.SOPInstanceUID, "UI", EXPECTED.sopInstanceUid),
    element(enc, 0x00080070, "LO", "ACME"), // Manufacturer
    element(enc, Tag.StudyDescription, "UT", long),
    element(enc, Tag.StudyInstanceUID, "UI", EXPECTED.studyInstanceUid),
    element(enc, Tag.SeriesInstanceUID, "UI", EXPECTED.seriesInstanceUid),
  ]);
  const header = await scan(EXPLICIT_VR_LE, [bytes]);
  assert.equal(header.record.studyDescription, "");
  assert.equal(header.values.has(0x00080070), false);
  const wanted = new Set([0x00080070, Tag.SOPClassUID]);
  const custom = await scan(EXPLICIT_VR_LE, [bytes], { wanted, maxValueBytes: 4 }).catch((e) => e);
  assert.ok(custom instanceof HeaderError); // UIDs over 4 bytes not kept: required ones missing
  const mine = new HeaderScanner(EXPLICIT_VR_LE, {
    wanted: new Set([...wanted, Tag.SOPInstanceUID, Tag.StudyInstanceUID, Tag.SeriesInstanceUID]),
  });
  await mine.push(bytes);
  const h = await mine.finish();
  assert.equal(new TextDecoder().decode(h.values.get(0x00080070)), "ACME");
  assert.equal(h.values.has(Tag.StudyDescription), false);
});

Deno.test("HeaderScanner requires the four identifying UIDs", async () => {
  const cases: Array<[number, RegExp]> = [
    [Tag.SOPInstanceUID, /SOP Instance UID/],
    [Tag.SOPClassUID, /SOP Class UID/],
    [Tag.StudyInstanceUID, /Study Instance UID/],
    [Tag.SeriesInstanceUID, /Series Instance UID/],
  ];
  for (const [omit, message] of cases) {
    await assert.rejects(
      scan(EXPLICIT_VR_LE, [ctDataset(EXPLICIT_LE, { omit })]),
      (e: unknown) => e instanceof HeaderError && message.test(e.message),
    );
  }
});

Deno.test("HeaderScanner rejects malformed datasets with HeaderError", async () => {
  const enc = EXPLICIT_LE;
  const good = ctDataset(enc, { pixels: new Uint8Array(0) });
  let deep: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < 200; i++) deep = sequence(enc, 0x00081032, [deep]);
  const cases: Array<[string, Uint8Array, string?]> = [
    ["value running past the end", good.subarray(0, good.length - 1)],
    ["header cut short", concat([good, new Uint8Array([0x08, 0x00, 0x20])])],
    ["bad VR", concat([good, new Uint8Array([0x08, 0x00, 0x70, 0x00, 0x3f, 0x3f, 0x00, 0x00])])],
    [
      "short-VR value longer than the data",
      concat([element(enc, 0x00081030, "LO", new Uint8Array(0), 0xffff), good]),
    ],
    [
      "undefined length on UT",
      concat([element(enc, 0x00081030, "UT", new Uint8Array(0), UNDEFINED), good]),
    ],
    [
      "undefined length on OB other than pixel data",
      concat([element(enc, 0x00420011, "OB", new Uint8Array(0), UNDEFINED), good]),
    ],
    ["nesting too deep", concat([deep, good])],
    [
      "unterminated sequence",
      concat([good, element(enc, 0x00400275, "SQ", new Uint8Array(0), UNDEFINED)]),
    ],
    ["item at top level", concat([element(enc, Tag.Item, "", new Uint8Array(0), UNDEFINED), good])],
    [
      "element directly in a sequence",
      concat([element(enc, 0x00400275, "SQ", new Uint8Array(0), UNDEFINED), good]),
    ],
    ["stray sequence delimiter", concat([element(enc, Tag.SequenceDelimitationItem, ""), good])],
    [
      "implicit value past the end",
      element(IMPLICIT_LE, 0x00100010, "", new Uint8Array(4), 1000),
      IMPLICIT_VR_LE,
    ],
    ["corrupt deflate", new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), DEFLATED_EXPLICIT_VR_LE],
  ];
  for (const [name, bytes, ts] of cases) {
    await assert.rejects(scan(ts ?? EXPLICIT_VR_LE, [bytes]), HeaderError, name);
  }
});

Deno.test("HeaderScanner throws only HeaderError on truncated or mutated input", async () => {
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (const [, ts, enc] of SYNTAXES) {
    const good = ctDataset(enc);
    for (let round = 0; round < 300; round++) {
      const bytes = good.slice(0, 1 + Math.floor(random() * good.length));
      for (let k = 0; k < 3; k++) bytes[Math.floor(random() * bytes.length)] = random() * 256;
      try {
        await scan(ts, [bytes]);
      } catch (e) {
        assert.ok(e instanceof HeaderError, `round ${round}: ${e}`);
      }
    }
  }
  const compressed = await deflate(ctDataset(EXPLICIT_LE));
  for (let round = 0; round < 100; round++) {
    const bytes = compressed.slice(0, 1 + Math.floor(random() * compressed.length));
    bytes[Math.floor(random() * bytes.length)] = random() * 256;
    try {
      await scan(DEFLATED_EXPLICIT_VR_LE, [bytes]);
    } catch (e) {
      assert.ok(e instanceof HeaderError, `deflate round ${round}: ${e}`);
    }
  }
});

// The two memory tests measure the resident memory of a process of their own: under
// `deno test --parallel` other test files share this one, and their memory would count.
const MEMORY_TESTS = /^HeaderScanner .* in bounded memory$/;
const IN_CHILD = Deno.env.get("MINIPACS_HEADER_SCANNER_CHILD") === "1";

if (IN_CHILD) {
  Deno.test("HeaderScanner skips a 200 MB value in bounded memory", async () => {
    const enc = EXPLICIT_LE;
    const size = 200 * 1024 * 1024;
    const chunk = new Uint8Array(1024 * 1024).fill(0x41);
    function* chunks(): Generator<Uint8Array> {
      yield concat([
        element(enc, Tag.SOPClassUID, "UI", EXPECTED.sopClassUid),
        element(enc, Tag.SOPInstanceUID, "UI", EXPECTED.sopInstanceUid),
        element(enc, 0x00091010, "OB", new Uint8Array(0), size), // private, before patient module
      ]);
      for (let sent = 0; sent < size; sent += chunk.length) yield chunk; // the same buffer again
      yield concat([
        element(enc, Tag.PatientID, "LO", "BIG"),
        element(enc, Tag.StudyInstanceUID, "UI", EXPECTED.studyInstanceUid),
        element(enc, Tag.SeriesInstanceUID, "UI", EXPECTED.seriesInstanceUid),
      ]);
    }
    const before = Deno.memoryUsage().rss;
    const header = await scan(EXPLICIT_VR_LE, chunks());
    const grown = peakRss() - before;
    assert.equal(header.record.patientId, "BIG");
    assert.ok(grown < 64 * 1024 * 1024, `rss grew ${grown} bytes`);
  });
}

/** Peak resident memory of this process so far (VmHWM), or its current RSS without /proc. */
function peakRss(): number {
  try {
    const kb = /^VmHWM:\s+(\d+)\s+kB/m.exec(Deno.readTextFileSync("/proc/self/status"));
    if (kb) return Number(kb[1]) * 1024;
  } catch { /* no /proc */ }
  return Deno.memoryUsage().rss;
}

if (!IN_CHILD) {
  Deno.test("HeaderScanner skips and inflates large values in bounded memory (own process)", async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        "-A",
        "--no-check",
        "--filter",
        `/${MEMORY_TESTS.source}/`,
        new URL(import.meta.url).pathname,
      ],
      env: { MINIPACS_HEADER_SCANNER_CHILD: "1", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.match(log, /2 passed/, log);
    assert.equal(out.code, 0, log);
  });
}

if (IN_CHILD) {
  Deno.test("HeaderScanner inflates and skips a 192 MB deflated value in bounded memory", async () => {
    const enc = EXPLICIT_LE;
    const size = 192 * 1024 * 1024;
    const zeros = new Uint8Array(1024 * 1024);
    const head = concat([
      element(enc, Tag.SOPClassUID, "UI", EXPECTED.sopClassUid),
      element(enc, Tag.SOPInstanceUID, "UI", EXPECTED.sopInstanceUid),
      element(enc, 0x00091010, "OB", new Uint8Array(0), size),
    ]);
    const tail = concat([
      element(enc, Tag.StudyInstanceUID, "UI", EXPECTED.studyInstanceUid),
      element(enc, Tag.SeriesInstanceUID, "UI", EXPECTED.seriesInstanceUid),
    ]);
    let sent = -1;
    const source = new ReadableStream<Uint8Array<ArrayBuffer>>({
      pull(controller) {
        if (sent < 0) controller.enqueue(head);
        else if (sent < size) controller.enqueue(zeros);
        else if (sent === size) controller.enqueue(tail);
        else controller.close();
        sent += sent < 0 ? 1 : zeros.length;
      },
    });
    const scanner = new HeaderScanner(DEFLATED_EXPLICIT_VR_LE);
    const before = Deno.memoryUsage().rss;
    for await (const piece of source.pipeThrough(new CompressionStream("deflate-raw"))) {
      await scanner.push(piece);
    }
    const header = await scanner.finish();
    const grown = peakRss() - before;
    assert.equal(header.record.seriesInstanceUid, EXPECTED.seriesInstanceUid);
    // Buffering the value would take 192 MB; garbage not yet collected accounts for the rest.
    assert.ok(grown < 96 * 1024 * 1024, `peak RSS grew ${grown} bytes`);
  });
}

Deno.test("HeaderScanner agrees with files written by DCMTK dump2dcm", async () => {
  const tool = "/usr/bin/dump2dcm";
  try {
    await Deno.stat(tool);
  } catch {
    console.log("skip: dump2dcm (DCMTK) not installed");
    return;
  }
  const dir = await Deno.makeTempDir();
  try {
    const dump = [
      "(0008,0005) CS [ISO_IR 100]",
      `(0008,0016) UI [${EXPECTED.sopClassUid}]`,
      `(0008,0018) UI [${EXPECTED.sopInstanceUid}]`,
      "(0008,0020) DA [20240102]",
      "(0008,0060) CS [CT]",
      "(0008,1032) SQ (Sequence with undefined length #=1)",
      "  (fffe,e000) na (Item with undefined length #=1)",
      "    (0008,0100) SH [T-A0100]",
      "  (fffe,e00d) na (ItemDelimitationItem)",
      "(fffe,e0dd) na (SequenceDelimitationItem)",
      "(0009,0010) LO [ACME]",
      "(0009,1001) LO [private]",
      "(0010,0010) PN [Müller^Jürgen]",
      "(0010,0020) LO [PID-9]",
      "(0010,1000) LO [A\\B]",
      `(0020,000d) UI [${EXPECTED.studyInstanceUid}]`,
      `(0020,000e) UI [${EXPECTED.seriesInstanceUid}]`,
      "(0020,0013) IS [12]",
      "(0028,0010) US 2",
      "(0028,0011) US 2",
      "(7fe0,0010) OW 0001\\0002\\0003\\0004",
    ].join("\n");
    // dump2dcm reads the dump bytes as-is: write Latin-1 for ISO_IR 100.
    await Deno.writeFile(
      `${dir}/in.dump`,
      Uint8Array.from(dump, (c) => c.charCodeAt(0)),
    );
    for (const flag of ["+te", "+ti", "+tb", "+td"]) {
      for (const lengths of ["+e", "-e"]) {
        const out = await new Deno.Command(tool, {
          args: [flag, lengths, `${dir}/in.dump`, `${dir}/out.dcm`],
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        const file = await Deno.readFile(`${dir}/out.dcm`);
        const { meta, datasetOffset } = decodeFileMetaInformation(file);
        const dataset = file.subarray(datasetOffset);
        const header = await scan(meta.transferSyntaxUid, [
          dataset.subarray(0, 100),
          dataset.subarray(100),
        ]);
        const label = `${flag} ${lengths}`;
        assert.equal(header.record.patientName, "Müller^Jürgen", label);
        assert.equal(header.record.patientId, "PID-9", label);
        assert.equal(header.record.otherPatientIds, "A\\B", label);
        assert.equal(header.record.instanceNumber, "12", label);
        assert.equal(header.record.sopInstanceUid, EXPECTED.sopInstanceUid, label);
        assert.equal(header.record.seriesInstanceUid, EXPECTED.seriesInstanceUid, label);
        assert.equal(header.record.modality, "CT", label);
        assert.equal(header.sawPixelData, true, label);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
