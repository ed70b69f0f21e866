// The read side of the index for C-FIND, C-MOVE and C-GET: a query becomes one SELECT on a
// read-only connection (WAL: a running query never blocks a store, nor a store a query), read
// row by row. The SQL narrows the candidates with the indexes; every row is then checked
// against the core's matching rules, which stay the one definition of a match.
import type { DatabaseSync, StatementSync } from "node:sqlite";
import {
  type DataElement,
  decodeDatasetPart,
  encodingOf,
  findElement,
  textOf,
} from "../core/dicom/dataset.ts";
import { decodeFileMetaInformation } from "../core/dicom/part10.ts";
import { Tag } from "../core/dicom/tags.ts";
import { TRANSFER_SYNTAXES } from "../core/dicom/transfer_syntaxes.ts";
import type { FindOptions, InstanceRef, QueryIndex } from "../core/ports.ts";
import type { Entity, Level } from "../core/query/keys.ts";
import { type Match, rowMatches, type Term } from "../core/query/matching.ts";
import type { PnHint } from "../core/query/pn.ts";
import type { Query, QueryRow } from "../core/query/query.ts";
import type { FileAttributes } from "../core/query/response.ts";
import { isNotFound } from "./layout.ts";

export interface SqliteQueryIndexOptions {
  /** Opens a read-only connection to index.sqlite (IndexDb.openReader). */
  openReader(): DatabaseSync;
  /** The storage root, for reading stored headers (IMAGE-level keys the index does not hold). */
  root: string;
  /** Idle reader connections kept open between queries (default 4). */
  maxIdleReaders?: number;
}

type SqlValue = string | number;

/** Field -> column, and the table it is in. */
const COLUMNS: Readonly<Record<string, readonly [Entity, string]>> = {
  patientName: ["patient", "p.patient_name"],
  patientId: ["patient", "p.patient_id"],
  patientBirthDate: ["patient", "p.patient_birth_date"],
  patientSex: ["patient", "p.patient_sex"],
  otherPatientIds: ["patient", "p.other_patient_ids"],
  numberOfPatientRelatedStudies: ["patient", "p.num_studies"],
  numberOfPatientRelatedSeries: ["patient", "p.num_series"],
  numberOfPatientRelatedInstances: ["patient", "p.num_instances"],
  studyInstanceUid: ["study", "st.study_instance_uid"],
  studyDate: ["study", "st.study_date"],
  studyTime: ["study", "st.study_time"],
  accessionNumber: ["study", "st.accession_number"],
  studyId: ["study", "st.study_id"],
  studyDescription: ["study", "st.study_description"],
  referringPhysicianName: ["study", "st.referring_physician_name"],
  modalitiesInStudy: ["study", "st.modalities_in_study"],
  sopClassesInStudy: ["study", "st.sop_classes_in_study"],
  numberOfStudyRelatedSeries: ["study", "st.num_series"],
  numberOfStudyRelatedInstances: ["study", "st.num_instances"],
  seriesInstanceUid: ["series", "se.series_instance_uid"],
  modality: ["series", "se.modality"],
  seriesNumber: ["series", "se.series_number"],
  seriesDescription: ["series", "se.series_description"],
  bodyPartExamined: ["series", "se.body_part_examined"],
  seriesDate: ["series", "se.series_date"],
  seriesTime: ["series", "se.series_time"],
  numberOfSeriesRelatedInstances: ["series", "se.num_instances"],
  sopInstanceUid: ["instance", "i.sop_instance_uid"],
  sopClassUid: ["instance", "i.sop_class_uid"],
  instanceNumber: ["instance", "i.instance_number"],
  availableTransferSyntaxUid: ["instance", "i.transfer_syntax_uid"],
};

/** Person names: the search columns pn.ts fills (upper case alphabetic group, other groups). */
const PN_COLUMNS: Readonly<Record<string, readonly [string, string]>> = {
  patientName: ["p.patient_name_norm", "p.patient_name_alt"],
  referringPhysicianName: ["st.referring_physician_name_norm", "st.referring_physician_name_alt"],
};

/** Columns holding backslash-separated values. */
const MULTI_VALUED = new Set(["otherPatientIds", "modalitiesInStudy", "sopClassesInStudy"]);

const FROM: Record<Level, string> = {
  PATIENT: "patient p",
  STUDY: "study st JOIN patient p ON p.pk = st.patient_pk",
  SERIES: "series se JOIN study st ON st.pk = se.study_pk JOIN patient p ON p.pk = st.patient_pk",
  IMAGE: "instance i JOIN series se ON se.pk = i.series_pk JOIN study st ON st.pk = " +
    "se.study_pk JOIN patient p ON p.pk = st.patient_pk",
};

