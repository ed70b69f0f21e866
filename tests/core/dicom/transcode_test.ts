import assert from "node:assert/strict";
import {
  canTranscode,
  DatasetTranscoder,
  transcodeDataset,
  TranscodeError,
} from "../../../src/core/dicom/transcode.ts";

const ILE = "1.2.840.10008.1.2";
const ELE = "1.2.840.10008.1.2.1";
const EBE = "1.2.840.10008.1.2.2";
const JPEG = "1.2.840.10008.1.2.4.50";

// ---- a small test encoder and an independent value walker ----

interface El {
  tag: number;
  vr: string;
  value?: Uint8Array;
  items?: El[][];
  /** Sequence and items written with undefined length. */
  undefinedLength?: boolean;
}

interface Enc {
  explicit: boolean;
  little: boolean;
}

const ENC: Record<string, Enc> = {
  [ILE]: { explicit: false, little: true },
  [ELE]: { explicit: true, little: true },
  [EBE]: { explicit: true, little: false },
};
const LONG = new Set("OB OD OF OL OV OW SQ SV UC UN UR UT UV".split(" "));
const WORD: Record<string, number> = {
  AT: 2,
  FD: 8,
  FL: 4,
  OD: 8,
  OF: 4,
  OL: 4,
  OW: 2,
  SL: 4,
  SS: 2,
  UL: 4,
  US: 2,
};
const UNDEF = 0xffffffff;

function cat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function swap(v: Uint8Array, vr: string): Uint8Array {
  const w = WORD[vr] ?? 1;
  const out = v.slice();
  for (let i = 0; i + w <= v.length; i += w) {
    for (let k = 0; k < w; k++) out[i + k] = v[i + w - 1 - k];
  }
  return out;
}

function head(tag: number, vr: string | null, length: number, e: Enc): Uint8Array {
  const explicit = e.explicit && vr !== null;
  const long = explicit && LONG.has(vr!);
  const out = new Uint8Array(explicit && long ? 12 : 8);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, tag >>> 16, e.little);
  dv.setUint16(2, tag & 0xffff, e.little);
  if (!explicit) dv.setUint32(4, length, e.little);
  else {
    out[4] = vr!.charCodeAt(0);
    out[5] = vr!.charCodeAt(1);
    if (long) dv.setUint32(8, length, e.little);
    else dv.setUint16(6, length, e.little);
  }
  return out;
}

/** Values are given little endian; Big Endian output swaps them. */
function encode(elements: El[], e: Enc): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const el of elements) {
    if (el.items) {
      const body: Uint8Array[] = [];
      for (const item of el.items) {
        const inner = encode(item, el.vr === "UN" ? ENC[ILE] : e);
        if (el.undefinedLength) {
          body.push(head(0xfffee000, null, UNDEF, e), inner, head(0xfffee00d, null, 0, e));
        } else body.push(head(0xfffee000, null, inner.length, e), inner);
      }
      if (el.undefinedLength) body.push(head(0xfffee0dd, null, 0, e));
      const content = cat(body);
      parts.push(head(el.tag, el.vr, el.undefinedLength ? UNDEF : content.length, e), content);
      continue;
    }
    const v = el.value ?? new Uint8Array(0);
    parts.push(head(el.tag, el.vr, v.length, e), e.little ? v : swap(v, el.vr));
  }
  return cat(parts);
}

/**
 * Every value in a dataset as "path tag = hex" lines, little endian, group lengths left out.
 * Implicit VR: `sequences` says which tags are sequences (undefined length ones always are).
 */
