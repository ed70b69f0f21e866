// The web pages' own read-only connection to index.sqlite (WAL: reading never blocks a
// store). Every statement is bounded (indexed lookups, LIMITs); the totals are cached until
// a store changes them, so that a reloading dashboard costs the DICOM path nothing measurable.
import type { DatabaseSync, StatementSync } from "node:sqlite";

export interface IndexTotals {
  patients: number;
  studies: number;
  series: number;
  instances: number;
  bytes: number;
}

/** After a store the totals are read again, at most this often. */
const MIN_AGE_MS = 1000;
/** Read again after this long anyway (retention may have deleted objects). */
const MAX_AGE_MS = 60_000;
type Row = Record<string, unknown>;

export class IndexReader {
  readonly #open: () => DatabaseSync;
  #db: DatabaseSync | null = null;
  #statements = new Map<string, StatementSync>();
  #totals: { at: number; generation: number; value: IndexTotals } | null = null;

  constructor(openReader: () => DatabaseSync) {
    this.#open = openReader;
  }

  /** A prepared statement on the reader connection (opened on first use). */
  statement(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      this.#db ??= this.#open();
      if (this.#statements.size >= 64) this.#statements.clear();
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
    if (t && age < MAX_AGE_MS && (t.generation === generation || age < MIN_AGE_MS)) {
      return t.value;
    }
    // The patient rows carry their study/series/instance counts: one small table to read.
    const p = this.statement(
      `SELECT count(*) AS patients, coalesce(sum(num_studies), 0) AS studies,
        coalesce(sum(num_series), 0) AS series, coalesce(sum(num_instances), 0) AS instances
       FROM patient`,
    ).get() as Row;
    const b = this.statement("SELECT coalesce(sum(size), 0) AS b FROM instance").get() as Row;
    const value: IndexTotals = {
      patients: Number(p.patients),
      studies: Number(p.studies),
      series: Number(p.series),
      instances: Number(p.instances),
      bytes: Number(b.b),
    };
    this.#totals = { at: now, generation, value };
    return value;
  }

  /** Throws unless the index answers a query (health check). */
  check(): void {
    this.statement("SELECT count(*) AS n FROM meta").get();
  }

  close(): void {
    this.#statements.clear();
    if (this.#db?.isOpen) this.#db.close();
    this.#db = null;
  }
}
