// The PS3.6 data dictionary (from dcmjs): VRs for Implicit VR data and keywords for queries.
import dcmjs from "dcmjs";
import { vrOf as smallDictionaryVr } from "./dataset.ts";

interface DictionaryEntry {
  tag: string;
  vr: string;
  name: string;
}

const META = dcmjs.data.DicomMetaDictionary as unknown as {
  dictionary: Record<string, DictionaryEntry | undefined>;
  nameMap: Record<string, DictionaryEntry | undefined>;
};

/** dcmjs' codes for VRs that depend on other attributes (PS3.5 A.1 c, 6.2): the usual choice. */
const AMBIGUOUS: Record<string, string> = { ox: "OW", xs: "US", lt: "OW" };

const vrCache = new Map<number, string>();

/** The dictionary VR of a tag: standard tags, group lengths and private creators; else "UN". */
export function dictionaryVr(tag: number): string {
  let vr = vrCache.get(tag);
  if (vr !== undefined) return vr;
  const hex = tag.toString(16).toUpperCase().padStart(8, "0");
  const entry = (tag >>> 16) & 1 ? undefined : META.dictionary[hex];
  vr = entry ? (AMBIGUOUS[entry.vr] ?? entry.vr.slice(0, 2).toUpperCase()) : smallDictionaryVr(tag);
  if (!/^[A-Z]{2}$/.test(vr)) vr = "UN";
  if (vrCache.size < 4096) vrCache.set(tag, vr);
  return vr;
}

const codeCache = new Map<number, string>();

/**
 * The dictionary VR of a standard tag as dcmjs writes it: the codes of VRs that depend on
 * other attributes ("ox", "xs", "lt", "up") are kept for the caller to resolve; "UN" when
 * the tag is unknown.
 */
export function dictionaryVrCode(tag: number): string {
  let vr = codeCache.get(tag);
  if (vr === undefined) {
    const hex = tag.toString(16).toUpperCase().padStart(8, "0");
    vr = META.dictionary[hex]?.vr ?? "UN";
    codeCache.set(tag, vr);
  }
  return vr;
}

/** The tag of a PS3.6 keyword ("PatientName" -> 0x00100010), or undefined. */
export function tagOfKeyword(keyword: string): number | undefined {
  const entry = META.nameMap[keyword];
  if (!entry || !/^\([0-9A-F]{4},[0-9A-F]{4}\)$/i.test(entry.tag)) return undefined;
  return parseInt(entry.tag.slice(1, 5) + entry.tag.slice(6, 10), 16);
}