function valuesOf(bytes: Uint8Array, ts: string, sequences: Set<number>): string[] {
  const e = ENC[ts];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: string[] = [];
  const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  const tagAt = (at: number, le: boolean) =>
    ((dv.getUint16(at, le) << 16) | dv.getUint16(at + 2, le)) >>> 0;
  // Reads elements from `at` until `end` or a delimiter; returns the offset after.
  const walk = (at: number, end: number, explicit: boolean, le: boolean, path: string): number => {
    while (at < end) {
      const tag = tagAt(at, le);
      if (tag === 0xfffee00d || tag === 0xfffee0dd) return at + 8;
      let vr = "";
      let length: number;
      if (explicit) {
        vr = String.fromCharCode(bytes[at + 4], bytes[at + 5]);
        if (LONG.has(vr)) {
          length = dv.getUint32(at + 8, le);
          at += 12;
        } else {
          length = dv.getUint16(at + 6, le);
          at += 8;
        }
      } else {
        length = dv.getUint32(at + 4, le);
        at += 8;
      }
      const name = `${path}${tag.toString(16).padStart(8, "0")}`;
      const isSeq = explicit
        ? vr === "SQ" || (vr === "UN" && length === UNDEF)
        : sequences.has(tag) || length === UNDEF;
      if (isSeq) {
        const innerExplicit = explicit && vr === "SQ";
        const innerLe = innerExplicit ? le : true;
        const seqEnd = length === UNDEF ? Infinity : at + length;
        let n = 0;
        while (at < seqEnd) {
          const t = tagAt(at, innerLe);
          const len = dv.getUint32(at + 4, innerLe);
          at += 8;
          if (t === 0xfffee0dd) break;
          assert.equal(t, 0xfffee000, "item expected");
          at = walk(
            at,
            len === UNDEF ? Infinity : at + len,
            innerExplicit,
            innerLe,
            `${name}/${n++}/`,
          );
        }
        out.push(`${name} items=${n}`);
        continue;
      }
      const raw = bytes.subarray(at, at + length);
      if ((tag & 0xffff) !== 0) out.push(`${name} = ${hex(le ? raw : swap(raw, vr))}`);
      at += length;
    }
    return at;
  };
  walk(0, bytes.length, e.explicit, e.little, "");
  return out;
}

function transcodeAll(
  bytes: Uint8Array,
  from: string,
  to: string,
  chunk = bytes.length,
): Uint8Array {
  const t = new DatasetTranscoder(from, to);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += chunk) {
    for (const p of t.push(bytes.slice(i, i + chunk))) parts.push(p.slice());
  }
  parts.push(...t.end());
  return cat(parts);
}

const text = (s: string) => new TextEncoder().encode(s.length % 2 ? s + " " : s);
const uid = (s: string) => new TextEncoder().encode(s.length % 2 ? s + "\0" : s);
const u16 = (...n: number[]) => new Uint8Array(new Uint16Array(n).buffer);
const f32 = (...n: number[]) => new Uint8Array(new Float32Array(n).buffer);

const REFERENCED_SERIES = 0x00081115;
const REFERENCED_IMAGE = 0x00081140;
const SEQUENCES = new Set([REFERENCED_SERIES, REFERENCED_IMAGE]);

/** A dataset with nested sequences (defined and undefined length), binary values, privates. */
function sample(opts: { bits?: 8 | 16 } = {}): El[] {
  const bits = opts.bits ?? 16;
  const pixels = new Uint8Array(64);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37) & 0xff;
  return [
    { tag: 0x00080005, vr: "CS", value: text("ISO_IR 100") },
    { tag: 0x00080016, vr: "UI", value: uid("1.2.840.10008.5.1.4.1.1.2") },
    { tag: 0x00080018, vr: "UI", value: uid("1.2.3.4.5") },
    {
      tag: 0x00081115,
      vr: "SQ",
      items: [[
        { tag: 0x0020000e, vr: "UI", value: uid("1.2.3.9") },
        {
          tag: REFERENCED_IMAGE,
          vr: "SQ",
          undefinedLength: true,
          items: [
            [{ tag: 0x00081150, vr: "UI", value: uid("1.2.840.10008.5.1.4.1.1.2") }],
            [{ tag: 0x00081155, vr: "UI", value: uid("1.2.3.4.6") }],
          ],
        },
      ]],
    },
    { tag: 0x00090010, vr: "LO", value: text("ACME 1.0") },
    { tag: 0x00091001, vr: "LO", value: text("private text") },
    { tag: 0x00100010, vr: "PN", value: text("Müller^Jürgen") },
    { tag: 0x00181152, vr: "IS", value: text("120") },
    { tag: 0x00209157, vr: "UL", value: new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0]) },
    { tag: 0x00280010, vr: "US", value: u16(4) },
    { tag: 0x00280011, vr: "US", value: u16(bits === 8 ? 16 : 8) },
    { tag: 0x00280100, vr: "US", value: u16(bits) },
    { tag: 0x00280103, vr: "US", value: u16(0) },
    { tag: 0x00281052, vr: "DS", value: text("-1024") },
    { tag: 0x00209165, vr: "AT", value: u16(0x0020, 0x9057) },
    { tag: 0x00189219, vr: "SS", value: u16(0xfffe) },
    { tag: 0x00720066, vr: "FL", value: f32(1.5, -2.25) },
    { tag: 0x7fe00010, vr: bits === 8 ? "OB" : "OW", value: pixels },
  ];
}

