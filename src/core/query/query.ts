// A C-FIND (or C-MOVE/C-GET) identifier turned into a structured query: the level, the keys
// matched against the index and against stored files, and what the response must carry
// (PS3.4 C.2.2, C.4.1.2, C.4.2.2).
import {
  charsetOf,
  type DataElement,
  DatasetError,
  decodeDataset,
  encodingOf,
  isStringVr,
  numbersOf,
  textOf,
} from "../dicom/dataset.ts";
import { Status } from "../dimse/status.ts";
import {
  DATE_TIME_PAIRS,
  entityVisibleAt,
  INDEX_KEYS,
  INSTANCE_AVAILABILITY,
  type Level,
  LEVELS,
  levelsOf,
  type Model,
  QUERY_RETRIEVE_LEVEL,
  RETRIEVE_AE_TITLE,
  SPECIFIC_CHARACTER_SET,
  TIMEZONE_OFFSET_FROM_UTC,
  UNIQUE_KEY,
} from "./keys.ts";
import { combinedRange, type Match, MatchValueError, type Term, termsFor } from "./matching.ts";

export interface ParseOptions {
  model: Model;
  /** `[query] case_insensitive_pn`. */
  caseInsensitivePn: boolean;
  /** C-MOVE / C-GET: only unique keys select, and the level's own unique key needs a value. */
  retrieve?: boolean;
  /** Combined date-time matching was agreed in extended negotiation (PS3.4 C.2.2.2.5.4). */
  combinedDateTime?: boolean;
  /** Relational queries (PS3.4 C.4.1.2.2.2; QIDO-RS): no unique key needed above the level. */
  relational?: boolean;
}

/** One matched entity: index attribute values by field name ("" when unknown). */
export type QueryRow = Readonly<Record<string, string>>;

export interface Query {
  model: Model;
  level: Level;
  caseInsensitivePn: boolean;
  /** Keys with a value on attributes the index holds (each has a field). */
  matches: Match[];
  /** Keys with a value matched against the stored file's header (IMAGE level). */
  fileMatches: Match[];
  /** Top-level tags read from each matched instance's file (IMAGE level; sorted). */
  fileTags: number[];
  /** Index fields the matching or the response needs. */
  fields: string[];
  /** Keys with a value that are not matched (universal matching instead): Pending 0xFF01. */
  unmatchedKeys: number[];
  /** The identifier as received: the response carries each of its keys. */
  identifier: DataElement[];
  /** The query's Specific Character Set ("" for the default repertoire). */
  specificCharacterSet: string;
}

export type ParseResult =
  | { ok: true; query: Query }
  | { ok: false; status: number; comment: string; offendingElement?: number[] };

const LEVEL_NAMES: Record<Level, string> = {
  PATIENT: "Patient ID",
  STUDY: "Study Instance UID",
  SERIES: "Series Instance UID",
  IMAGE: "SOP Instance UID",
};

/** Keys every response fills itself; never matched. */
const SERVICE_KEYS = new Set([
  SPECIFIC_CHARACTER_SET,
  QUERY_RETRIEVE_LEVEL,
  RETRIEVE_AE_TITLE,
  INSTANCE_AVAILABILITY,
  TIMEZONE_OFFSET_FROM_UTC,
]);

const failure = (status: number, comment: string, tag?: number): ParseResult => ({
  ok: false,
  status,
  comment,
  offendingElement: tag === undefined ? undefined : [tag],
});

/** Decodes an identifier in the context's transfer syntax and parses it. */
export function parseQuery(
  identifier: Uint8Array,
  transferSyntaxUid: string,
  options: ParseOptions,
): ParseResult {
  let elements: DataElement[];
  try {
    elements = decodeDataset(identifier, encodingOf(transferSyntaxUid));
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    return failure(Status.CannotUnderstand, `identifier cannot be decoded: ${e.message}`);
  }
  return parseQueryElements(elements, options);
}

function hasValue(el: DataElement): boolean {
  if (el.items) return el.items.some((item) => item.some(hasValue));
  return el.value.some((b) => b !== 0x20 && b !== 0x00);
}

