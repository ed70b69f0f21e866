// QIDO-RS (PS3.18 10.6): a search request's path and query parameters become the same Query a
// C-FIND identifier does (one set of matching rules, one index), and each match becomes a
// DICOM JSON object (PS3.18 F.2) with the attributes of PS3.18 Table 10.6.3-3 to -5.
import { encodeString } from "../dicom/charset.ts";
import type { DataElement } from "../dicom/dataset.ts";
import { type DicomJsonDataset, tagKey, toDicomJson } from "../dicom/dicom_json.ts";
import { dictionaryVr, tagOfKeyword } from "../dicom/dictionary.ts";
import { entityVisibleAt, INDEX_KEYS, type Level, QUERY_RETRIEVE_LEVEL } from "./keys.ts";
import { parseQueryElements, type Query, type QueryRow } from "./query.ts";
import type { FileAttributes } from "./response.ts";
import { UTF8_CHARSET } from "./response.ts";

/** The three search resources (PS3.18 10.6.1). */
export type QidoResource = "studies" | "series" | "instances";

export interface QidoRequest {
  resource: QidoResource;
  /** From the path: {root}/studies/{study}/series..., {root}/studies/{study}/series/{series}/instances. */
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  params: Iterable<[string, string]>;
}

export interface QidoQuery {
  query: Query;
  /** What each match carries (sorted tags); those the index lacks are read from the file. */
  returnTags: number[];
  /** Matches skipped before the first one returned. */
  offset: number;
  /** Most matches returned; undefined = all. */
  limit?: number;
  /** Keys given that are not matched (universal matching instead): for a Warning header. */
  ignoredKeys: string[];
}

/** A request that cannot be run: the client gets 400 with this message. */
export class QidoError extends Error {}

const LEVEL: Record<QidoResource, Level> = {
  studies: "STUDY",
  series: "SERIES",
  instances: "IMAGE",
};

const STUDY_UID = 0x0020000d;
const SERIES_UID = 0x0020000e;
const INSTANCE_AVAILABILITY = 0x00080056;
const RETRIEVE_URL = 0x00081190;
const SPECIFIC_CHARACTER_SET = 0x00080005;

/** Attributes returned by default at each level (PS3.18 Tables 10.6.3-3 to -5). */
const STUDY_DEFAULTS = [
  0x00080020, // Study Date
  0x00080030, // Study Time
  0x00080050, // Accession Number
  0x00080061, // Modalities in Study
  0x00080090, // Referring Physician's Name
  0x00081030, // Study Description (viewers list it)
  0x00100010, // Patient's Name
  0x00100020, // Patient ID
  0x00100030, // Patient's Birth Date
  0x00100040, // Patient's Sex
  STUDY_UID,
  0x00200010, // Study ID
  0x00201206, // Number of Study Related Series
  0x00201208, // Number of Study Related Instances
];
const SERIES_DEFAULTS = [
  0x00080021, // Series Date
  0x00080031, // Series Time
  0x00080060, // Modality
  0x0008103e, // Series Description
  SERIES_UID,
  0x00200011, // Series Number
  0x00201209, // Number of Series Related Instances
];
const INSTANCE_DEFAULTS = [
  0x00080016, // SOP Class UID
  0x00080018, // SOP Instance UID
  0x00200013, // Instance Number
  0x00280008, // Number of Frames
  0x00280010, // Rows
  0x00280011, // Columns
  0x00280100, // Bits Allocated
];

/** Query parameters that are not attributes (PS3.18 8.3.4). */
const CONTROL_PARAMS = new Set(["includefield", "limit", "offset", "fuzzymatching"]);

/** A UID as PS3.5 9.1 has it: digits and dots, at most 64 characters. */
export function isValidUid(uid: string): boolean {
  return uid.length > 0 && uid.length <= 64 && /^[0-9]+(\.[0-9]+)*$/.test(uid);
}

/** "PatientName", "00100010" -> the tag; undefined when neither. */
export function attributeTag(id: string): number | undefined {
  if (/^[0-9A-Fa-f]{8}$/.test(id)) return parseInt(id, 16);
  return tagOfKeyword(id);
}

