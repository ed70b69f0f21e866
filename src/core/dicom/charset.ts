// Specific Character Set (0008,0005): decoding string values (PS3.5 6.1, PS3.3 C.12.1.1.2),
// including ISO 2022 code extensions with escape sequences (PS3.5 6.1.2.5, Annexes H, I, J).

/** What is designated to G0 (bytes 0x21-0x7E) and G1 (bytes 0xA1-0xFE). */
type G0 = "ascii" | "jisx0208" | "jisx0212";
type G1 =
  | { kind: "single"; label: string } // an ISO 8859 right half, decoded with a WHATWG single-byte label
  | { kind: "katakana" } // JIS X 0201 katakana
  | { kind: "multi"; label: "euc-kr" | "gbk" } // KS X 1001 or GB 2312 in G1
  | null;

interface Designation {
  g0: G0;
  g1: G1;
}

const ASCII: Designation = { g0: "ascii", g1: null };
const single = (label: string): Designation => ({ g0: "ascii", g1: { kind: "single", label } });

// Defined Terms of PS3.3 Table C.12-2/C.12-3/C.12-4, keyed by name without spaces, "_" or "-"
// so that "ISO_IR 100", "ISO 2022 IR 100" and common misspellings ("ISO-IR 100") all match.
const SINGLE_BYTE: Record<string, Designation> = {
  "": ASCII,
  "6": ASCII,
  "100": single("windows-1252"), // Latin-1; windows-1252 only adds printables in C1
  "101": single("iso-8859-2"),
  "109": single("iso-8859-3"),
  "110": single("iso-8859-4"),
  "144": single("iso-8859-5"),
  "127": single("iso-8859-6"),
  "126": single("iso-8859-7"),
  "138": single("iso-8859-8"),
  "148": single("windows-1254"), // ISO 8859-9 (Latin-5)
  "203": single("iso-8859-15"),
  "166": single("windows-874"), // TIS 620-2533
  "13": { g0: "ascii", g1: { kind: "katakana" } }, // JIS X 0201: Romaji G0, Katakana G1
};
const MULTI_BYTE: Record<string, Designation> = {
  "87": { g0: "jisx0208", g1: null },
  "159": { g0: "jisx0212", g1: null },
  "149": { g0: "ascii", g1: { kind: "multi", label: "euc-kr" } },
  "58": { g0: "ascii", g1: { kind: "multi", label: "gbk" } },
};
/** Character sets that allow no code extensions: the whole value is decoded at once. */
const WHOLE_VALUE: Record<string, string> = {
  ISOIR192: "utf-8",
  UTF8: "utf-8",
  GB18030: "gb18030",
  GBK: "gbk",
};

// ISO 2022 escape sequences (PS3.3 Table C.12-3, C.12-4): bytes after ESC -> new designation.
const ESCAPES: ReadonlyArray<readonly [string, Partial<Designation>]> = [
  ["(B", { g0: "ascii" }],
  ["(J", { g0: "ascii" }], // JIS X 0201 Romaji
  ["$B", { g0: "jisx0208" }],
  ["$@", { g0: "jisx0208" }], // JIS C 6226-1978, a subset in practice
  ["$(D", { g0: "jisx0212" }],
  [")I", { g1: { kind: "katakana" } }],
  ["$)C", { g1: { kind: "multi", label: "euc-kr" } }],
  ["$)A", { g1: { kind: "multi", label: "gbk" } }],
  ["-A", { g1: { kind: "single", label: "windows-1252" } }],
  ["-B", { g1: { kind: "single", label: "iso-8859-2" } }],
  ["-C", { g1: { kind: "single", label: "iso-8859-3" } }],
  ["-D", { g1: { kind: "single", label: "iso-8859-4" } }],
  ["-L", { g1: { kind: "single", label: "iso-8859-5" } }],
  ["-G", { g1: { kind: "single", label: "iso-8859-6" } }],
  ["-F", { g1: { kind: "single", label: "iso-8859-7" } }],
  ["-H", { g1: { kind: "single", label: "iso-8859-8" } }],
  ["-M", { g1: { kind: "single", label: "windows-1254" } }],
  ["-b", { g1: { kind: "single", label: "iso-8859-15" } }],
  ["-T", { g1: { kind: "single", label: "windows-874" } }],
];

const ESC = 0x1b;