/** Parses a decoded identifier. */
export function parseQueryElements(
  elements: DataElement[],
  options: ParseOptions,
): ParseResult {
  const identifier = elements.filter((e) => (e.tag & 0xffff) !== 0); // no group lengths
  const charset = charsetOf(identifier);
  const levelElement = identifier.find((e) => e.tag === QUERY_RETRIEVE_LEVEL);
  if (!levelElement || !hasValue(levelElement)) {
    return failure(
      Status.IdentifierDoesNotMatchSopClass,
      "Query/Retrieve Level (0008,0052) is missing",
      QUERY_RETRIEVE_LEVEL,
    );
  }
  const levelText = textOf(levelElement, "").trim().toUpperCase();
  // Not in the Study Root model (PS3.4 C.6.2), but what Orthanc's "retrieve patient" sends:
  // a C-MOVE/C-GET at PATIENT level with a Patient ID selects every study of that patient,
  // as in the Patient Root model.
  const model: Model = options.retrieve && options.model === "STUDY" && levelText === "PATIENT"
    ? "PATIENT"
    : options.model;
  const levels = levelsOf(model);
  const level = levels.find((l) => l === levelText);
  if (!level) {
    const known = LEVELS.includes(levelText as Level);
    return failure(
      Status.IdentifierDoesNotMatchSopClass,
      known
        ? `Level ${levelText} is not in the ${model} Root model`
        : `unknown Query/Retrieve Level "${levelText.slice(0, 16)}"`,
      QUERY_RETRIEVE_LEVEL,
    );
  }

  // Hierarchical queries (PS3.4 C.4.1.2.2.1): one value for each unique key above the level.
  const aboveLevels = options.relational ? [] : levels.slice(0, levels.indexOf(level));
  for (const above of aboveLevels) {
    const tag = UNIQUE_KEY[above];
    const el = identifier.find((e) => e.tag === tag);
    const text = el && !el.items ? textOf(el, charset).trim() : "";
    if (text === "" || /[*?\\]/.test(text)) {
      return failure(
        Status.IdentifierDoesNotMatchSopClass,
        `${LEVEL_NAMES[above]} needs one value at ${level} level`,
        tag,
      );
    }
  }

  const query: Query = {
    model,
    level,
    caseInsensitivePn: options.caseInsensitivePn,
    matches: [],
    fileMatches: [],
    fileTags: [],
    fields: [],
    unmatchedKeys: [],
    identifier,
    specificCharacterSet: charset,
  };
  const fields = new Set<string>();
  try {
    for (const el of identifier) {
      if (SERVICE_KEYS.has(el.tag)) continue;
      const key = INDEX_KEYS.get(el.tag);
      if (key && entityVisibleAt(key.entity, level)) {
        fields.add(key.field);
        if (!el.items && hasValue(el)) {
          const terms = termsFor(key.vr, textOf(el, charset), options.caseInsensitivePn);
          if (terms.length) {
            query.matches.push({ tag: el.tag, vr: key.vr, field: key.field, terms });
          }
        }
        continue;
      }
      if (level === "IMAGE" && !key && (el.tag >>> 16) !== 0x0002) {
        query.fileTags.push(el.tag);
        if (hasValue(el)) {
          const match = fileMatch(el, charset, options.caseInsensitivePn);
          if (match) query.fileMatches.push(match);
          else query.unmatchedKeys.push(el.tag);
        }
        continue;
      }
      if (hasValue(el)) query.unmatchedKeys.push(el.tag);
    }
  } catch (e) {
    if (!(e instanceof MatchValueError)) throw e;
    return failure(Status.CannotUnderstand, e.message.slice(0, 64));
  }

  if (options.combinedDateTime) combineDateTime(query, identifier, charset);
  if (options.retrieve) {
    // Unique keys take a single value or a list of UIDs, no wildcards (PS3.4 C.4.2.2.1): a
    // pattern would pull more than the caller meant.
    for (const l of levels) {
      const tag = UNIQUE_KEY[l];
      const el = identifier.find((e) => e.tag === tag);
      if (el && !el.items && /[*?]/.test(textOf(el, charset))) {
        return failure(
          Status.IdentifierDoesNotMatchSopClass,
          `no wildcards in ${LEVEL_NAMES[l]} to retrieve`,
          tag,
        );
      }
    }
    const own = UNIQUE_KEY[level];
    if (!query.matches.some((m) => m.tag === own)) {
      return failure(
        Status.IdentifierDoesNotMatchSopClass,
        `${LEVEL_NAMES[level]} needs a value to retrieve at ${level} level`,
        own,
      );
    }
    const unique = new Set(levels.map((l) => UNIQUE_KEY[l]));
    query.matches = query.matches.filter((m) => unique.has(m.tag));
    query.fileMatches = [];
    query.fileTags = [];
    query.unmatchedKeys = [];
  }
  if (query.fileTags.length) {
    fields.add("sopInstanceUid");
    query.fileTags.sort((a, b) => a - b);
  }
  query.fields = [...fields];
  return { ok: true, query };
}

/** A key matched against the stored file; null when its value cannot be matched. */
function fileMatch(el: DataElement, charset: string, ci: boolean): Match | null {
  if (el.items) {
    if (el.items.length !== 1) return null; // sequence matching takes one item
    const item: Match[] = [];
    for (const sub of el.items[0]) {
      if (!hasValue(sub)) continue;
      const m = fileMatch(sub, charset, ci);
      if (!m) return null;
      item.push(m);
    }
    return { tag: el.tag, vr: "SQ", terms: [], item };
  }
  if (isStringVr(el.vr)) {
    const terms = termsFor(el.vr, textOf(el, charset), ci);
    return { tag: el.tag, vr: el.vr, terms };
  }
  const numbers = numbersOf(el);
  if (numbers.length === 0) return null;
  const terms: Term[] = numbers.map((value) => ({ type: "number", value }));
  return { tag: el.tag, vr: el.vr, terms };
}

/** Joins Study Date + Study Time ranges (and the other pairs) of the same form into one. */
function combineDateTime(query: Query, identifier: DataElement[], charset: string): void {
  for (const [dateTag, timeTag] of DATE_TIME_PAIRS) {
    const date = identifier.find((e) => e.tag === dateTag);
    const time = identifier.find((e) => e.tag === timeTag);
    if (!date || !time || date.items || time.items) continue;
    const term = combinedRange(textOf(date, charset), textOf(time, charset));
    if (!term) continue;
    for (const list of [query.matches, query.fileMatches]) {
      const d = list.findIndex((m) => m.tag === dateTag);
      const t = list.findIndex((m) => m.tag === timeTag);
      if (d < 0 || t < 0) continue;
      list[d] = { ...list[d], terms: [term], time: { tag: timeTag, field: list[t].field } };
      list.splice(t, 1);
    }
  }
}