function vrFor(tag: number): string {
  return INDEX_KEYS.get(tag)?.vr ?? dictionaryVr(tag);
}

const utf8 = (text: string): Uint8Array => encodeString(text, UTF8_CHARSET)!;

function nonNegative(name: string, text: string): number {
  if (!/^\d{1,9}$/.test(text.trim())) {
    throw new QidoError(`${name} must be a non-negative integer, not "${text.slice(0, 20)}"`);
  }
  return Number(text.trim());
}

/**
 * Parses a QIDO-RS request. `fuzzymatching=true` (PS3.18 8.3.4.4): person names are matched
 * without regard to case, and a name given without wildcards matches as a prefix ("doe"
 * finds "DOE^JOHN"); without it names follow `[query] case_insensitive_pn` and the C-FIND
 * rules. Throws QidoError for a request that cannot be run.
 */
export function parseQido(
  request: QidoRequest,
  options: { caseInsensitivePn: boolean },
): QidoQuery {
  const level = LEVEL[request.resource];
  const values = new Map<number, { vr: string; values: string[]; item?: DataElement[] }>();
  const included = new Set<number>();
  let includeAll = false;
  let limit: number | undefined;
  let offset = 0;
  let fuzzy = false;
  const params = [...request.params];
  for (const [rawName, value] of params) {
    const name = rawName.trim();
    const lower = name.toLowerCase();
    if (CONTROL_PARAMS.has(lower)) {
      if (lower === "limit") limit = nonNegative("limit", value);
      else if (lower === "offset") offset = nonNegative("offset", value);
      else if (lower === "fuzzymatching") {
        if (!/^(true|false)$/i.test(value.trim())) {
          throw new QidoError(`fuzzymatching must be true or false`);
        }
        fuzzy = value.trim().toLowerCase() === "true";
      } else {
        for (const field of value.split(",").map((f) => f.trim()).filter((f) => f)) {
          if (field.toLowerCase() === "all") {
            includeAll = true;
            continue;
          }
          const tag = attributeTag(field);
          if (tag === undefined) throw new QidoError(`unknown attribute "${field.slice(0, 64)}"`);
          included.add(tag);
        }
      }
      continue;
    }
    const path = name.split(".");
    if (path.length > 2) throw new QidoError(`"${name.slice(0, 64)}": nested too deep`);
    const tags = path.map(attributeTag);
    if (tags.some((t) => t === undefined)) {
      throw new QidoError(`unknown attribute or parameter "${name.slice(0, 64)}"`);
    }
    const [tag, subTag] = tags as number[];
    if (subTag !== undefined) {
      if (vrFor(tag) !== "SQ") throw new QidoError(`${path[0]} is not a sequence`);
      const entry = values.get(tag) ?? { vr: "SQ", values: [], item: [] };
      entry.item!.push({ tag: subTag, vr: vrFor(subTag), value: utf8(value) });
      values.set(tag, entry);
      continue;
    }
    const vr = vrFor(tag);
    if (vr === "SQ") throw new QidoError(`${name} is a sequence: name one of its attributes`);
    // UID lists may be comma-separated in a URL (PS3.18 8.3.4.1).
    const v = vr === "UI" ? value.replaceAll(",", "\\") : value;
    const entry = values.get(tag) ?? { vr, values: [] };
    entry.values.push(v);
    values.set(tag, entry);
  }
  if (fuzzy) {
    for (const entry of values.values()) {
      if (entry.vr !== "PN") continue;
      entry.values = entry.values.map((v) =>
        v.split("\\").map((n) => n !== "" && !/[*?]/.test(n) ? `${n}*` : n).join("\\")
      );
    }
  }
  const fromPath: [number, string | undefined][] = [
    [STUDY_UID, request.studyInstanceUid],
    [SERIES_UID, request.seriesInstanceUid],
  ];
  for (const [tag, uid] of fromPath) {
    if (uid === undefined) continue;
    if (!isValidUid(uid)) throw new QidoError(`malformed UID in the path`);
    values.set(tag, { vr: "UI", values: [uid] });
  }

  // What to return: the defaults of the level, of the levels above when the path does not
  // name them (PS3.18 10.6.3.3.1), the keys matched and the fields asked for.
  const returnTags = new Set<number>();
  const add = (tags: number[]) => tags.forEach((t) => returnTags.add(t));
  if (level === "STUDY") add(STUDY_DEFAULTS);
  if (level === "SERIES") {
    add(SERIES_DEFAULTS);
    add(request.studyInstanceUid ? [STUDY_UID] : STUDY_DEFAULTS);
  }
  if (level === "IMAGE") {
    add(INSTANCE_DEFAULTS);
    add(request.studyInstanceUid ? [STUDY_UID] : STUDY_DEFAULTS);
    add(request.seriesInstanceUid ? [SERIES_UID] : SERIES_DEFAULTS);
  }
  if (includeAll) {
    for (const key of INDEX_KEYS.values()) {
      if (entityVisibleAt(key.entity, level)) returnTags.add(key.tag);
    }
  }
  for (const tag of [...included, ...values.keys()]) returnTags.add(tag);
  // Only attributes the index holds at this level, or (instances) the stored file.
  for (const tag of returnTags) {
    const key = INDEX_KEYS.get(tag);
    const known = key ? entityVisibleAt(key.entity, level) : level === "IMAGE";
    if (!known || tag === INSTANCE_AVAILABILITY || tag === RETRIEVE_URL) returnTags.delete(tag);
  }
  returnTags.delete(SPECIFIC_CHARACTER_SET);

  const identifier: DataElement[] = [
    { tag: SPECIFIC_CHARACTER_SET, vr: "CS", value: utf8(UTF8_CHARSET) },
    { tag: QUERY_RETRIEVE_LEVEL, vr: "CS", value: utf8(level) },
  ];
  for (const tag of returnTags) {
    const given = values.get(tag);
    if (given?.item) {
      identifier.push({ tag, vr: "SQ", value: new Uint8Array(0), items: [given.item] });
    } else {
      identifier.push({
        tag,
        vr: given?.vr ?? vrFor(tag),
        value: given ? utf8(given.values.join("\\")) : new Uint8Array(0),
      });
    }
  }
  const parsed = parseQueryElements(identifier, {
    model: "STUDY",
    caseInsensitivePn: options.caseInsensitivePn || fuzzy,
    relational: true,
  });
  if (!parsed.ok) throw new QidoError(parsed.comment);
  const ignoredKeys = parsed.query.unmatchedKeys.map(tagKey);
  return {
    query: parsed.query,
    returnTags: [...returnTags].sort((a, b) => a - b),
    offset,
    limit,
    ignoredKeys,
  };
}

