// Storage Commitment of forwarded objects ([[route]] commit = true), in index.sqlite beside the
// forwarding queue. The queue row of an object sent to such a destination stays, carrying the
// Transaction UID of the N-ACTION-RQ that asked for its commitment (written before the request
// goes, so a report that comes at once or after a restart is matched). The report settles it:
// committed rows leave the queue for forward_committed ("committed at CENTRAL" on the study
// page); failed ones are queued again to be sent and committed once more.
import type { CommitmentResult } from "../core/services/commitment.ts";
import type { IndexDb } from "./index_db.ts";
import type { QueueItem } from "./forward_queue.ts";
import { type Row, SqlStatements } from "./sql_statements.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS forward_committed (
  destination TEXT NOT NULL,
  sop_instance_uid TEXT NOT NULL,
  transaction_uid TEXT NOT NULL,
  committed_at INTEGER NOT NULL,
  PRIMARY KEY (destination, sop_instance_uid)
);
CREATE INDEX IF NOT EXISTS forward_queue_tx_idx ON forward_queue(transaction_uid)
  WHERE transaction_uid != '';
`;

/** What became of a report's references. */
export interface ReportOutcome {
  /** The destination the transaction was asked of; null when the UID is none of ours. */
  destination: string | null;
  committed: number;
  failed: number;
  /** Of the failed: moved to the failed list (give_up_after_h passed). */
  gaveUp: number;
}

/** When a failed object goes again, given its attempts so far and when it was queued. */
export type RetryPolicy = (attempts: number, queuedAt: number) => {
  nextAttempt: number;
  giveUp: boolean;
};

/** One destination's commitments within a study, for the study page. */
export interface StudyCommitment {
  destination: string;
  committed: number;
  awaiting: number;
  /** ms since 1970 of the latest commitment, null when none. */
  lastCommittedAt: number | null;
}

export class ForwardCommitments {
  readonly #index: IndexDb;
  readonly #sql: SqlStatements;

  /** Creates its table (the forwarding queue's must exist already). */
  constructor(index: IndexDb) {
    this.#index = index;
    this.#sql = new SqlStatements(index.connection);
    index.connection.exec(SCHEMA);
  }

  /**
   * Marks sent objects as waiting for the report of `transactionUid`, before the N-ACTION-RQ
   * goes. A row stored again since it was read is left to be sent again.
   */
  requested(items: readonly QueueItem[], transactionUid: string, now = Date.now()): void {
    const mark = this.#sql.prepare(
      `UPDATE forward_queue SET transaction_uid = ?, commit_requested_at = ?
       WHERE pk = ? AND version = ?`,
    );
    // Durable (synchronous=FULL): a report that comes after a power cut still finds them.
    this.#index.transaction(() => {
      for (const i of items) mark.run(transactionUid, now, i.pk, i.version);
    }, true);
  }

  /** Settles the references of a report, in one transaction. */
  reported(result: CommitmentResult, retry: RetryPolicy, now = Date.now()): ReportOutcome {
    const tx = result.transactionUid;
    const outcome: ReportOutcome = { destination: null, committed: 0, failed: 0, gaveUp: 0 };
    const row = this.#sql.prepare(
      `SELECT pk, destination, attempts, queued_at FROM forward_queue
       WHERE transaction_uid = ? AND sop_instance_uid = ?`,
    );
    // A report sent twice finds its transaction among the committed ones.
    const anyOf = this.#sql.prepare(
      `SELECT destination FROM forward_queue WHERE transaction_uid = ?1
       UNION ALL SELECT destination FROM forward_committed WHERE transaction_uid = ?1 LIMIT 1`,
    );
    const committed = this.#sql.prepare(
      `INSERT INTO forward_committed (destination, sop_instance_uid, transaction_uid,
        committed_at) VALUES (?, ?, ?, ?) ON CONFLICT (destination, sop_instance_uid)
       DO UPDATE SET transaction_uid = excluded.transaction_uid,
        committed_at = excluded.committed_at`,
    );
    const drop = this.#sql.prepare("DELETE FROM forward_queue WHERE pk = ?");
    const again = this.#sql.prepare(
      `UPDATE forward_queue SET transaction_uid = '', attempts = attempts + 1, next_attempt = ?,
        last_error = ?, state = ? WHERE pk = ?`,
    );
    this.#index.transaction(() => {
      const first = anyOf.get(tx) as Row | undefined;
      if (!first) return;
      outcome.destination = String(first.destination);
      for (const ref of result.committed) {
        const r = row.get(tx, ref.sopInstanceUid) as Row | undefined;
        if (!r) continue;
        committed.run(String(r.destination), ref.sopInstanceUid, tx, now);
        drop.run(Number(r.pk));
        outcome.committed++;
      }
      for (const f of result.failed) {
        const r = row.get(tx, f.sopInstanceUid) as Row | undefined;
        if (!r) continue;
        const { nextAttempt, giveUp } = retry(Number(r.attempts) + 1, Number(r.queued_at));
        const error = `not committed: failure reason 0x${f.reason.toString(16).padStart(4, "0")}`;
        again.run(nextAttempt, error, giveUp ? "failed" : "queued", Number(r.pk));
        outcome.failed++;
        if (giveUp) outcome.gaveUp++;
      }
    });
    return outcome;
  }

  /**
   * Requests whose report did not come by `cutoff` are given up on: their objects are queued to
   * be sent and committed again. Returns how many.
   */
  expire(cutoff: number, error: string): number {
    return Number(
      this.#sql.prepare(
        `UPDATE forward_queue SET transaction_uid = '', next_attempt = 0, last_error = ?
         WHERE transaction_uid != '' AND commit_requested_at < ?`,
      ).run(error.slice(0, 500), cutoff).changes,
    );
  }

  /** Objects committed at each destination (the Forwarding page). */
  committedCounts(): Map<string, number> {
    return new Map(
      (this.#sql.prepare(
        "SELECT destination, count(*) AS n FROM forward_committed GROUP BY destination",
      ).all() as Row[]).map((r) => [String(r.destination), Number(r.n)]),
    );
  }

  /** Per destination: the study's instances committed there and those awaiting a report. */
  forStudy(studyInstanceUid: string): StudyCommitment[] {
    const rows = this.#sql.prepare(
      `WITH inst AS (SELECT i.sop_instance_uid AS uid FROM instance i
         JOIN series se ON se.pk = i.series_pk JOIN study st ON st.pk = se.study_pk
         WHERE st.study_instance_uid = ?)
       SELECT destination, sum(c) AS committed, sum(a) AS awaiting, max(t) AS last FROM (
         SELECT c.destination, 1 AS c, 0 AS a, c.committed_at AS t FROM forward_committed c
           JOIN inst ON inst.uid = c.sop_instance_uid
         UNION ALL
         SELECT q.destination, 0, 1, NULL FROM forward_queue q
           JOIN inst ON inst.uid = q.sop_instance_uid WHERE q.want_commit = 1)
       GROUP BY destination ORDER BY destination`,
    ).all(studyInstanceUid) as Row[];
    return rows.map((r) => ({
      destination: String(r.destination),
      committed: Number(r.committed),
      awaiting: Number(r.awaiting),
      lastCommittedAt: r.last === null ? null : Number(r.last),
    }));
  }
}
