// Start-up recovery: empty tmp/, scan every journal segment, cut off torn records (a crash
// mid-object), index the complete records the index lost or never saw, queue whatever is not
// yet in its home file, and repair index rows whose journal record is gone.
import type { Logger } from "../core/ports.ts";
import { isTombstoned, settleTombstones } from "./delete.ts";
import type { IndexDb } from "./index_db.ts";
import { JOURNAL_DIR, type JournalEntry, scanSegment, SEGMENT_HEADER_LENGTH } from "./journal.ts";
import { homePathFor, isNotFound, removeIfPresent, TMP_DIR } from "./layout.ts";
import type { MaterializeJob, Materializer } from "./materializer.ts";
import type { SegmentPool } from "./segment_pool.ts";

export interface RecoveryOptions {
  root: string;
  index: IndexDb;
  materializer: Materializer;
  logger: Logger;
  duplicates: "overwrite" | "ignore" | "reject";
  /** Told the highest seq found, before any segment is handed to it for reuse. */
  pool?: SegmentPool;
}

export interface RecoveryReport {
  /** Highest commit seq seen in the index or the journal. */
  maxSeq: number;
  /** Records indexed from the journal because the index lacked them. */
  replayed: number;
  /** Records queued for materialization. */
  queued: number;
  /** Torn records cut off. */
  torn: number;
  /** Records with a bad checksum, skipped. */
  corrupt: number;
  removedTempFiles: number;
  /** Index rows whose journal record was missing: repaired or dropped. */
  repairedRows: number;
}

/** Lists journal segments in name order (association id, then creation time). */
export async function listSegments(root: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(`${root}/${JOURNAL_DIR}`)) {
    if (e.isFile && e.name.endsWith(".seg")) names.push(`${JOURNAL_DIR}/${e.name}`);
  }
  return names.sort();
}

/** Reads all segments, cutting torn tails off; returns the complete records by seq. */
export async function readJournal(
  root: string,
  logger: Logger,
  truncate: boolean,
): Promise<{ entries: JournalEntry[]; segments: string[]; torn: number; corrupt: number }> {
  const entries: JournalEntry[] = [];
  const segments = await listSegments(root);
  let torn = 0;
  let corrupt = 0;
  for (const segment of segments) {
    for await (const item of scanSegment(root, segment)) {
      if (item.kind === "record") {
        entries.push(item.entry);
      } else if (item.kind === "corrupt") {
        corrupt++;
        logger.log("error", "journal record fails its checksum; skipped", {
          segment,
          offset: item.offset,
        });
      } else {
        torn++;
        logger.log("warn", "journal ends in an incomplete record; dropped", {
          segment,
          offset: item.offset,
          reason: item.reason,
        });
        if (truncate) await truncateSegment(`${root}/${segment}`, item.offset);
      }
    }
  }
  entries.sort((a, b) => a.seq - b.seq);
  return { entries, segments, torn, corrupt };
}

async function truncateSegment(path: string, offset: number): Promise<void> {
  const file = await Deno.open(path, { write: true });
  try {
    await file.truncate(Math.max(offset, SEGMENT_HEADER_LENGTH));
    await file.syncData();
  } finally {
    file.close();
  }
}

async function emptyTmp(root: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(`${root}/${TMP_DIR}`)) {
    await Deno.remove(`${root}/${TMP_DIR}/${e.name}`, { recursive: true });
    n++;
  }
  return n;
}

export async function recover(opts: RecoveryOptions): Promise<RecoveryReport> {
  const { root, index, materializer, logger } = opts;
  const removedTempFiles = await emptyTmp(root);
  const { entries, segments, torn, corrupt } = await readJournal(root, logger, true);
  let maxSeq = index.maxSeq();
  let replayed = 0;
  const jobs: MaterializeJob[] = [];
  const present = new Set<string>();
  const job = (e: JournalEntry, homePath: string): MaterializeJob => ({
    sopInstanceUid: e.sopInstanceUid,
    seq: e.seq,
    segment: e.segment,
    offset: e.offset,
    length: e.length,
    homePath,
    receivedAt: e.info.receivedAt,
  });

  // Deleted on request: no record of these versions is indexed again (storage/delete.ts).
  const deleted = new Map(index.tombstones().map((t) => [t.sopInstanceUid, t.seq]));
  for (const e of entries) {
    maxSeq = Math.max(maxSeq, e.seq);
    present.add(`${e.segment}:${e.offset}`);
    const row = index.getInstance(e.sopInstanceUid);
    if (isTombstoned(deleted, e.sopInstanceUid, e.seq) && row?.meta.seq !== e.seq) continue;
    if (row && row.meta.seq === e.seq) {
      // Known; queue it unless already home.
      if (row.location.kind === "journal") {
        if (row.location.path !== e.segment || row.location.offset !== e.offset) {
          index.setLocation(e.sopInstanceUid, {
            kind: "journal",
            path: e.segment,
            offset: e.offset,
            length: e.length,
          });
        }
        jobs.push(job(e, row.meta.homePath));
      }
      continue;
    }
    if (row && (row.meta.seq > e.seq || opts.duplicates !== "overwrite")) continue;
    // The index lost this commit (synchronous=NORMAL) or never saw it: index it again.
    const homePath = await homePathFor(e.info.record);
    const result = index.upsertInstance(
      e.info.record,
      { kind: "journal", path: e.segment, offset: e.offset, length: e.length },
      {
        homePath,
        size: e.length,
        receivedAt: e.info.receivedAt,
        callingAe: e.info.callingAe,
        seq: e.seq,
      },
    );
    replayed++;
    const previousHome = result.previous?.meta.homePath;
    if (previousHome !== undefined && previousHome !== homePath) {
      await removeIfPresent(`${root}/${previousHome}`);
    }
    jobs.push(job(e, homePath));
  }

  // Rows pointing into the journal at records that are not there (e.g. durability "none").
  let repairedRows = 0;
  for (const row of index.journalInstances()) {
    if (present.has(`${row.location.path}:${row.location.offset}`)) continue;
    repairedRows++;
    const uid = row.record.sopInstanceUid;
    try {
      const stat = await Deno.stat(`${root}/${row.meta.homePath}`);
      index.setLocation(uid, {
        kind: "home",
        path: row.meta.homePath,
        offset: 0,
        length: stat.size,
      });
      logger.log("warn", "journal record missing; index now points at the home file", {
        path: row.meta.homePath,
      });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      index.deleteInstance(uid);
      logger.log("error", "journal record and home file missing; dropped from the index", {
        path: row.meta.homePath,
      });
    }
  }

  await settleTombstones(root, index, entries, logger);

  opts.pool?.noteSeq(maxSeq);
  for (const segment of segments) materializer.trackSegment(segment);
  for (const j of jobs) materializer.enqueue(j);
  for (const segment of segments) await materializer.endSegment(segment);
  if (torn + corrupt + replayed + repairedRows + removedTempFiles > 0 || jobs.length > 0) {
    logger.log("info", "storage recovery done", {
      segments: segments.length,
      replayed,
      queued: jobs.length,
      torn,
      corrupt,
      removedTempFiles,
      repairedRows,
    });
  }
  return {
    maxSeq,
    replayed,
    queued: jobs.length,
    torn,
    corrupt,
    removedTempFiles,
    repairedRows,
  };
}
