// Prepared statements of one node:sqlite connection, each prepared once and reused.
import type { DatabaseSync, StatementSync } from "node:sqlite";

export type Row = Record<string, unknown>;
export type SqlValue = string | number | null;

export class SqlStatements {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, StatementSync>();

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** The statement for `sql`, prepared on first use. */
  prepare(sql: string): StatementSync {
    let s = this.#cache.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#cache.set(sql, s);
    }
    return s;
  }

  get(sql: string, ...params: SqlValue[]): Row | undefined {
    return this.prepare(sql).get(...params) as Row | undefined;
  }

  all(sql: string, ...params: SqlValue[]): Row[] {
    return this.prepare(sql).all(...params) as Row[];
  }

  /** Runs `sql`; the number of rows it changed. */
  run(sql: string, ...params: SqlValue[]): number {
    return Number(this.prepare(sql).run(...params).changes);
  }

  /** Runs an INSERT; the rowid of the new row. */
  insert(sql: string, ...params: SqlValue[]): number {
    return Number(this.prepare(sql).run(...params).lastInsertRowid);
  }

  /** Forgets every prepared statement (before the connection closes). */
  clear(): void {
    this.#cache.clear();
  }
}
