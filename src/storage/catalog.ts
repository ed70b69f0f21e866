// What the status pages read from index.sqlite, on their own read-only connection (WAL:
// reading never blocks a store): the totals, a page of studies, a study and its series.
// Every statement is bounded (indexed lookups, LIMITs); the totals are cached until a store
// changes them, so that a reloading dashboard costs the DICOM path nothing measurable.
// A study search becomes C-FIND match keys (the core's termsFor), narrowed in SQL by the same
// builder C-FIND uses (query_db.ts) and checked row by row with the same rowMatches. Pages are
// keyset-paginated in SQL on (Study Date, row id), so page 500 costs what page 1 costs.
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { Query } from "../core/query/query.ts";
import { INDEX_KEYS } from "../core/query/keys.ts";
import { type Match, MatchValueError, rowMatches, termsFor } from "../core/query/matching.ts";
import { buildSelect } from "./query_db.ts";
import { TOTALS_SELECT, totalsOf } from "./totals.ts";

export interface IndexTotals {
  patients: number;
  studies: number;
  series: number;
  instances: number;
  /** Bytes received (as they arrived). */
  bytes: number;
  /** Bytes the objects take on disk now (fewer once compressed at rest). */
  storedBytes: number;
}

/** Where the catalog gets its read-only connection (IndexDb has it). */
export interface CatalogSource {
  openReader(): DatabaseSync;
}

/** A search as the form and the API take it; every field optional. */
export interface StudySearch {
  /** Patient's Name; a prefix unless it holds "*" or "?" (case-insensitive). */
  name?: string;
  patientId?: string;
  /** Study Date range, "YYYY-MM-DD" or "YYYYMMDD" (either end may be empty). */
  from?: string;
  to?: string;
  modality?: string;
  accession?: string;
  /** Cursors from a previous page. */
  after?: string;
  before?: string;
  /** Studies per page (1 to 200, default 50). */
  limit?: number;
}

export interface StudySummary {
  studyInstanceUid: string;
  patientName: string;
  patientId: string;
  patientBirthDate: string;
  patientSex: string;
  studyDate: string;
  studyTime: string;
  accessionNumber: string;
  studyId: string;
  studyDescription: string;
  referringPhysicianName: string;
  modalities: string[];
  series: number;
  instances: number;
}

export interface StudyPage {
  studies: StudySummary[];
  /** Cursor of the next (older) page, for `after`; null on the last page. */
  next: string | null;
  /** Cursor of the previous (newer) page, for `before`; null on the first page. */
  prev: string | null;
  /** The page stopped at the scan bound before filling: `next` goes on from there. */
  partial: boolean;
}

export interface SeriesSummary {
  seriesInstanceUid: string;
  modality: string;
  seriesNumber: string;
  seriesDescription: string;
  bodyPartExamined: string;
  seriesDate: string;
  seriesTime: string;
  instances: number;
}

export interface StudyDetail {
  study: StudySummary;
  series: SeriesSummary[];
}

/** A search value the query rules refuse (a malformed date...): answered 400. */
export class SearchError extends Error {}

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 200;
/** Rows read for one page at most; a page that needs more ends early with `partial`. */
const MAX_SCAN = 5000;
const MAX_SERIES = 2000;

const STUDY_FIELDS = [
  "studyInstanceUid",
  "patientName",
  "patientId",
  "patientBirthDate",
  "patientSex",
  "studyDate",
  "studyTime",
  "accessionNumber",
  "studyId",
  "studyDescription",
  "referringPhysicianName",
  "modalitiesInStudy",
  "numberOfStudyRelatedSeries",
  "numberOfStudyRelatedInstances",
] as const;

const SERIES_FIELDS = [
  "seriesInstanceUid",
  "modality",
  "seriesNumber",
  "seriesDescription",
  "bodyPartExamined",
  "seriesDate",
  "seriesTime",
  "numberOfSeriesRelatedInstances",
] as const;

const COLUMN: Record<string, string> = {
  studyInstanceUid: "st.study_instance_uid",
  patientName: "p.patient_name",
  patientId: "p.patient_id",
  patientBirthDate: "p.patient_birth_date",
  patientSex: "p.patient_sex",
  studyDate: "st.study_date",
  studyTime: "st.study_time",
  accessionNumber: "st.accession_number",
  studyId: "st.study_id",
  studyDescription: "st.study_description",
  referringPhysicianName: "st.referring_physician_name",
  modalitiesInStudy: "st.modalities_in_study",
  numberOfStudyRelatedSeries: "st.num_series",
  numberOfStudyRelatedInstances: "st.num_instances",
  seriesInstanceUid: "se.series_instance_uid",
  modality: "se.modality",
  seriesNumber: "se.series_number",
  seriesDescription: "se.series_description",
  bodyPartExamined: "se.body_part_examined",
  seriesDate: "se.series_date",
  seriesTime: "se.series_time",
  numberOfSeriesRelatedInstances: "se.num_instances",
};

