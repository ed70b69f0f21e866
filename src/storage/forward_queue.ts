// The forwarding queue: one row per object and destination, in index.sqlite beside the
// instance rows. A stored object that matches a [[route]] is queued in the very transaction
// that indexes it, so whatever was acknowledged is queued (a replay at recovery queues it
// again); a row leaves the queue when the destination answered success, or moves to the
// failed list after [forward] give_up_after_h. UNIQUE(destination, instance): an object is
// queued once per destination however often it is stored or asked for. For a route with
// commit = true the row stays after the destination took the object, with the Transaction UID
// of the Storage Commitment asked for, until the report says committed
// (forward_commitments.ts).
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { InstanceRecord } from "../core/ports.ts";
import type { IndexDb, InstanceMeta } from "./index_db.ts";
import { INDEX_FILE } from "./layout.ts";
import { ForwardCommitments } from "./forward_commitments.ts";
import { SqlStatements } from "./sql_statements.ts";

/** What a route filters on; absent lists match anything. */
export interface RouteRule {
  destination: string;
  callingAe?: readonly string[];
  modality?: readonly string[];
  sopClasses?: readonly string[];
  /** Ask the destination for Storage Commitment of what it was sent. */
  commit?: boolean;
}

/** One queued object for one destination. */
export interface QueueItem {
  pk: number;
  destination: string;
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  /** When it was queued, ms since 1970. */
  queuedAt: number;
  attempts: number;
  /** Bumped when the object is stored again while queued: that version must go too. */
  version: number;
  /** A route with commit = true took it: sent is not done until committed. */
  wantCommit: boolean;
}

/** One destination's queue as the status page and /api/forward show it. */
export interface DestinationQueue {
  destination: string;
  queued: number;
  failed: number;
  /** ms since 1970 of the oldest object waiting; null when none waits. */
  oldestQueuedAt: number | null;
  /** Sent, their Storage Commitment asked for and not yet reported. */
  awaitingCommitment: number;
}

