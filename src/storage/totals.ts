// Totals kept instead of counted: the instances, their bytes (as received and as stored now)
// and the highest seq ever written, in one row that triggers on the instance table keep
// current in the same transaction as each change. The status page, /metrics and start-up read
// that row instead of scanning every instance (a million rows take a quarter of a second).
import type { DatabaseSync } from "node:sqlite";

/** What the totals row holds. */
export interface InstanceTotals {
  instances: number;
  /** Bytes received (Part 10, as they arrived). */
  bytes: number;
  /** Bytes the objects take where they are now. */
  storedBytes: number;
  /** Highest seq ever written (a high-water mark: deleting keeps it). */
  maxSeq: number;
}

const TOTALS_SCHEMA = `
CREATE TABLE instance_totals (
  one INTEGER PRIMARY KEY CHECK (one = 1),
  instances INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  stored_bytes INTEGER NOT NULL,
  max_seq INTEGER NOT NULL
);
CREATE TRIGGER instance_totals_insert AFTER INSERT ON instance BEGIN
  UPDATE instance_totals SET instances = instances + 1, bytes = bytes + NEW.size,
    stored_bytes = stored_bytes + NEW.loc_length, max_seq = max(max_seq, NEW.seq);
END;
CREATE TRIGGER instance_totals_delete AFTER DELETE ON instance BEGIN
  UPDATE instance_totals SET instances = instances - 1, bytes = bytes - OLD.size,
    stored_bytes = stored_bytes - OLD.loc_length;
END;
CREATE TRIGGER instance_totals_update AFTER UPDATE OF size, loc_length, seq ON instance BEGIN
  UPDATE instance_totals SET bytes = bytes + NEW.size - OLD.size,
    stored_bytes = stored_bytes + NEW.loc_length - OLD.loc_length,
    max_seq = max(max_seq, NEW.seq);
END;
`;

/**
 * Adds the totals row and its triggers to an index that lacks them, filled by one scan (once:
 * an index built before them is upgraded at its first open). Runs in its own transaction.
 */
export function installTotals(db: DatabaseSync): void {
  const present = db.prepare(
    "SELECT 1 AS one FROM sqlite_master WHERE type = 'table' AND name = 'instance_totals'",
  ).get();
  if (present) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(TOTALS_SCHEMA);
    db.exec(
      `INSERT INTO instance_totals (one, instances, bytes, stored_bytes, max_seq)
       SELECT 1, count(*), coalesce(sum(size), 0), coalesce(sum(loc_length), 0),
         coalesce(max(seq), 0) FROM instance`,
    );
    db.exec("COMMIT");
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}

/** The SELECT of the totals row (one row, no scan). */
export const TOTALS_SELECT =
  "SELECT instances, bytes, stored_bytes, max_seq FROM instance_totals WHERE one = 1";

/** The totals from a row of TOTALS_SELECT (zeros when there is none). */
export function totalsOf(row: Record<string, unknown> | undefined): InstanceTotals {
  return {
    instances: Number(row?.instances ?? 0),
    bytes: Number(row?.bytes ?? 0),
    storedBytes: Number(row?.stored_bytes ?? 0),
    maxSeq: Number(row?.max_seq ?? 0),
  };
}