/**
 * STUDY level led by a name prefix: patients first (by the name's index), then each one's
 * studies by study_patient_date_idx, so that a date range is an index range per patient. CROSS
 * JOIN keeps SQLite from starting at the date's own index (a year is a tenth of all studies).
 */
const STUDY_BY_PATIENT = "patient p CROSS JOIN study st ON st.patient_pk = p.pk";

const INSTANCE_COLUMNS = [
  ["sopInstanceUid", "i.sop_instance_uid"],
  ["sopClassUid", "i.sop_class_uid"],
  ["transferSyntaxUid", "i.transfer_syntax_uid"],
  ["studyInstanceUid", "st.study_instance_uid"],
  ["seriesInstanceUid", "se.series_instance_uid"],
  ["locKind", "i.loc_kind"],
  ["locPath", "i.loc_path"],
  ["locOffset", "i.loc_offset"],
  ["locLength", "i.loc_length"],
] as const;

/** The row id of each level's entity: the order entities were first stored in. */
const ENTITY_PK: Record<Level, string> = {
  PATIENT: "p.pk",
  STUDY: "st.pk",
  SERIES: "se.pk",
  IMAGE: "i.pk",
};

/** Rows checked (and thrown away) between two turns of the event loop. */
const ROWS_PER_TURN = 2000;
/** A header larger than this is read no further (values past it stay unknown). */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;
const FIRST_READ_BYTES = 16 * 1024;