/** An object on the failed list. */
export interface FailedItem {
  destination: string;
  sopInstanceUid: string;
  studyInstanceUid: string | null;
  queuedAt: number;
  attempts: number;
  lastError: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS forward_queue (
  pk INTEGER PRIMARY KEY,
  destination TEXT NOT NULL,
  sop_instance_uid TEXT NOT NULL,
  sop_class_uid TEXT NOT NULL,
  transfer_syntax_uid TEXT NOT NULL,
  queued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'failed')),
  last_error TEXT NOT NULL DEFAULT '',
  UNIQUE (destination, sop_instance_uid)
);
CREATE INDEX IF NOT EXISTS forward_queue_due_idx ON forward_queue(destination, state, pk);
CREATE INDEX IF NOT EXISTS forward_queue_uid_idx ON forward_queue(sop_instance_uid);
`;

/** Columns added since the table was first shipped (ALTER TABLE on older indexes). */
const ADDED_COLUMNS: [string, string][] = [
  ["want_commit", "INTEGER NOT NULL DEFAULT 0"],
  // Set while a Storage Commitment request for the object waits for its report.
  ["transaction_uid", "TEXT NOT NULL DEFAULT ''"],
  ["commit_requested_at", "INTEGER NOT NULL DEFAULT 0"],
];

const upper = (s: string) => s.trim().toUpperCase();

/** True when a route takes an object from `callingAe` with this record. */
export function routeMatches(route: RouteRule, record: InstanceRecord, callingAe: string): boolean {
  if (route.callingAe?.length && !route.callingAe.some((a) => a.trim() === callingAe.trim())) {
    return false;
  }
  if (route.modality?.length && !route.modality.some((m) => upper(m) === upper(record.modality))) {
    return false;
  }
  if (route.sopClasses?.length && !route.sopClasses.includes(record.sopClassUid)) return false;
  return true;
}

/** The destinations whose routes take this object (each once). */
export function routeDestinations(
  routes: readonly RouteRule[],
  record: InstanceRecord,
  callingAe: string,
): string[] {
  return [...routeTargets(routes, record, callingAe).keys()];
}

/** Destination -> whether a matching route to it has commit = true. */
export function routeTargets(
  routes: readonly RouteRule[],
  record: InstanceRecord,
  callingAe: string,
): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const r of routes) {
    if (!routeMatches(r, record, callingAe)) continue;
    const d = r.destination.trim();
    out.set(d, (out.get(d) ?? false) || r.commit === true);
  }
  return out;
}

/** True when some route to `destination` has commit = true (a study forwarded by hand). */
export function destinationWantsCommit(routes: readonly RouteRule[], destination: string) {
  return routes.some((r) => r.destination.trim() === destination.trim() && r.commit === true);
}

type Row = Record<string, unknown>;

const toItem = (r: Row): QueueItem => ({
  pk: Number(r.pk),
  destination: String(r.destination),
  sopInstanceUid: String(r.sop_instance_uid),
  sopClassUid: String(r.sop_class_uid),
  transferSyntaxUid: String(r.transfer_syntax_uid),
  queuedAt: Number(r.queued_at),
  attempts: Number(r.attempts),
  version: Number(r.version),
  wantCommit: Number(r.want_commit) === 1,
});

/** Creates the queue's table when missing (index.sqlite, any connection that may write). */
export function createForwardTables(db: DatabaseSync): void {
  db.exec(SCHEMA);
  const have = new Set(
    (db.prepare("PRAGMA table_info(forward_queue)").all() as Row[]).map((c) => String(c.name)),
  );
  for (const [name, type] of ADDED_COLUMNS) {
    if (!have.has(name)) db.exec(`ALTER TABLE forward_queue ADD COLUMN ${name} ${type}`);
  }
}

/**
 * Queues every instance of a study for a destination on any writable connection (the
 * `minipacs forward` command writes while the server runs; its forwarder finds the rows at
 * its next sweep). Returns the rows added (already queued ones are left as they are).
 */
export function queueStudy(
  db: DatabaseSync,
  studyInstanceUid: string,
  destination: string,
  now = Date.now(),
  commit = false,
): { instances: number; queued: number } {
  createForwardTables(db);
  const rows = db.prepare(
    `SELECT i.sop_instance_uid AS sop, i.sop_class_uid AS cls, i.transfer_syntax_uid AS ts
     FROM instance i JOIN series se ON se.pk = i.series_pk JOIN study st ON st.pk = se.study_pk
     WHERE st.study_instance_uid = ? ORDER BY se.pk, i.pk`,
  ).all(studyInstanceUid) as Row[];
  const insert = db.prepare(
    `INSERT INTO forward_queue (destination, sop_instance_uid, sop_class_uid,
      transfer_syntax_uid, queued_at, want_commit) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (destination, sop_instance_uid) DO UPDATE SET state = 'queued',
      next_attempt = 0 WHERE state = 'failed'`,
  );
  let queued = 0;
  db.exec("BEGIN IMMEDIATE");
  try {
    for (const r of rows) {
      queued += Number(
        insert.run(destination, String(r.sop), String(r.cls), String(r.ts), now, commit ? 1 : 0)
          .changes,
      );
    }
    db.exec("COMMIT");
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
  return { instances: rows.length, queued };
}

/**
 * Queues a study in the index of the storage folder `root`, beside a running server or not
 * (SQLite WAL takes both writers; the server's sweep finds the rows).
 */
export function queueStudyInStorage(
  root: string,
  studyInstanceUid: string,
  destination: string,
  commit = false,
): { instances: number; queued: number } {
  const db = new DatabaseSync(`${root}/${INDEX_FILE}`);
  try {
    db.exec("PRAGMA busy_timeout = 10000");
    return queueStudy(db, studyInstanceUid, destination, Date.now(), commit);
  } finally {
    db.close();
  }
}

/** The queue on the server's index writer connection. */
export class ForwardQueue {
  readonly #routes: () => readonly RouteRule[];
  readonly #onQueued: (destination: string) => void;
  #index: IndexDb | undefined;
  #sql: SqlStatements | undefined;

  /**
   * `routes` is read for every stored object (a reload applies to the next one);
   * `onQueued` is told after the transaction that queued something for a destination.
   */
  constructor(routes: () => readonly RouteRule[], onQueued: (destination: string) => void) {
    this.#routes = routes;
    this.#onQueued = onQueued;
  }

  /** Creates the table and hooks into the index's instance writes (before recovery). */
  attach(index: IndexDb): void {
    this.#index = index;
    this.#sql = new SqlStatements(index.connection);
    createForwardTables(index.connection);
    index.onInstanceWritten((record, meta) => this.#onWritten(record, meta));
  }

  #stmt(sql: string): StatementSync {
    if (!this.#sql) throw new Error("forward queue is not attached to the index");
    return this.#sql.prepare(sql);
  }

  #insert(
    destination: string,
    record: { sopInstanceUid: string; sopClassUid: string; transferSyntaxUid: string },
    now: number,
    commit: boolean,
  ): boolean {
    // A new version of an object already waiting keeps its place; one that failed is retried;
    // one sent and waiting for its commitment goes again (and is committed again).
    return Number(
      this.#stmt(
        `INSERT INTO forward_queue (destination, sop_instance_uid, sop_class_uid,
          transfer_syntax_uid, queued_at, want_commit) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (destination, sop_instance_uid) DO UPDATE SET
          sop_class_uid = excluded.sop_class_uid,
          transfer_syntax_uid = excluded.transfer_syntax_uid,
          want_commit = max(want_commit, excluded.want_commit), transaction_uid = '',
          version = version + 1, state = 'queued', next_attempt = 0`,
      ).run(
        destination,
        record.sopInstanceUid,
        record.sopClassUid,
        record.transferSyntaxUid,
        now,
        commit ? 1 : 0,
      ).changes,
    ) > 0;
  }

  /** Inside the index transaction: queue the object for every route that takes it. */
  #onWritten(record: InstanceRecord, meta: InstanceMeta): void {
    const targets = routeTargets(this.#routes(), record, meta.callingAe);
    if (targets.size === 0) return;
    const destinations = [...targets.keys()];
    const now = Date.now();
    for (const [d, commit] of targets) this.#insert(d, record, now, commit);
    // Told once the transaction is over (the forwarder reads the queue then).
    queueMicrotask(() => {
      for (const d of destinations) this.#onQueued(d);
    });
  }

  /** Storage Commitment of forwarded objects, on the same index connection. */
  openCommitments(): ForwardCommitments {
    if (!this.#index) throw new Error("forward queue is not attached to the index");
    return new ForwardCommitments(this.#index);
  }

  /** Queues a study already stored for a destination (the study page, the CLI). */
  queueStudy(studyInstanceUid: string, destination: string): { instances: number; queued: number } {
    const commit = destinationWantsCommit(this.#routes(), destination);
    const r = queueStudy(
      this.#index!.connection,
      studyInstanceUid,
      destination,
      Date.now(),
      commit,
    );
    if (r.queued > 0) queueMicrotask(() => this.#onQueued(destination));
    return r;
  }

  /**
   * Objects waiting for `destination` whose retry time has come, oldest first, leaving out
   * those in `skip` (being sent). At most `limit`.
   */
  due(destination: string, now: number, limit: number, skip: ReadonlySet<number>): QueueItem[] {
    const out: QueueItem[] = [];
    // Read in pages past the skipped rows, bounded by the queue's length.
    let after = 0;
    for (let page = 0; page < 1_000_000 && out.length < limit; page++) {
      const rows = this.#stmt(
        `SELECT * FROM forward_queue WHERE destination = ? AND state = 'queued' AND pk > ?
          AND transaction_uid = '' ORDER BY pk LIMIT ?`,
      ).all(destination, after, limit + skip.size) as Row[];
      if (rows.length === 0) break;
      for (const r of rows) {
        after = Number(r.pk);
        if (skip.has(after) || Number(r.next_attempt) > now) continue;
        out.push(toItem(r));
        if (out.length >= limit) break;
      }
    }
    return out;
  }

  /** The earliest retry time among `destination`'s waiting objects, or null when none waits. */
  nextAttempt(destination: string): number | null {
    const r = this.#stmt(
      `SELECT min(next_attempt) AS t FROM forward_queue
       WHERE destination = ? AND state = 'queued' AND transaction_uid = ''`,
    ).get(destination) as Row;
    return r.t === null ? null : Number(r.t);
  }

  /** How many objects wait for `destination` (due or not). */
  waiting(destination: string): number {
    const r = this.#stmt(
      `SELECT count(*) AS n FROM forward_queue
       WHERE destination = ? AND state = 'queued' AND transaction_uid = ''`,
    ).get(destination) as Row;
    return Number(r.n);
  }

  /** Destinations with objects waiting. */
  destinations(): string[] {
    return (this.#stmt(
      "SELECT DISTINCT destination FROM forward_queue WHERE state = 'queued' AND transaction_uid = ''",
    ).all() as Row[]).map((r) => String(r.destination));
  }

  /** Delivered: the row goes, unless the object was stored again since it was read. */
  sent(item: QueueItem): void {
    this.sentMany([item]);
  }

  /**
   * Delivered, in one transaction: the rows go (unless stored again since read). Rows that
   * wait for a Storage Commitment stay until it is asked for and reported.
   */
  sentMany(items: readonly QueueItem[]): void {
    const done = items.filter((i) => !i.wantCommit);
    if (done.length === 0) return;
    const del = this.#stmt("DELETE FROM forward_queue WHERE pk = ? AND version = ?");
    // One row (the sender books each object as it is delivered) is a transaction of its own.
    if (done.length === 1) del.run(done[0].pk, done[0].version);
    else {
      this.#index!.transaction(() => {
        for (const i of done) del.run(i.pk, i.version);
      });
    }
  }

  /** Not delivered: retried at `nextAttempt`, or moved to the failed list when `giveUp`. */
  retryLater(item: QueueItem, error: string, nextAttempt: number, giveUp: boolean): void {
    this.#stmt(
      `UPDATE forward_queue SET attempts = attempts + 1, next_attempt = ?, last_error = ?,
        state = ?, transaction_uid = '' WHERE pk = ?`,
    ).run(nextAttempt, error.slice(0, 500), giveUp ? "failed" : "queued", item.pk);
  }

  /** Moves to the failed list every object of `destination` queued before `cutoff`. */
  giveUpOlderThan(destination: string, cutoff: number, error: string): number {
    return Number(
      this.#stmt(
        `UPDATE forward_queue SET state = 'failed', last_error = ?
         WHERE destination = ? AND state = 'queued' AND queued_at < ?`,
      ).run(error.slice(0, 500), destination, cutoff).changes,
    );
  }

  /** Puts the failed objects of a destination back in its queue; returns how many. */
  retryFailed(destination: string): number {
    const n = Number(
      this.#stmt(
        `UPDATE forward_queue SET state = 'queued', next_attempt = 0, attempts = 0
         WHERE destination = ? AND state = 'failed'`,
      ).run(destination).changes,
    );
    if (n > 0) queueMicrotask(() => this.#onQueued(destination));
    return n;
  }

  /** Per destination: waiting, failed, oldest waiting. */
  summary(): DestinationQueue[] {
    return (this.#stmt(
      `SELECT destination, sum(state = 'queued' AND transaction_uid = '') AS queued,
        sum(state = 'failed') AS failed, sum(transaction_uid != '') AS awaiting,
        min(CASE WHEN state = 'queued' AND transaction_uid = '' THEN queued_at END) AS oldest
       FROM forward_queue GROUP BY destination ORDER BY destination`,
    ).all() as Row[]).map((r) => ({
      destination: String(r.destination),
      queued: Number(r.queued),
      failed: Number(r.failed),
      oldestQueuedAt: r.oldest === null ? null : Number(r.oldest),
      awaitingCommitment: Number(r.awaiting),
    }));
  }

  /** The failed list, newest first (at most `limit`). */
  failed(limit = 100): FailedItem[] {
    return (this.#stmt(
      `SELECT q.destination, q.sop_instance_uid, q.queued_at, q.attempts, q.last_error,
        st.study_instance_uid
       FROM forward_queue q LEFT JOIN instance i ON i.sop_instance_uid = q.sop_instance_uid
       LEFT JOIN series se ON se.pk = i.series_pk LEFT JOIN study st ON st.pk = se.study_pk
       WHERE q.state = 'failed' ORDER BY q.pk DESC LIMIT ?`,
    ).all(limit) as Row[]).map((r) => ({
      destination: String(r.destination),
      sopInstanceUid: String(r.sop_instance_uid),
      studyInstanceUid: r.study_instance_uid === null ? null : String(r.study_instance_uid),
      queuedAt: Number(r.queued_at),
      attempts: Number(r.attempts),
      lastError: String(r.last_error),
    }));
  }

  /** Dropped from the queue: the object is no longer stored. */
  drop(item: QueueItem): void {
    this.#stmt("DELETE FROM forward_queue WHERE pk = ?").run(item.pk);
  }

  /**
   * True while the object is queued or failed for some destination (retention keeps it), or,
   * when `requireCommit`, sent to a commit = true route and not yet committed there.
   */
  holds(sopInstanceUid: string, requireCommit = false): boolean {
    return this.#stmt(
      `SELECT 1 AS x FROM forward_queue WHERE sop_instance_uid = ?
        AND (? OR transaction_uid = '') LIMIT 1`,
    ).get(sopInstanceUid, requireCommit ? 1 : 0) !== undefined;
  }
}