const decoders = new Map<string, TextDecoder>();
function decoder(label: string, fatal = false): TextDecoder {
  const key = fatal ? label + "!" : label;
  let d = decoders.get(key);
  if (!d) {
    d = new TextDecoder(label, { fatal });
    decoders.set(key, d);
  }
  return d;
}

/** Bytes 0x80-0xFF of a single-byte set as a 128-character string (built once per set). */
const highHalves = new Map<string, string>();
function highHalf(label: string): string {
  let table = highHalves.get(label);
  if (table === undefined) {
    const bytes = new Uint8Array(128);
    for (let i = 0; i < 128; i++) bytes[i] = 0x80 + i;
    table = decoder(label).decode(bytes);
    highHalves.set(label, table);
  }
  return table;
}

function key(term: string): string {
  return term.trim().toUpperCase().replace(/[\s_-]/g, "");
}

interface Parsed {
  whole?: string; // a WHATWG label for the whole value
  initial: Designation;
  /** A multi-byte G1 set named in a later value, for senders that omit the escapes. */
  fallbackG1: G1;
}

const parsedCache = new Map<string, Parsed>();

function parse(specificCharacterSet: string): Parsed {
  const cached = parsedCache.get(specificCharacterSet);
  if (cached) return cached;
  const terms = specificCharacterSet.split("\\").map(key);
  let result: Parsed = { initial: ASCII, fallbackG1: null };
  const first = terms[0];
  if (first in WHOLE_VALUE) result = { whole: WHOLE_VALUE[first], ...result };
  else {
    const def = designationOf(first);
    // G0 starts as ASCII; value 1 designates G1 (PS3.5 6.1.2.5.3).
    if (def) result.initial = { g0: "ascii", g1: def.g1 };
    for (const t of terms.slice(1)) {
      const g1 = designationOf(t)?.g1;
      if (g1?.kind === "multi" && !result.fallbackG1) result.fallbackG1 = g1;
    }
  }
  if (parsedCache.size < 64) parsedCache.set(specificCharacterSet, result);
  return result;
}

function designationOf(term: string): Designation | undefined {
  const number = term.replace(/^ISO(2022)?IR/, "");
  if (number === term && term !== "") return undefined;
  return SINGLE_BYTE[number] ?? MULTI_BYTE[number];
}

/** Default repertoire with stray 8-bit bytes: UTF-8 when valid, else Latin-1 (tolerance). */
function decodeUndeclared(bytes: Uint8Array): string {
  try {
    return decoder("utf-8", true).decode(bytes);
  } catch {
    return decoder("windows-1252").decode(bytes);
  }
}

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] >= 0x80 || bytes[i] === ESC) return false;
  return true;
}

/**
 * Decodes a string value's bytes according to Specific Character Set (0008,0005): the value
 * may be multi-valued (backslash-separated) with ISO 2022 escape sequences switching sets.
 * With isPn, "^" and "=" also return to the initial sets (PS3.5 6.1.2.5.3).
 */
export function decodeString(
  bytes: Uint8Array,
  specificCharacterSet: string,
  isPn = false,
): string {
  if (isAscii(bytes)) return decoder("windows-1252").decode(bytes);
  const parsed = parse(specificCharacterSet);
  if (parsed.whole) return decoder(parsed.whole).decode(bytes);
  if (!bytes.includes(ESC)) {
    const g1 = parsed.initial.g1;
    if (g1 === null && parsed.fallbackG1 === null) return decodeUndeclared(bytes);
    if (g1?.kind === "single") return decoder(g1.label).decode(bytes);
  }
  return decodeIso2022(bytes, parsed, isPn);
}