/** `[` `*` `?` taken literally in a GLOB pattern. */
function globLiteral(text: string): string {
  return text.replace(/[[*?]/g, (c) => `[${c}]`);
}

/** A query wildcard pattern ("*", "?") as a GLOB pattern. */
function globPattern(pattern: string): string {
  return pattern.replace(/\[/g, "[[]");
}

function hintGlob(h: PnHint, anchored: boolean): string | null {
  if (h.prefix === "" && h.pieces.length === 0) return null;
  const body = [h.prefix, ...h.pieces].filter((p) => p !== "").map(globLiteral).join("*");
  return (anchored && h.prefix !== "" ? "" : "*") + body + "*";
}

export interface SelectStatement {
  sql: string;
  params: SqlValue[];
}

/**
 * True when a key is a person name with a leading literal part ("SMITH*", "SMITH^J*"): its
 * name index then finds fewer rows than a date range's index does (a year of studies is a
 * tenth of them; a family name a few hundredths), so the date is checked on the rows it finds.
 */
function hasNamePrefix(matches: readonly Match[]): boolean {
  return matches.some((m) =>
    m.field !== undefined && m.field in PN_COLUMNS && m.terms.length === 1 &&
    m.terms[0].type === "pn" && (m.terms[0].pattern.hint.first?.prefix ?? "") !== ""
  );
}

/**
 * The SQL condition of one key, or null when only the row check can decide it. With
 * `dateByRow`, a date range is written so that SQLite does not pick its index (`+column`).
 */
function condition(m: Match, params: SqlValue[], dateByRow = false): string | null {
  const field = m.field!;
  const indexed = COLUMNS[field]?.[1];
  if (!indexed) throw new Error(`no column for field ${field}`);
  const column = dateByRow && m.vr === "DA" ? `+${indexed}` : indexed;
  const parts: string[] = [];
  for (const t of m.terms) {
    const sql = termCondition(m, field, column, t, params);
    if (sql === null) return null; // an alternative the SQL cannot narrow: keep every row
    parts.push(sql);
  }
  return parts.length === 1 ? parts[0] : `(${parts.join(" OR ")})`;
}

function termCondition(
  m: Match,
  field: string,
  column: string,
  t: Term,
  params: SqlValue[],
): string | null {
  const multi = MULTI_VALUED.has(field);
  const wrapped = `('\\' || ${column} || '\\')`;
  switch (t.type) {
    case "exact":
      if (multi) {
        params.push(`*\\${globLiteral(t.value)}\\*`);
        return `${wrapped} GLOB ?`;
      }
      params.push(t.value);
      return `${column} = ?`;
    case "wildcard":
      params.push(multi ? `*\\${globPattern(t.pattern)}\\*` : globPattern(t.pattern));
      return `${multi ? wrapped : column} GLOB ?`;
    case "range": {
      if (m.vr !== "DA") return null; // times: the row check compares normalized values
      // With combined date-time matching the bounds start with the date.
      const lower = t.lower.slice(0, 8);
      const upper = t.upper.slice(0, 8);
      const sql = [`${column} <> ''`];
      if (lower) {
        params.push(lower);
        sql.push(`${column} >= ?`);
      }
      if (upper) {
        params.push(upper);
        sql.push(`${column} <= ?`);
      }
      return `(${sql.join(" AND ")})`;
    }
    case "pn": {
      const [norm, alt] = PN_COLUMNS[field];
      const { first, other } = t.pattern.hint;
      const firstGlob = first ? hintGlob(first, true) : null;
      const otherGlob = other ? hintGlob(other, false) : null;
      if (t.pattern.anyGroup) {
        if (firstGlob === null) return null;
        params.push(firstGlob);
        if (otherGlob === null) return `(${norm} GLOB ? OR ${alt} <> '')`;
        params.push(otherGlob);
        return `(${norm} GLOB ? OR (${alt} > '' AND ${alt} GLOB ?))`;
      }
      const sql: string[] = [];
      if (firstGlob !== null) {
        params.push(firstGlob);
        sql.push(`${norm} GLOB ?`);
      }
      if (otherGlob !== null) {
        params.push(otherGlob);
        sql.push(`${alt} GLOB ?`);
      }
      return sql.length ? `(${sql.join(" AND ")})` : null;
    }
    case "number":
      return null;
  }
}

/**
 * The SELECT for a query: the given fields (as "f0", "f1"... in order) of the entities at
 * `level`, narrowed by every key the SQL can express.
 */
export function buildSelect(
  query: Query,
  level: Level,
  columns: readonly (readonly [string, string])[],
): SelectStatement {
  const params: SqlValue[] = [];
  const where: string[] = [];
  const namePrefix = hasNamePrefix(query.matches);
  const byPatient = namePrefix && level === "STUDY";
  for (const m of query.matches) {
    const sql = condition(m, params, namePrefix && !byPatient);
    if (sql !== null) where.push(sql);
  }
  const list = columns.map(([, column], i) => `${column} AS f${i}`).join(", ");
  const sql = `SELECT ${list} FROM ${byPatient ? STUDY_BY_PATIENT : FROM[level]}${
    where.length ? ` WHERE ${where.join(" AND ")}` : ""
  }`;
  return { sql, params };
}

function fieldColumns(fields: Iterable<string>): (readonly [string, string])[] {
  return [...new Set(fields)].map((f) => {
    const c = COLUMNS[f];
    if (!c) throw new Error(`no column for field ${f}`);
    return [f, c[1]] as const;
  });
}

const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export class SqliteQueryIndex implements QueryIndex {
  readonly #options: SqliteQueryIndexOptions;
  #idle: DatabaseSync[] = [];
  #statements = new WeakMap<DatabaseSync, Map<string, StatementSync>>();
  #closed = false;

  constructor(options: SqliteQueryIndexOptions) {
    this.#options = options;
  }

  #acquire(): DatabaseSync {
    if (this.#closed) throw new Error("query index is closed");
    return this.#idle.pop() ?? this.#options.openReader();
  }

  #release(db: DatabaseSync): void {
    if (!this.#closed && this.#idle.length < (this.#options.maxIdleReaders ?? 4)) {
      this.#idle.push(db);
    } else db.close();
  }

  #prepare(db: DatabaseSync, sql: string): StatementSync {
    let cache = this.#statements.get(db);
    if (!cache) this.#statements.set(db, cache = new Map());
    let stmt = cache.get(sql);
    if (!stmt) {
      if (cache.size >= 128) cache.clear();
      stmt = db.prepare(sql);
      cache.set(sql, stmt);
    }
    return stmt;
  }

  /** Runs a SELECT and yields its rows (column i as "f<i>"), one connection per running query. */
  async *#rows(
    select: SelectStatement,
    signal?: AbortSignal,
  ): AsyncGenerator<Record<string, unknown>> {
    const db = this.#acquire();
    let iterator: Iterator<unknown> | undefined;
    try {
      const stmt = this.#prepare(db, select.sql);
      iterator = stmt.iterate(...select.params)[Symbol.iterator]();
      let scanned = 0;
      while (true) {
        if (signal?.aborted) return;
        const next = iterator.next();
        if (next.done) return;
        yield next.value as Record<string, unknown>;
        if (++scanned % ROWS_PER_TURN === 0) await turn();
      }
    } finally {
      iterator?.return?.();
      this.#release(db);
    }
  }

  async *find(
    query: Query,
    signal?: AbortSignal,
    options: FindOptions = {},
  ): AsyncGenerator<QueryRow> {
    const fields = new Set(query.fields);
    for (const m of query.matches) {
      fields.add(m.field!);
      if (m.time?.field) fields.add(m.time.field);
    }
    const columns = fieldColumns(fields);
    const select = buildSelect(query, query.level, columns);
    if (options.ordered) select.sql += ` ORDER BY ${ENTITY_PK[query.level]}`;
    let rejected = 0;
    for await (const values of this.#rows(select, signal)) {
      const row: Record<string, string> = {};
      columns.forEach(([f], i) => (row[f] = String(values[`f${i}`] ?? "")));
      if (rowMatches(query.matches, row)) yield row;
      else if (++rejected % ROWS_PER_TURN === 0) await turn();
    }
  }

  async *instancesFor(query: Query, signal?: AbortSignal): AsyncGenerator<InstanceRef> {
    const fields = new Set<string>();
    for (const m of query.matches) {
      fields.add(m.field!);
      if (m.time?.field) fields.add(m.time.field);
    }
    const matchColumns = fieldColumns(fields);
    const columns = [...INSTANCE_COLUMNS, ...matchColumns];
    const select = buildSelect(query, "IMAGE", columns);
    const base = INSTANCE_COLUMNS.length;
    for await (const values of this.#rows(select, signal)) {
      const row: Record<string, string> = {};
      matchColumns.forEach(([f], i) => (row[f] = String(values[`f${base + i}`] ?? "")));
      if (!rowMatches(query.matches, row)) continue;
      const v = (i: number) => String(values[`f${i}`] ?? "");
      yield {
        sopInstanceUid: v(0),
        sopClassUid: v(1),
        transferSyntaxUid: v(2),
        studyInstanceUid: v(3),
        seriesInstanceUid: v(4),
        location: {
          kind: v(5) === "home" ? "home" : "journal",
          path: v(6),
          offset: Number(values.f7),
          length: Number(values.f8),
        },
      };
    }
  }

  /** Where the index says an instance's Part 10 bytes are. */
  #locate(sopInstanceUid: string): { path: string; offset: number; length: number } | null {
    const db = this.#acquire();
    try {
      const row = this.#prepare(
        db,
        "SELECT loc_path, loc_offset, loc_length FROM instance WHERE sop_instance_uid = ?",
      ).get(sopInstanceUid) as Record<string, unknown> | undefined;
      if (!row) return null;
      return {
        path: String(row.loc_path),
        offset: Number(row.loc_offset),
        length: Number(row.loc_length),
      };
    } finally {
      this.#release(db);
    }
  }

  async readAttributes(
    sopInstanceUid: string,
    tags: readonly number[],
  ): Promise<FileAttributes | null> {
    // Bounded retries: the materializer may move the object between lookup and open.
    for (let attempt = 0; attempt < 5; attempt++) {
      const loc = this.#locate(sopInstanceUid);
      if (!loc) return null;
      let file: Deno.FsFile;
      try {
        file = await Deno.open(`${this.#options.root}/${loc.path}`, { read: true });
      } catch (e) {
        if (isNotFound(e)) continue;
        throw e;
      }
      try {
        return await readHeader(file, loc.offset, loc.length, tags);
      } finally {
        file.close();
      }
    }
    return null;
  }

  /** Closes every idle reader; running queries close theirs when they end. */
  close(): void {
    this.#closed = true;
    for (const db of this.#idle.splice(0)) db.close();
  }
}