const TAG = {
  patientName: 0x00100010,
  patientId: 0x00100020,
  studyDate: 0x00080020,
  accessionNumber: 0x00080050,
  modalitiesInStudy: 0x00080061,
  studyInstanceUid: 0x0020000d,
} as const;

/** A C-FIND match key for one form value; null when the value matches everything. */
function keyMatch(tag: number, value: string): Match | null {
  const key = INDEX_KEYS.get(tag)!;
  let terms;
  try {
    terms = termsFor(key.vr, value, true);
  } catch (e) {
    if (e instanceof MatchValueError) throw new SearchError(e.message);
    throw e;
  }
  return terms.length ? { tag, vr: key.vr, field: key.field, terms } : null;
}

const clean = (v: string | undefined) => (v ?? "").replace(/\\/g, "").trim().slice(0, 64);

/** The Patient's Name value a search matches with ("" when none). */
function nameTerm(s: StudySearch): string {
  const name = clean(s.name);
  return !name ? "" : /[*?]/.test(name) ? name : `*${name}*`;
}

/** The match keys of a search (PS3.4 C.2.2.2 rules, as C-FIND applies them). */
export function searchMatches(s: StudySearch): Match[] {
  const out: (Match | null)[] = [];
  const name = clean(s.name);
  // Without a wildcard a name is found anywhere in any component ("hans" finds MÜLLER^HANS),
  // without regard to case; with one, it matches as C-FIND would match it.
  if (name) out.push(keyMatch(TAG.patientName, nameTerm(s)));
  // A Patient ID by its beginning ("PAT0" finds PAT001), unless it has wildcards of its own.
  const id = clean(s.patientId);
  if (id) out.push(keyMatch(TAG.patientId, /[*?]/.test(id) ? id : `${id}*`));
  const accession = clean(s.accession);
  if (accession) out.push(keyMatch(TAG.accessionNumber, accession));
  const modality = clean(s.modality).toUpperCase();
  if (modality) out.push(keyMatch(TAG.modalitiesInStudy, modality));
  const from = clean(s.from).replaceAll("-", "");
  const to = clean(s.to).replaceAll("-", "");
  if (from || to) out.push(keyMatch(TAG.studyDate, from === to ? from : `${from}-${to}`));
  return out.filter((m): m is Match => m !== null);
}

function queryOf(
  level: "PATIENT" | "STUDY" | "SERIES",
  matches: Match[],
  fields: readonly string[],
): Query {
  return {
    model: "STUDY",
    level,
    caseInsensitivePn: true,
    matches,
    fileMatches: [],
    fileTags: [],
    fields: [...fields],
    unmatchedKeys: [],
    identifier: [],
    specificCharacterSet: "",
  };
}

/** After a store the totals are read again, at most this often. */
const TOTALS_MIN_AGE_MS = 1000;
/** Read again after this long anyway (retention may have deleted objects). */
const TOTALS_MAX_AGE_MS = 60_000;
/** Prepared statements kept on the reader connection. */
const MAX_STATEMENTS = 64;

type Row = Record<string, unknown>;

/** SELECT of `fields` (as f0, f1...) plus the row id and sort key, narrowed by `matches`. */
function selectFor(level: "STUDY" | "SERIES", matches: Match[], fields: readonly string[]) {
  const needed = [...new Set([...fields, ...matches.map((m) => m.field!)])];
  const table = level === "STUDY" ? "st" : "se";
  const columns = [
    ...needed.map((f) => [f, COLUMN[f]] as const),
    ["_pk", `${table}.pk`] as const,
  ];
  const select = buildSelect(queryOf(level, matches, needed), level, columns);
  const read = (values: Row) => {
    const row: Record<string, string> = {};
    needed.forEach((f, i) => (row[f] = String(values[`f${i}`] ?? "")));
    return { row, pk: Number(values[`f${needed.length}`]) };
  };
  return { ...select, read, where: select.sql.includes(" WHERE ") ? " AND " : " WHERE " };
}

