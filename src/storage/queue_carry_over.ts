// What `reindex` cannot rebuild from the files: the forwarding queue, what destinations
// reported committed, and the storage commitment reports still owed. They are copied from the old index into the new one, so a
// rebuild neither drops a forward nor a report a modality waits for.
import type { Logger } from "../core/ports.ts";
import { CommitmentQueue } from "./commitment_queue.ts";
import { createForwardTables } from "./forward_queue.ts";
import { ForwardCommitments } from "./forward_commitments.ts";
import type { IndexDb } from "./index_db.ts";
import { isNotFound } from "./layout.ts";

/** Copies the queue tables of the index file `oldPath` (if any) into `index`; returns rows. */
export async function carryOverQueues(
  index: IndexDb,
  oldPath: string,
  logger: Logger,
): Promise<number> {
  try {
    await Deno.stat(oldPath);
  } catch (e) {
    if (isNotFound(e)) return 0;
    throw e;
  }
  const db = index.connection;
  createForwardTables(db);
  new CommitmentQueue(index);
  new ForwardCommitments(index);
  let rows = 0;
  try {
    db.prepare("ATTACH DATABASE ? AS old").run(oldPath);
  } catch (e) {
    logger.log("warn", "reindex: the old index cannot be read; forward queue not kept", {
      error: (e as Error).message,
    });
    return 0;
  }
  try {
    for (const table of ["forward_queue", "forward_committed", "commitment_request"]) {
      const exists = db.prepare(
        "SELECT 1 AS x FROM old.sqlite_master WHERE type = 'table' AND name = ?",
      ).get(table);
      if (!exists) continue;
      try {
        // The old table's columns: one written by an older version lacks the newer ones.
        const columns = (db.prepare(`PRAGMA old.table_info(${table})`).all() as {
          name: string;
        }[]).map((c) => `"${c.name}"`).join(", ");
        rows += Number(
          db.prepare(`INSERT INTO main.${table} (${columns}) SELECT ${columns} FROM old.${table}`)
            .run().changes,
        );
      } catch (e) {
        logger.log("warn", `reindex: ${table} of the old index not kept`, {
          error: (e as Error).message,
        });
      }
    }
  } finally {
    db.exec("DETACH DATABASE old");
  }
  return rows;
}