async function readRange(file: Deno.FsFile, position: number, length: number) {
  const bytes = new Uint8Array(length);
  await file.seek(position, Deno.SeekMode.Start);
  let done = 0;
  while (done < length) {
    const n = await file.read(bytes.subarray(done));
    if (n === null) break;
    done += n;
  }
  return bytes.subarray(0, done);
}

async function inflate(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Reads a stored object's header far enough to hold the wanted top-level tags. */
async function readHeader(
  file: Deno.FsFile,
  offset: number,
  length: number,
  tags: readonly number[],
): Promise<FileAttributes> {
  const wanted = new Set([...tags, Tag.SpecificCharacterSet]);
  const last = Math.max(...wanted);
  let size = Math.min(FIRST_READ_BYTES, length);
  for (;;) {
    const bytes = await readRange(file, offset, size);
    const { meta, datasetOffset } = decodeFileMetaInformation(bytes);
    const deflated = TRANSFER_SYNTAXES.get(meta.transferSyntaxUid)?.deflated ?? false;
    if (deflated && size < length && size < MAX_HEADER_BYTES) {
      size = Math.min(length, MAX_HEADER_BYTES);
      continue;
    }
    let dataset: Uint8Array = bytes.subarray(datasetOffset);
    if (deflated) dataset = await inflate(dataset).catch(() => dataset);
    const encoding = encodingOf(deflated ? "1.2.840.10008.1.2.1" : meta.transferSyntaxUid);
    const part = decodeDatasetPart(dataset, encoding, { stopAfterTag: last, allowTruncated: true });
    const done = !part.truncated || size >= length || size >= MAX_HEADER_BYTES || deflated;
    if (done) {
      const elements = part.elements.filter((e: DataElement) => wanted.has(e.tag));
      const charset = findElement(elements, Tag.SpecificCharacterSet);
      return {
        elements,
        specificCharacterSet: charset ? textOf(charset, "").trim() : "",
      };
    }
    size = Math.min(length, size * 4, MAX_HEADER_BYTES);
  }
}
