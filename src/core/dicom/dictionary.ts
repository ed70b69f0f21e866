// The PS3.6 data dictionary: VRs for Implicit VR data and keywords for queries and dumps, looked
// up in the compact table of dictionary_table.ts (generated from dcmjs's copy of PS3.6, so that
// the server does not hold the dcmjs library in memory).
import { DICTIONARY_RECORDS } from "./dictionary_table.ts";
import { vrOf as smallDictionaryVr } from "./dataset.ts";

/** A dictionary entry: the VR as the table writes it (lower case when ambiguous) and keyword. */
export interface DictionaryEntry {
  vr: string;
  keyword: string;
}

interface Tables {
  /** Tags of one element. */
  exact: Map<number, DictionaryEntry>;
  /** Repeating groups (PS3.6 7.6): the group's high byte << 16 | element. */
  repeating: Map<number, DictionaryEntry>;
  /** Keyword -> tag (a repeating group's first group). */
  keywords: Map<string, number>;
}

let tables: Tables | undefined;

/** The tables, built from the records on the first lookup. */
function load(): Tables {
  if (tables) return tables;
  const t: Tables = { exact: new Map(), repeating: new Map(), keywords: new Map() };
  for (const line of DICTIONARY_RECORDS) {
    for (const record of line.split(" ")) {
      const entry = { vr: record.slice(8, 10), keyword: record.slice(10) };
      const element = parseInt(record.slice(4, 8), 16);
      let tag: number;
      if (record[2] === "x") {
        const high = parseInt(record.slice(0, 2), 16);
        t.repeating.set(high * 0x10000 + element, entry);
        tag = (high << 24 | element) >>> 0;
      } else {
        tag = parseInt(record.slice(0, 8), 16);
        t.exact.set(tag, entry);
      }
      if (!t.keywords.has(entry.keyword)) t.keywords.set(entry.keyword, tag);
    }
  }
  return tables = t;
}

/** The groups 5000-50FF, 6000-60FF and 7F00-7FFF repeat (curves, overlays, old pixel data). */
function repeatingHigh(group: number): number | undefined {
  const high = group >>> 8;
  return high === 0x50 || high === 0x60 || high === 0x7f ? high : undefined;
}

/** The dictionary entry of a tag (a repeating group's entry for any group of its range). */
export function dictionaryEntry(tag: number): DictionaryEntry | undefined {
  const t = load();
  const exact = t.exact.get(tag >>> 0);
  if (exact) return exact;
  const high = repeatingHigh(tag >>> 16);
  return high === undefined ? undefined : t.repeating.get(high * 0x10000 + (tag & 0xffff));
}

/** Codes of VRs that depend on other attributes (PS3.5 A.1 c, 6.2): the usual choice. */
const AMBIGUOUS: Record<string, string> = { ox: "OW", xs: "US", lt: "OW" };

const vrCache = new Map<number, string>();

/** The dictionary VR of a tag: standard tags, group lengths and private creators; else "UN". */
export function dictionaryVr(tag: number): string {
  let vr = vrCache.get(tag);
  if (vr !== undefined) return vr;
  const entry = (tag >>> 16) & 1 ? undefined : dictionaryEntry(tag);
  vr = entry ? (AMBIGUOUS[entry.vr] ?? entry.vr.toUpperCase()) : smallDictionaryVr(tag);
  if (!/^[A-Z]{2}$/.test(vr)) vr = "UN";
  if (vrCache.size < 4096) vrCache.set(tag, vr);
  return vr;
}

/**
 * The dictionary VR of a standard tag as the table writes it: the codes of VRs that depend on
 * other attributes ("ox", "xs", "lt", "up") are kept for the caller to resolve; "UN" when
 * the tag is unknown.
 */
export function dictionaryVrCode(tag: number): string {
  return dictionaryEntry(tag)?.vr ?? "UN";
}

let lowerKeywords: Map<string, number> | undefined;

/**
 * The tag of a PS3.6 keyword ("PatientName" -> 0x00100010), or undefined; with `ignoreCase`, a
 * keyword in any case is found when no exact one is.
 */
export function tagOfKeyword(keyword: string, ignoreCase = false): number | undefined {
  const { keywords } = load();
  const tag = keywords.get(keyword);
  if (tag !== undefined || !ignoreCase) return tag;
  lowerKeywords ??= new Map([...keywords].map(([k, v]) => [k.toLowerCase(), v]));
  return lowerKeywords.get(keyword.toLowerCase());
}
