// Retention by age (`[storage] retention_days`): studies whose newest instance was received
// more than N days ago are deleted, files and index rows together. The server runs it a
// minute after start and then every 24 hours.
import type { Logger } from "./core/ports.ts";
import { homePathFor } from "./storage/layout.ts";
import type { FsObjectStore } from "./storage/object_store.ts";

const DAY_MS = 86_400_000;

export interface RetentionResult {
  /** Study Instance UIDs deleted. */
  studies: string[];
  instances: number;
}

/** Deletes every study whose newest instance was received before `now` minus `days` days. */
export async function runRetention(
  store: FsObjectStore,
  days: number,
  now: Date = new Date(),
  logger?: Logger,
): Promise<RetentionResult> {
  const result: RetentionResult = { studies: [], instances: 0 };
  if (!(days > 0)) return result;
  const cutoff = new Date(now.getTime() - days * DAY_MS).toISOString();
  // received_at is ISO 8601 UTC throughout, so text order is time order.
  const db = store.index.openReader();
  try {
    const studies = db.prepare(
      `SELECT st.study_instance_uid AS uid FROM study st
       JOIN series se ON se.study_pk = st.pk JOIN instance i ON i.series_pk = se.pk
       GROUP BY st.pk HAVING max(i.received_at) < ? ORDER BY uid`,
    ).all(cutoff) as { uid: string }[];
    const members = db.prepare(
      `SELECT se.series_instance_uid AS series, i.sop_instance_uid AS sop FROM instance i
       JOIN series se ON se.pk = i.series_pk JOIN study st ON st.pk = se.study_pk
       WHERE st.study_instance_uid = ?`,
    );
    for (const { uid: study } of studies) {
      const instances = members.all(study) as { series: string; sop: string }[];
      let deleted = 0;
      const folders = new Set<string>();
      for (const { series, sop } of instances) {
        if (await store.deleteObject(sop)) deleted++;
        const home = await homePathFor({
          studyInstanceUid: study,
          seriesInstanceUid: series,
          sopInstanceUid: sop,
        });
        folders.add(home.slice(0, home.lastIndexOf("/")));
        folders.add(home.slice(0, home.indexOf("/")));
      }
      // Series folders first, then the study folder: each goes only if empty.
      for (const dir of [...folders].sort((a, b) => b.length - a.length)) {
        await Deno.remove(`${store.root}/${dir}`).catch(() => {});
      }
      result.studies.push(study);
      result.instances += deleted;
      logger?.log("info", "retention: study deleted", { study, instances: deleted, days });
    }
  } finally {
    db.close();
  }
  return result;
}

export interface RetentionSchedule {
  /** Cancels future runs and waits for a running one to finish. */
  stop(): Promise<void>;
}

/**
 * Runs retention `firstDelayMs` after now, then every `intervalMs`. The timers do not keep
 * the process alive, and a failed run is logged and retried at the next interval.
 */
export function scheduleRetention(
  store: FsObjectStore,
  days: number,
  logger: Logger,
  { firstDelayMs = 60_000, intervalMs = DAY_MS }: { firstDelayMs?: number; intervalMs?: number } =
    {},
): RetentionSchedule {
  let stopped = false;
  let running: Promise<void> | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (ms: number) => {
    const t = setTimeout(tick, ms);
    Deno.unrefTimer(t);
    timer = t;
  };
  const tick = () => {
    running = (async () => {
      try {
        const r = await runRetention(store, days, new Date(), logger);
        logger.log("info", "retention done", {
          days,
          studies: r.studies.length,
          instances: r.instances,
        });
      } catch (e) {
        logger.log("error", `retention failed: ${(e as Error).message}`);
      }
    })();
    running.finally(() => {
      running = null;
      if (!stopped) arm(intervalMs);
    });
  };
  arm(firstDelayMs);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