Deno.test("canTranscode(): uncompressed both ways, deflated and compressed into uncompressed", () => {
  assert.ok(canTranscode(ELE, ILE));
  assert.ok(canTranscode(ILE, ELE));
  assert.ok(canTranscode(EBE, ELE));
  assert.ok(canTranscode(EBE, ILE));
  assert.ok(!canTranscode(ELE, ELE), "same syntax: nothing to do");
  assert.ok(!canTranscode(ELE, EBE), "Big Endian is a target of decoded images only");
  assert.ok(canTranscode(JPEG, ELE), "compressed pixels are decoded");
  assert.ok(canTranscode(JPEG, ILE));
  assert.ok(canTranscode(JPEG, EBE));
  assert.ok(!canTranscode(ELE, JPEG), "nothing is compressed here");
  assert.ok(canTranscode("1.2.840.10008.1.2.1.99", ELE), "deflated is inflated");
  assert.ok(canTranscode("1.2.840.10008.1.2.1.99", ILE));
  assert.ok(!canTranscode("1.2.840.10008.1.2.4.100", ILE), "MPEG-2 video is not decoded");
  assert.ok(!canTranscode("1.2.840.10008.1.2.4.110", ILE), "JPEG XL is not decoded");
  // The streaming header re-encoder itself handles the uncompressed syntaxes only.
  assert.throws(() => new DatasetTranscoder(JPEG, ELE), TranscodeError);
});

Deno.test("Explicit VR LE -> Implicit VR LE keeps every value byte for byte", () => {
  const source = encode(sample(), ENC[ELE]);
  const out = transcodeAll(source, ELE, ILE);
  assert.deepEqual(valuesOf(out, ILE, SEQUENCES), valuesOf(source, ELE, SEQUENCES));
  assert.ok(valuesOf(out, ILE, SEQUENCES).some((l) => l.includes("00081140 items=2")));
});

Deno.test("Implicit VR LE -> Explicit VR LE keeps values and takes VRs from the dictionary", () => {
  const source = encode(sample(), ENC[ILE]);
  const out = transcodeAll(source, ILE, ELE);
  assert.deepEqual(valuesOf(out, ELE, SEQUENCES), valuesOf(source, ILE, SEQUENCES));
  const vrOf = (tag: number): string => {
    // The first explicit header with this tag at the top level or inside.
    const dv = new DataView(out.buffer, out.byteOffset);
    for (let i = 0; i + 6 <= out.length; i += 2) {
      if (((dv.getUint16(i, true) << 16) | dv.getUint16(i + 2, true)) >>> 0 === tag) {
        return String.fromCharCode(out[i + 4], out[i + 5]);
      }
    }
    return "";
  };
  assert.equal(vrOf(0x00100010), "PN");
  assert.equal(vrOf(0x00081115), "SQ");
  assert.equal(vrOf(0x00090010), "LO", "private creator");
  assert.equal(vrOf(0x00091001), "UN", "private element without a dictionary");
  assert.equal(vrOf(0x00209165), "AT");
  assert.equal(vrOf(0x7fe00010), "OW", "16-bit pixels");
  const eight = transcodeAll(encode(sample({ bits: 8 }), ENC[ILE]), ILE, ELE);
  const at = eight.length - 64 - 12;
  assert.equal(String.fromCharCode(eight[at + 4], eight[at + 5]), "OB", "8-bit pixels");
});

Deno.test("Implicit -> Explicit -> Implicit returns the original values", () => {
  const source = encode(sample(), ENC[ILE]);
  const back = transcodeAll(transcodeAll(source, ILE, ELE), ELE, ILE);
  assert.deepEqual(valuesOf(back, ILE, SEQUENCES), valuesOf(source, ILE, SEQUENCES));
});

Deno.test("Explicit VR Big Endian -> Little Endian swaps binary values, not text", () => {
  const source = encode(sample(), ENC[EBE]);
  for (const to of [ELE, ILE]) {
    const out = transcodeAll(source, EBE, to);
    assert.deepEqual(valuesOf(out, to, SEQUENCES), valuesOf(source, EBE, SEQUENCES), to);
  }
  const out = transcodeAll(source, EBE, ELE);
  const pixelsAt = out.length - 64;
  assert.equal(out[pixelsAt], 0, "first OW word, little endian");
  assert.equal(out[pixelsAt + 1], 37);
  // Explicit LE source bytes equal the Big Endian ones converted.
  assert.deepEqual(
    valuesOf(out, ELE, SEQUENCES),
    valuesOf(encode(sample(), ENC[ELE]), ELE, SEQUENCES),
  );
});

