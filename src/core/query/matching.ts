// Attribute matching (PS3.4 C.2.2.2): single value, list of UIDs, wildcard, range and
// sequence matching, as pure functions over decoded values.
import { type DataElement, isStringVr, numbersOf, textOf } from "../dicom/dataset.ts";
import { compilePn, matchPn, type PnPattern, wildcardRegExp } from "./pn.ts";

/** One alternative a stored value may match. */
export type Term =
  | { type: "exact"; value: string }
  | { type: "number"; value: number }
  | { type: "wildcard"; pattern: string; regex: RegExp }
  /** Bounds in the normalized form of normalizeDate/Time/DateTime; "" = open. */
  | { type: "range"; lower: string; upper: string }
  | { type: "pn"; pattern: PnPattern };

/** A key with a value: matches when any term matches any value of the stored attribute. */
export interface Match {
  tag: number;
  vr: string;
  /** The index field; undefined for keys read from the stored file (IMAGE level). */
  field?: string;
  terms: Term[];
  /** Combined date-time matching: this date key's range runs over date + this time key. */
  time?: { tag: number; field?: string };
  /** Sequence matching: the keys of the query's one item (PS3.4 C.2.2.2.6). */
  item?: Match[];
}

/** Query values that fail their VR's form: the request gets a failure status. */
export class MatchValueError extends Error {}

/** VRs where "*" and "?" are wildcards (PS3.4 C.2.2.2.4). */
const WILDCARD_VRS = new Set(["AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"]);
/** VRs whose stored values are not split at backslashes. */
const SINGLE_TEXT_VRS = new Set(["LT", "ST", "UT", "UR"]);
const NUMBER_VRS = new Set(["IS", "DS", "US", "SS", "UL", "SL", "FL", "FD", "SV", "UV"]);

const DATE = /^(\d{4})(\d{2})(\d{2})$/;
const TIME = /^(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?$/;
const DATE_TIME = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?$/;

/** "YYYYMMDD" (the ACR-NEMA "YYYY.MM.DD" too); null when not a date. */
export function normalizeDate(text: string): string | null {
  const t = text.trim().replaceAll(".", "");
  return DATE.test(t) ? t : null;
}

/**
 * "HHMMSS.FFFFFF"; a reduced precision value is padded to its start (or, with `end`, to the
 * last moment it covers: "1015" ends at 101559.999999). Null when not a time.
 */
export function normalizeTime(text: string, end = false): string | null {
  const m = TIME.exec(text.trim().replaceAll(":", ""));
  if (!m) return null;
  const [, hh, mm, ss, frac] = m;
  const pad = (v: string | undefined, hi: string) => v ?? (end ? hi : "00");
  return `${hh}${pad(mm, "59")}${pad(mm && ss, "59")}.${
    (mm && ss ? frac ?? "" : "").padEnd(6, end ? "9" : "0")
  }`;
}

/**
 * "YYYYMMDDHHMMSS.FFFFFF" in UTC when the value carries an offset from UTC (PS3.4
 * C.2.2.2.5.3 d), else as written; reduced precision padded as in normalizeTime.
 */
export function normalizeDateTime(text: string, end = false): string | null {
  const m = DATE_TIME.exec(text.trim());
  if (!m) return null;
  const [, year, month, day, hour, minute, second, frac, offset] = m;
  const parts = [month, day, hour, minute, second];
  const lows = ["01", "01", "00", "00", "00"];
  const highs = ["12", "31", "23", "59", "59"];
  let cut = parts.findIndex((p) => p === undefined);
  if (cut < 0) cut = parts.length;
  const filled = parts.map((p, i) => (i < cut ? p! : end ? highs[i] : lows[i]));
  const fraction = (cut === parts.length ? frac ?? "" : "").padEnd(6, end ? "9" : "0");
  let stamp = year + filled.join("");
  if (offset) {
    const sign = offset[0] === "-" ? -1 : 1;
    const minutes = sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(3, 5)));
    const [y, mo, d, h, mi, s] = [year, ...filled].map(Number);
    const utc = new Date(Date.UTC(y, mo - 1, d, h, mi - minutes, s));
    const two = (n: number) => String(n).padStart(2, "0");
    stamp = `${String(utc.getUTCFullYear()).padStart(4, "0")}${two(utc.getUTCMonth() + 1)}${
      two(utc.getUTCDate())
    }${two(utc.getUTCHours())}${two(utc.getUTCMinutes())}${two(utc.getUTCSeconds())}`;
  }
  return `${stamp}.${fraction}`;
}