function decodeIso2022(bytes: Uint8Array, parsed: Parsed, isPn: boolean): string {
  const out: string[] = [];
  let g0: G0 = parsed.initial.g0;
  let g1: G1 = parsed.initial.g1;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b === ESC) {
      const match = ESCAPES.find(([seq]) => matches(bytes, i + 1, seq));
      if (match) {
        const [seq, change] = match;
        if (change.g0) g0 = change.g0;
        if (change.g1 !== undefined) g1 = change.g1;
        i += 1 + seq.length;
      } else i += 1; // unknown escape: drop the ESC
      continue;
    }
    if (g0 !== "ascii" && b >= 0x21 && b <= 0x7e) {
      let end = i;
      while (end < bytes.length && bytes[end] >= 0x21 && bytes[end] <= 0x7e) end++;
      out.push(decodeJis(bytes.subarray(i, end), g0));
      i = end;
      continue;
    }
    if (b < 0x80) {
      out.push(String.fromCharCode(b));
      i++;
      // Delimiters return to the initial sets (PS3.5 6.1.2.5.3).
      if (
        b === 0x5c || b === 0x0d || b === 0x0a || b === 0x09 || b === 0x0c ||
        (isPn && (b === 0x5e || b === 0x3d))
      ) {
        g0 = parsed.initial.g0;
        g1 = parsed.initial.g1;
      }
      continue;
    }
    const set = g1 ?? parsed.fallbackG1;
    if (set?.kind === "multi") {
      let end = i;
      while (end < bytes.length && bytes[end] >= 0x80) end++;
      out.push(decoder(set.label).decode(bytes.subarray(i, end)));
      i = end;
      continue;
    }
    if (set?.kind === "katakana") {
      out.push(b >= 0xa1 && b <= 0xdf ? String.fromCharCode(0xff61 + b - 0xa1) : "\ufffd");
    } else {
      out.push(highHalf(set?.kind === "single" ? set.label : "windows-1252")[b - 0x80]);
    }
    i++;
  }
  return out.join("");
}

function matches(bytes: Uint8Array, at: number, seq: string): boolean {
  if (at + seq.length > bytes.length) return false;
  for (let k = 0; k < seq.length; k++) if (bytes[at + k] !== seq.charCodeAt(k)) return false;
  return true;
}

/** JIS X 0208 / 0212 bytes (0x21-0x7E pairs) decoded through their EUC-JP form. */
function decodeJis(run: Uint8Array, g0: "jisx0208" | "jisx0212"): string {
  const pairs = run.length >> 1;
  const width = g0 === "jisx0212" ? 3 : 2;
  const euc = new Uint8Array(pairs * width);
  for (let p = 0; p < pairs; p++) {
    let o = p * width;
    if (g0 === "jisx0212") euc[o++] = 0x8f;
    euc[o] = run[2 * p] | 0x80;
    euc[o + 1] = run[2 * p + 1] | 0x80;
  }
  const text = decoder("euc-jp").decode(euc);
  return run.length % 2 === 1 ? text + "\ufffd" : text;
}

const UTF8 = new TextEncoder();

interface EncodeTarget {
  whole?: string;
  def?: Designation;
}

const encodeTargets = new Map<string, EncodeTarget | null>();

/** What value 1 of a Specific Character Set encodes with; null for a set we do not know. */
function encodeTarget(specificCharacterSet: string): EncodeTarget | null {
  let target = encodeTargets.get(specificCharacterSet);
  if (target !== undefined) return target;
  const term = key(specificCharacterSet.split("\\")[0]);
  const whole = WHOLE_VALUE[term];
  const def = whole ? undefined : designationOf(term);
  target = whole || def ? { whole, def } : null;
  if (encodeTargets.size < 64) encodeTargets.set(specificCharacterSet, target);
  return target;
}

/** ASCII text as its bytes (the same in every set we know); null if any character is not. */
function asciiBytes(text: string): Uint8Array | null {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return null;
    out[i] = c;
  }
  return out;
}

/**
 * Encodes text in the given character set (value 1 of a Specific Character Set); null when it
 * cannot hold the text. ASCII text encodes in any known set; otherwise supports the default
 * repertoire, the ISO 8859 sets, JIS X 0201 and ISO_IR 192 (UTF-8).
 */
export function encodeString(text: string, specificCharacterSet: string): Uint8Array | null {
  const target = encodeTarget(specificCharacterSet);
  if (target === null) return null;
  const ascii = asciiBytes(text);
  if (ascii) return ascii;
  const { whole, def } = target;
  if (whole === "utf-8") return UTF8.encode(text);
  const out = new Uint8Array(text.length);
  let n = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    let byte = -1;
    if (cp < 0x80) byte = cp;
    else if (def?.g1?.kind === "single") {
      // Only the ISO 8859 graphic range 0xA0-0xFF; C1 (0x80-0x9F) is not text.
      const at = highHalf(def.g1.label).indexOf(ch, 0x20);
      if (at >= 0 && ch !== "\ufffd") byte = 0x80 + at;
    } else if (def?.g1?.kind === "katakana" && cp >= 0xff61 && cp <= 0xff9f) {
      byte = cp - 0xff61 + 0xa1;
    }
    if (byte < 0) return null;
    out[n++] = byte;
  }
  return out.subarray(0, n);
}