Deno.test("output is the same whatever the input chunking (headers and words split)", () => {
  for (const [from, to] of [[ELE, ILE], [ILE, ELE], [EBE, ELE], [EBE, ILE]]) {
    const source = encode(sample(), ENC[from]);
    const whole = transcodeAll(source, from, to);
    for (const chunk of [1, 3, 7, 13]) {
      assert.deepEqual(transcodeAll(source, from, to, chunk), whole, `${from}->${to} by ${chunk}`);
    }
  }
});

Deno.test("defined-length sequences and items become undefined length with delimiters", () => {
  const source = encode(sample(), ENC[ELE]);
  const out = transcodeAll(source, ELE, ILE);
  const dv = new DataView(out.buffer, out.byteOffset);
  let seqDelimiters = 0;
  let itemDelimiters = 0;
  for (let i = 0; i + 8 <= out.length; i += 2) {
    const tag = ((dv.getUint16(i, true) << 16) | dv.getUint16(i + 2, true)) >>> 0;
    if (tag === 0xfffee0dd && dv.getUint32(i + 4, true) === 0) seqDelimiters++;
    if (tag === 0xfffee00d && dv.getUint32(i + 4, true) === 0) itemDelimiters++;
  }
  assert.equal(seqDelimiters, 2, "both sequences delimited");
  assert.equal(itemDelimiters, 3, "all three items delimited");
});

Deno.test("a UN of undefined length passes through unchanged (Implicit VR LE inside)", () => {
  const un: El = {
    tag: 0x00091010,
    vr: "UN",
    undefinedLength: true,
    items: [[{ tag: 0x00100020, vr: "LO", value: text("ID42") }]],
  };
  const source = encode([{ tag: 0x00080018, vr: "UI", value: uid("1.2.3") }, un], ENC[ELE]);
  const out = transcodeAll(source, ELE, ILE);
  const inner = encode([un], ENC[ELE]).subarray(12); // after the UN header
  assert.deepEqual(out.subarray(out.length - inner.length), inner);
  assert.deepEqual(valuesOf(out, ILE, SEQUENCES), valuesOf(source, ELE, SEQUENCES));
});

Deno.test("group lengths are dropped (their values would be wrong)", () => {
  const source = encode([
    { tag: 0x00080000, vr: "UL", value: new Uint8Array([10, 0, 0, 0]) },
    { tag: 0x00080018, vr: "UI", value: uid("1.2.3") },
  ], ENC[ELE]);
  const out = transcodeAll(source, ELE, ILE);
  assert.equal(out.length, 8 + 6);
  assert.equal(new DataView(out.buffer).getUint16(2, true), 0x0018);
});

Deno.test("encapsulated Pixel Data and cut datasets are refused with TranscodeError", () => {
  const encapsulated = cat([
    head(0x7fe00010, "OB", UNDEF, ENC[ELE]),
    head(0xfffee000, null, 0, ENC[ELE]),
    head(0xfffee0dd, null, 0, ENC[ELE]),
  ]);
  assert.throws(() => transcodeAll(encapsulated, ELE, ILE), /encapsulated/);
  const source = encode(sample(), ENC[ELE]);
  assert.throws(() => transcodeAll(source.subarray(0, source.length - 5), ELE, ILE), /ends inside/);
  const badVr = encode([{ tag: 0x00100010, vr: "PN", value: text("X^Y") }], ENC[ELE]);
  badVr[4] = 0x3f;
  assert.throws(() => transcodeAll(badVr, ELE, ILE), /bad VR/);
});

Deno.test("a large value streams through: each chunk's output comes out at once", async () => {
  const size = 32 * 1024 * 1024;
  const headBytes = head(0x7fe00010, "OW", size, ENC[EBE]);
  const chunk = new Uint8Array(1024 * 1024).fill(0x12);
  chunk[0] = 0x34;
  let pushed = 0;
  async function* source() {
    yield headBytes;
    for (let i = 0; i < size / chunk.length; i++) {
      pushed += chunk.length;
      yield chunk;
    }
  }
  let emitted = 0;
  let maxLag = 0;
  let first: Uint8Array | undefined;
  for await (const piece of transcodeDataset(source(), EBE, ELE)) {
    if (emitted > 0 || piece.length > 12) first ??= piece.length > 12 ? piece.slice(0, 2) : first;
    emitted += piece.length;
    maxLag = Math.max(maxLag, pushed - (emitted - 12));
  }
  assert.equal(emitted, size + 12);
  assert.ok(maxLag <= chunk.length, `output lags input by at most one chunk (${maxLag})`);
  assert.deepEqual(first, new Uint8Array([0x12, 0x34]), "words swapped");
});