function normalizerOf(vr: string): ((text: string, end?: boolean) => string | null) | undefined {
  if (vr === "DA") return (t) => normalizeDate(t);
  if (vr === "TM") return normalizeTime;
  if (vr === "DT") return normalizeDateTime;
  return undefined;
}

/** A date/time range value "<a>-<b>", "<a>-" or "-<b>" split in two; null when not a range. */
export function splitRange(text: string): [string, string] | null {
  const at = text.indexOf("-");
  // DT values may carry a "-hhmm" offset: a range needs a dash outside one.
  if (at < 0) return null;
  const dashes = [...text].filter((c) => c === "-").length;
  if (dashes === 1) return [text.slice(0, at).trim(), text.slice(at + 1).trim()];
  // "<dt-0500>-<dt-0500>": split at the dash that leaves both sides valid date-times.
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== "-") continue;
    const a = text.slice(0, i).trim();
    const b = text.slice(i + 1).trim();
    if ((a === "" || DATE_TIME.test(a)) && (b === "" || DATE_TIME.test(b))) return [a, b];
  }
  return null;
}

/**
 * The terms of a query value of the given VR; [] means universal matching. Backslash-separated
 * values are alternatives (a list of UIDs for UI). Throws MatchValueError on a malformed
 * date, time or range.
 */
export function termsFor(vr: string, value: string, caseInsensitivePn: boolean): Term[] {
  const values = SINGLE_TEXT_VRS.has(vr) ? [value] : value.split("\\");
  const terms: Term[] = [];
  for (const raw of values) {
    const v = vr === "UI" ? raw.replace(/[\0 ]+$/, "").trim() : raw.trim();
    const term = termFor(vr, v, caseInsensitivePn);
    if (term === null) return []; // one universal alternative: the key matches everything
    terms.push(term);
  }
  return terms;
}

function termFor(vr: string, v: string, caseInsensitivePn: boolean): Term | null {
  if (v === "" || v === "*") return null;
  const normalize = normalizerOf(vr);
  if (normalize) {
    if (v === "-") return null;
    const range = splitRange(v);
    if (range && (vr !== "DT" || !DATE_TIME.test(v) || range[0] === "" || range[1] === "")) {
      const [a, b] = range;
      const lower = a === "" ? "" : normalize(a);
      const upper = b === "" ? "" : normalize(b, true);
      if (lower === null || upper === null) throw new MatchValueError(`bad ${vr} range "${v}"`);
      return { type: "range", lower, upper };
    }
    const lower = normalize(v);
    const upper = normalize(v, true);
    if (lower === null || upper === null) throw new MatchValueError(`bad ${vr} value "${v}"`);
    return vr === "DA" ? { type: "exact", value: lower } : { type: "range", lower, upper };
  }
  if (vr === "PN") {
    const pattern = compilePn(v, caseInsensitivePn);
    return pattern ? { type: "pn", pattern } : null;
  }
  if (WILDCARD_VRS.has(vr) && (v.includes("*") || v.includes("?"))) {
    return { type: "wildcard", pattern: v, regex: wildcardRegExp(v) };
  }
  if (NUMBER_VRS.has(vr)) {
    const n = Number(v);
    if (Number.isFinite(n)) return { type: "number", value: n };
  }
  return { type: "exact", value: v };
}

/** Stored values of an attribute held as text (backslash-separated when multi-valued). */
export function storedValues(vr: string, text: string): string[] {
  if (text === "") return [];
  const values = SINGLE_TEXT_VRS.has(vr) ? [text] : text.split("\\");
  return values.map((v) => (vr === "UI" ? v.replace(/[\0 ]+$/, "").trim() : v.trim()));
}

