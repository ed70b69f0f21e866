// The journal reserve: free segments pre-written when the store opens, so that even a fresh
// server's first stores overwrite allocated blocks (a cheaper fdatasync than appending).
import type { Logger } from "../core/ports.ts";
import { diskFreeBytes } from "./disk_space.ts";
import type { SegmentPool } from "./segment_pool.ts";

const MIB = 1024 * 1024;

/**
 * Pre-writes the free segments the pool lacks for the journal reserve, unless that would
 * leave less than minFreeBytes on the disk. A reserve not written is logged, never fatal.
 */
export async function fillJournalReserve(
  pool: SegmentPool,
  root: string,
  opts: { logger: Logger; minFreeBytes?: number },
): Promise<void> {
  const missing = pool.reserveShortfall;
  if (missing === 0) return;
  const mib = (n: number) => Math.floor(n / MIB);
  try {
    // Raw disk space: what the reserve takes counts as free once it is in the pool.
    const free = await diskFreeBytes(root);
    const minFree = opts.minFreeBytes ?? 0;
    if (free - missing < minFree) {
      opts.logger.log("warn", "journal reserve skipped: it would leave less than min_free_mb", {
        reserveMb: mib(missing),
        freeMb: mib(free),
        minFreeMb: mib(minFree),
      });
      return;
    }
    // Start-up waits for this (seconds on a slow disk), and the disk fills by that much: say why.
    opts.logger.log(
      "info",
      `journal reserve: writing ${mib(missing)} MiB of journal segments ahead ` +
        "(storage.journal_reserve_mb), so that incoming images overwrite allocated blocks and " +
        "each store's sync is cheaper; they are reused, count as free space, and 0 turns this off",
    );
    const started = performance.now();
    const written = await pool.fillReserve();
    opts.logger.log("info", `journal reserve: ${mib(written)} MiB reserved`, {
      freeSegments: pool.available,
      ms: Math.round(performance.now() - started),
    });
  } catch (e) {
    opts.logger.log("warn", "journal reserve not written", { error: String(e) });
  }
}