/**
 * One match as DICOM JSON: the return attributes from the index row and the stored file,
 * Instance Availability and the Retrieve URL of the matched entity.
 */
export function qidoResult(
  q: QidoQuery,
  row: QueryRow,
  file: FileAttributes | undefined,
  retrieveUrl: string,
): DicomJsonDataset {
  const indexed: DataElement[] = [];
  const stored: DataElement[] = [];
  const fromFile = new Map((file?.elements ?? []).map((e) => [e.tag, e]));
  for (const tag of q.returnTags) {
    const key = INDEX_KEYS.get(tag);
    if (key && entityVisibleAt(key.entity, q.query.level)) {
      indexed.push({ tag, vr: key.vr, value: utf8(row[key.field] ?? "") });
      continue;
    }
    const el = fromFile.get(tag);
    // Implicit VR headers name only a few VRs; the dictionary knows the others.
    if (el) stored.push(el.vr === "UN" && !el.items ? { ...el, vr: vrFor(tag) } : el);
    else indexed.push({ tag, vr: vrFor(tag), value: new Uint8Array(0) });
  }
  const json: DicomJsonDataset = {
    ...toDicomJson(indexed, { specificCharacterSet: UTF8_CHARSET }),
    ...toDicomJson(stored, { specificCharacterSet: file?.specificCharacterSet ?? "" }),
  };
  json[tagKey(INSTANCE_AVAILABILITY)] = { vr: "CS", Value: ["ONLINE"] };
  json[tagKey(RETRIEVE_URL)] = { vr: "UR", Value: [retrieveUrl] };
  const sorted: DicomJsonDataset = {};
  for (const key of Object.keys(json).sort()) sorted[key] = json[key];
  return sorted;
}