function toStudy(r: Record<string, string>): StudySummary {
  return {
    studyInstanceUid: r.studyInstanceUid,
    patientName: r.patientName,
    patientId: r.patientId,
    patientBirthDate: r.patientBirthDate,
    patientSex: r.patientSex,
    studyDate: r.studyDate,
    studyTime: r.studyTime,
    accessionNumber: r.accessionNumber,
    studyId: r.studyId,
    studyDescription: r.studyDescription,
    referringPhysicianName: r.referringPhysicianName,
    modalities: r.modalitiesInStudy ? r.modalitiesInStudy.split("\\") : [],
    series: Number(r.numberOfStudyRelatedSeries) || 0,
    instances: Number(r.numberOfStudyRelatedInstances) || 0,
  };
}

/** "20240315~812": where a page starts or ends (Study Date, study row id). */
function cursorOf(row: Record<string, string>, pk: number): string {
  return `${row.studyDate}~${pk}`;
}

function parseCursor(text: string): [string, number] {
  const at = text.lastIndexOf("~");
  const pk = Number(text.slice(at + 1));
  if (at < 0 || !Number.isSafeInteger(pk) || text.length > 80) {
    throw new SearchError("malformed page cursor");
  }
  return [text.slice(0, at), pk];
}

/** Patients a search may name before its pages are read patient by patient. */
const FEW_PATIENTS = 200;

/** The index as the status pages and the API read it. */
export class Catalog {
  readonly #source: CatalogSource;
  #db: DatabaseSync | null = null;
  #statements = new Map<string, StatementSync>();
  #totals: { at: number; generation: number; value: IndexTotals } | null = null;

  constructor(source: CatalogSource) {
    this.#source = source;
  }

