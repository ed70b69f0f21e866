// Storage commitment requests in index.sqlite: each N-ACTION-RQ is recorded with its result
// (committed and failed references) in a durable transaction before it is answered 0000, and
// stays until its N-EVENT-REPORT got an answer, so a restart reports it still.
import type { CommitmentResult } from "../core/services/commitment.ts";
import type { IndexDb } from "./index_db.ts";
import { type Row, SqlStatements } from "./sql_statements.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS commitment_request (
  pk INTEGER PRIMARY KEY,
  calling_ae TEXT NOT NULL,
  transaction_uid TEXT NOT NULL,
  result TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT ''
);
`;

/** A request whose report is still to be delivered. */
export interface PendingCommitment {
  id: number;
  callingAe: string;
  result: CommitmentResult;
  receivedAt: number;
  attempts: number;
  nextAttempt: number;
  lastError: string;
}

export class CommitmentQueue {
  readonly #index: IndexDb;
  readonly #sql: SqlStatements;

  constructor(index: IndexDb) {
    this.#index = index;
    this.#sql = new SqlStatements(index.connection);
    index.connection.exec(SCHEMA);
  }

  /** Records a request and its result, durably (synchronous=FULL); returns its id. */
  add(callingAe: string, result: CommitmentResult, now = Date.now()): number {
    return this.#index.transaction(
      () =>
        Number(
          this.#sql.prepare(
            `INSERT INTO commitment_request (calling_ae, transaction_uid, result, received_at)
             VALUES (?, ?, ?, ?)`,
          ).run(callingAe, result.transactionUid, JSON.stringify(result), now).lastInsertRowid,
        ),
      true,
    );
  }

  /** The report was answered: the request is done. */
  remove(id: number): void {
    this.#sql.prepare("DELETE FROM commitment_request WHERE pk = ?").run(id);
  }

  /** Not delivered this time: tried again at `nextAttempt`. */
  retryLater(id: number, error: string, nextAttempt: number): void {
    this.#sql.prepare(
      `UPDATE commitment_request SET attempts = attempts + 1, next_attempt = ?, last_error = ?
       WHERE pk = ?`,
    ).run(nextAttempt, error.slice(0, 500), id);
  }

  /** Requests whose report is due (retry time reached), oldest first. */
  due(now: number, limit = 100): PendingCommitment[] {
    return (this.#sql.prepare(
      `SELECT * FROM commitment_request WHERE next_attempt <= ? ORDER BY pk LIMIT ?`,
    ).all(now, limit) as Row[]).map((r) => ({
      id: Number(r.pk),
      callingAe: String(r.calling_ae),
      result: JSON.parse(String(r.result)) as CommitmentResult,
      receivedAt: Number(r.received_at),
      attempts: Number(r.attempts),
      nextAttempt: Number(r.next_attempt),
      lastError: String(r.last_error),
    }));
  }

  /** Earliest retry time among waiting requests, or null when none waits. */
  nextAttempt(): number | null {
    const r = this.#sql.prepare("SELECT min(next_attempt) AS t FROM commitment_request")
      .get() as Row;
    return r.t === null ? null : Number(r.t);
  }

  /** Requests waiting for their report. */
  count(): number {
    return Number(
      (this.#sql.prepare("SELECT count(*) AS n FROM commitment_request").get() as Row).n,
    );
  }
}