/** True when one stored value (already split and trimmed) matches the term. */
export function termMatches(term: Term, vr: string, value: string): boolean {
  if (value === "") return false;
  switch (term.type) {
    case "exact":
      return (vr === "DA" ? normalizeDate(value) : value) === term.value;
    case "number": {
      const n = Number(value);
      return Number.isFinite(n) ? n === term.value : value === String(term.value);
    }
    case "wildcard":
      return term.regex.test(value);
    case "pn":
      return matchPn(term.pattern, value);
    case "range": {
      const v = normalizerOf(vr)?.(value);
      if (!v) return false;
      return (term.lower === "" || v >= term.lower) && (term.upper === "" || v <= term.upper);
    }
  }
}

/** True when a key matches the stored text of its attribute. */
export function matchesText(match: Match, text: string): boolean {
  if (match.terms.length === 0) return true;
  const values = storedValues(match.vr, text);
  return values.some((v) => match.terms.some((t) => termMatches(t, match.vr, v)));
}

/** True when numbers read from a binary attribute match (single value matching). */
export function matchesNumbers(match: Match, numbers: readonly number[]): boolean {
  if (match.terms.length === 0) return true;
  return numbers.some((n) =>
    match.terms.some((t) =>
      t.type === "number" ? t.value === n : t.type === "exact" && Number(t.value) === n
    )
  );
}

/**
 * Combined date-time matching (PS3.4 C.2.2.2.5.4): the date and time values joined and
 * compared as one date-time against a range built the same way.
 */
export function matchesDateTime(match: Match, date: string, time: string): boolean {
  const d = normalizeDate(date);
  if (!d) return false;
  const t = normalizeTime(time === "" ? "00" : time) ?? "000000.000000";
  const v = d + t;
  return match.terms.some((term) =>
    term.type === "range" && (term.lower === "" || v >= term.lower) &&
    (term.upper === "" || v <= term.upper)
  );
}

/** Builds the combined range term of a date range and a time range of the same form. */
export function combinedRange(dateValue: string, timeValue: string): Term | null {
  const dr = splitRange(dateValue.trim());
  const tr = splitRange(timeValue.trim());
  if (!dr || !tr) return null;
  const sameForm = (dr[0] === "") === (tr[0] === "") && (dr[1] === "") === (tr[1] === "");
  if (!sameForm) return null;
  const lowDate = dr[0] === "" ? "" : normalizeDate(dr[0]);
  const highDate = dr[1] === "" ? "" : normalizeDate(dr[1]);
  const lowTime = tr[0] === "" ? "" : normalizeTime(tr[0]);
  const highTime = tr[1] === "" ? "" : normalizeTime(tr[1], true);
  if (lowDate === null || highDate === null || lowTime === null || highTime === null) return null;
  return {
    type: "range",
    lower: lowDate === "" ? "" : lowDate + lowTime,
    upper: highDate === "" ? "" : highDate + highTime,
  };
}

/** True when an index row matches every key the index holds. */
export function rowMatches(
  matches: readonly Match[],
  row: Readonly<Record<string, string>>,
): boolean {
  for (const m of matches) {
    const value = row[m.field!] ?? "";
    if (m.time) {
      if (!matchesDateTime(m, value, row[m.time.field!] ?? "")) return false;
    } else if (!matchesText(m, value)) return false;
  }
  return true;
}

/**
 * True when elements read from a stored file match every key: a missing or empty attribute
 * matches only universal keys; a sequence key matches when one item matches all its keys.
 */
export function elementsMatch(
  matches: readonly Match[],
  elements: readonly DataElement[],
  specificCharacterSet: string,
): boolean {
  const byTag = new Map(elements.map((e) => [e.tag, e]));
  for (const m of matches) {
    const el = byTag.get(m.tag);
    if (!el) return false;
    if (m.item) {
      const item = m.item;
      if (!el.items?.some((i) => elementsMatch(item, i, specificCharacterSet))) return false;
    } else if (m.time) {
      const time = byTag.get(m.time.tag);
      const timeText = time ? textOf(time, specificCharacterSet) : "";
      if (!matchesDateTime(m, textOf(el, specificCharacterSet), timeText)) return false;
    } else if (isStringVr(el.vr)) {
      if (!matchesText(m, textOf(el, specificCharacterSet))) return false;
    } else if (!matchesNumbers(m, numbersOf(el))) return false;
  }
  return true;
}