  /** A prepared statement on the reader connection (opened on first use). */
  #statement(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      this.#db ??= this.#source.openReader();
      if (this.#statements.size >= MAX_STATEMENTS) this.#statements.clear();
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  /**
   * Objects, studies, series, patients and bytes stored. `generation` counts the stores so
   * far: the totals are read again (at most once a second) only when it moved.
   */
  totals(generation = 0, now = Date.now()): IndexTotals {
    const t = this.#totals;
    const age = t ? now - t.at : Infinity;
    if (
      t && age < TOTALS_MAX_AGE_MS && (t.generation === generation || age < TOTALS_MIN_AGE_MS)
    ) {
      return t.value;
    }
    // The patient rows carry their study/series/instance counts: one small table to read.
    const p = this.#statement(
      `SELECT count(*) AS patients, coalesce(sum(num_studies), 0) AS studies,
        coalesce(sum(num_series), 0) AS series, coalesce(sum(num_instances), 0) AS instances
       FROM patient`,
    ).get() as Row;
    // Bytes from the kept totals (totals.ts): summing a million rows took a quarter second.
    const b = totalsOf(this.#statement(TOTALS_SELECT).get() as Row | undefined);
    const value: IndexTotals = {
      patients: Number(p.patients),
      studies: Number(p.studies),
      series: Number(p.series),
      instances: Number(p.instances),
      bytes: b.bytes,
      storedBytes: b.storedBytes,
    };
    this.#totals = { at: now, generation, value };
    return value;
  }

  /** Throws unless the index answers a query (health check). */
  check(): void {
    this.#statement("SELECT count(*) AS n FROM meta").get();
  }

  /**
   * True when the search's patient keys (name, ID) select few patients: their studies are
   * then read through the patient indexes and sorted, instead of walking every study by date.
   */
  #fewPatients(matches: Match[]): boolean {
    const keys = matches.filter((m) => m.field === "patientName" || m.field === "patientId");
    if (keys.length === 0) return false;
    const probe = buildSelect(queryOf("PATIENT", keys, []), "PATIENT", [["one", "1"]]);
    const sql = `SELECT count(*) AS n FROM (${probe.sql} LIMIT ${FEW_PATIENTS + 1})`;
    return Number((this.#statement(sql).get(...probe.params) as Row).n) <= FEW_PATIENTS;
  }

  /** The one SELECT a page runs (public for query-plan tests). */
  studyPageStatement(search: StudySearch) {
    const matches = searchMatches(search);
    const s = selectFor("STUDY", matches, STUDY_FIELDS);
    const backwards = search.before !== undefined && search.after === undefined;
    const cursorText = backwards ? search.before : search.after;
    const cursor = cursorText !== undefined ? parseCursor(cursorText) : null;
    const params: (string | number)[] = [...s.params];
    // "+" keeps SQLite from walking study_date_idx: the patient indexes lead instead. Not for
    // a name found anywhere in it ("*hans*"): no index finds those patients, and the date walk,
    // which LIMIT stops, is then the cheaper way.
    const infix = /^[*?]/.test(nameTerm(search));
    const date = !infix && this.#fewPatients(matches) ? "+st.study_date" : "st.study_date";
    let sql = s.sql;
    if (cursor) {
      sql += `${s.where}(${date}, st.pk) ${backwards ? ">" : "<"} (?, ?)`;
      params.push(...cursor);
    }
    const order = backwards ? "ASC" : "DESC";
    sql += ` ORDER BY ${date} ${order}, st.pk ${order} LIMIT ?`;
    params.push(MAX_SCAN);
    return { sql, params, matches, read: s.read, backwards, cursor, cursorText };
  }

  /** SQLite's plan for a statement, one step a line (for tests). */
  queryPlan(sql: string, params: (string | number)[]): string[] {
    const rows = this.#statement(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Row[];
    return rows.map((r) => String(r.detail));
  }

  /** One page of studies, newest Study Date first. */
  searchStudies(search: StudySearch): StudyPage {
    const limit = Math.min(MAX_PAGE, Math.max(1, Math.floor(search.limit ?? DEFAULT_PAGE)));
    const { sql, params, matches, read, backwards, cursor, cursorText } = this
      .studyPageStatement(search);
    const found: { row: Record<string, string>; pk: number }[] = [];
    let scanned = 0;
    let last: { row: Record<string, string>; pk: number } | null = null;
    for (const values of this.#statement(sql).iterate(...params)) {
      const r = read(values as Row);
      scanned++;
      last = r;
      if (rowMatches(matches, r.row)) found.push(r);
      if (found.length > limit) break;
    }
    const more = found.length > limit;
    const partial = !more && scanned >= MAX_SCAN;
    const shown = found.slice(0, limit);
    if (backwards) shown.reverse();
    const studies = shown.map((r) => toStudy(r.row));
    const first = shown[0];
    const end = shown.at(-1);
    let next: string | null;
    let prev: string | null;
    if (backwards) {
      prev = more && first ? cursorOf(first.row, first.pk) : null;
      next = end ? cursorOf(end.row, end.pk) : cursorText!;
    } else {
      const resume = partial && last ? last : more ? end : undefined;
      next = resume ? cursorOf(resume.row, resume.pk) : null;
      prev = cursor ? (first ? cursorOf(first.row, first.pk) : cursorText!) : null;
    }
    return { studies, next, prev, partial };
  }

  /** A study and its series; null when no study has that UID. */
  getStudy(studyInstanceUid: string): StudyDetail | null {
    const uid = studyInstanceUid.trim();
    if (uid === "" || uid.length > 64) return null;
    const byUid = [keyMatch(TAG.studyInstanceUid, uid)!];
    const st = selectFor("STUDY", byUid, STUDY_FIELDS);
    const studyRow = this.#statement(`${st.sql} LIMIT 1`).get(...st.params) as Row | undefined;
    if (!studyRow) return null;
    const study = st.read(studyRow);
    if (!rowMatches(byUid, study.row)) return null;
    return { study: toStudy(study.row), series: this.seriesOfStudy(uid) };
  }

  /** The series of a study, by Series Number (at most MAX_SERIES). */
  seriesOfStudy(studyInstanceUid: string): SeriesSummary[] {
    const uid = studyInstanceUid.trim();
    if (uid === "" || uid.length > 64) return [];
    const byUid = [keyMatch(TAG.studyInstanceUid, uid)!];
    const se = selectFor("SERIES", byUid, SERIES_FIELDS);
    const rows = this.#statement(
      `${se.sql} ORDER BY CAST(se.series_number AS INTEGER), se.pk LIMIT ${MAX_SERIES}`,
    ).all(...se.params) as Row[];
    return rows.map((v) => se.read(v).row).map((r) => ({
      seriesInstanceUid: r.seriesInstanceUid,
      modality: r.modality,
      seriesNumber: r.seriesNumber,
      seriesDescription: r.seriesDescription,
      bodyPartExamined: r.bodyPartExamined,
      seriesDate: r.seriesDate,
      seriesTime: r.seriesTime,
      instances: Number(r.numberOfSeriesRelatedInstances) || 0,
    }));
  }

  close(): void {
    this.#statements.clear();
    if (this.#db?.isOpen) this.#db.close();
    this.#db = null;
  }
}
