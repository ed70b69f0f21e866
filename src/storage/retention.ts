// Retention, files and index rows together, a study at a time:
// - by age (`[storage] retention_days`): studies whose newest instance was received more than
//   N days ago are deleted;
// - by free space (`[storage] retention_min_free_mb`): while free space is below the
//   threshold, the studies whose newest instance is oldest are deleted, never one that
//   received an instance in the last minute (it may still be arriving).
// The server runs both a minute after start, then by age daily and by free space (when set)
// every 10 minutes: see scheduleRetention.
import type { DatabaseSync } from "node:sqlite";
import type { Logger } from "../core/ports.ts";
import type { AuditTrail } from "../core/audit.ts";
import { homePathFor } from "./layout.ts";
import { studiesReceivedBefore } from "./study_ages.ts";
import type { FsObjectStore } from "./object_store.ts";

const DAY_MS = 86_400_000;
const MIB = 1024 * 1024;
/** A study that received an instance this recently is never deleted to free space. */
export const RECENT_MS = 60_000;

export interface RetentionResult {
  /** Study Instance UIDs deleted. */
  studies: string[];
  instances: number;
}

/** The study's Patient ID, read before it is deleted (for the audit record). */
function patientOf(db: DatabaseSync, study: string): string | undefined {
  const row = db.prepare(
    `SELECT p.patient_id AS id FROM study st JOIN patient p ON p.pk = st.patient_pk
     WHERE st.study_instance_uid = ?`,
  ).get(study) as { id: string } | undefined;
  return row?.id;
}

/** Deletes a study and records it as "DICOM Study Deleted" (PS3.15 A.5.3.8). */
async function deleteAudited(
  store: FsObjectStore,
  db: DatabaseSync,
  study: string,
  audit: AuditTrail | undefined,
  reason: string,
): Promise<number> {
  const patientId = audit ? patientOf(db, study) : undefined;
  const deleted = await deleteStudy(store, db, study);
  audit?.record({
    EventID: "DICOM Study Deleted",
    EventActionCode: "D",
    EventOutcomeIndicator: 0,
    EventOutcomeDescription: reason,
    UserID: "retention",
    StudyInstanceUID: study,
    PatientID: patientId,
    NumberOfInstances: deleted,
  });
  return deleted;
}

/** Deletes one study's instances and its emptied folders; returns the instances deleted. */
async function deleteStudy(store: FsObjectStore, db: DatabaseSync, study: string): Promise<number> {
  const instances = db.prepare(
    `SELECT se.series_instance_uid AS series, i.sop_instance_uid AS sop FROM instance i
     JOIN series se ON se.pk = i.series_pk JOIN study st ON st.pk = se.study_pk
     WHERE st.study_instance_uid = ?`,
  ).all(study) as { series: string; sop: string }[];
  // Nothing held: the whole study in one durable transaction (per instance, a study of
  // 1,000 images took 1,000 syncs).
  if (!instances.some(({ sop }) => store.isHeld(sop))) {
    return (await store.deleteEntity("study", study)).instances;
  }
  let deleted = 0;
  const folders = new Set<string>();
  for (const { series, sop } of instances) {
    // Still to be forwarded (queued or failed): kept, with its study.
    if (store.isHeld(sop)) continue;
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
  return deleted;
}

/** Deletes every study whose newest instance was received before `now` minus `days` days. */
export async function runRetention(
  store: FsObjectStore,
  days: number,
  now: Date = new Date(),
  logger?: Logger,
  audit?: AuditTrail,
): Promise<RetentionResult> {
  const result: RetentionResult = { studies: [], instances: 0 };
  if (!(days > 0)) return result;
  const cutoff = new Date(now.getTime() - days * DAY_MS).toISOString();
  const db = store.openReader();
  try {
    for (const study of await studiesReceivedBefore(db, cutoff)) {
      const deleted = await deleteAudited(store, db, study, audit, `retention_days = ${days}`);
      result.studies.push(study);
      result.instances += deleted;
      logger?.log("info", "retention: study deleted", { study, instances: deleted, days });
    }
  } finally {
    db.close();
  }
  return result;
}

export interface FreeSpaceRetentionOptions {
  /** retention_min_free_mb in bytes; 0 = off. */
  minFreeBytes: number;
  /** Free space now; the store's freeBytes() (journal segments kept for reuse count). */
  freeBytes?: () => Promise<number>;
  now?: Date;
  logger?: Logger;
  audit?: AuditTrail;
}

export interface FreeSpaceRetentionResult extends RetentionResult {
  /** Free space when done; null when off. */
  freeBytes: number | null;
  /** Still below the threshold with no study left that may go. */
  below: boolean;
}

/**
 * While free space is below `minFreeBytes`, deletes the study whose newest instance was
 * received longest ago, one at a time, sparing studies that received one in the last minute.
 */
export async function runFreeSpaceRetention(
  store: FsObjectStore,
  { minFreeBytes, freeBytes = () => store.freeBytes(true), now = new Date(), logger, audit }:
    FreeSpaceRetentionOptions,
): Promise<FreeSpaceRetentionResult> {
  const result: FreeSpaceRetentionResult = {
    studies: [],
    instances: 0,
    freeBytes: null,
    below: false,
  };
  if (!(minFreeBytes > 0)) return result;
  const mb = (n: number) => Math.floor(n / MIB);
  let free = await freeBytes();
  if (free < minFreeBytes) {
    const db = store.openReader();
    try {
      const spareFrom = new Date(now.getTime() - RECENT_MS).toISOString();
      for (const study of await studiesReceivedBefore(db, spareFrom)) {
        const reason = `retention_min_free_mb = ${mb(minFreeBytes)}`;
        const deleted = await deleteAudited(store, db, study, audit, reason);
        result.studies.push(study);
        result.instances += deleted;
        logger?.log("info", "retention: study deleted", {
          study,
          instances: deleted,
          free_mb: mb(free),
        });
        free = await freeBytes();
        if (free >= minFreeBytes) break;
      }
    } finally {
      db.close();
    }
  }
  result.freeBytes = free;
  result.below = free < minFreeBytes;
  logger?.log(
    result.below ? "warn" : "info",
    result.below
      ? "retention by free space: still below retention_min_free_mb, no older study left"
      : "retention by free space done",
    {
      min_free_mb: mb(minFreeBytes),
      free_mb: mb(free),
      studies: result.studies.length,
      instances: result.instances,
    },
  );
  return result;
}

export interface RetentionPolicy {
  /** retention_days; 0 = off. */
  days: number;
  /** retention_min_free_mb in bytes; 0 = off. */
  minFreeBytes: number;
  /** For tests: free space as the store would report it. */
  freeBytes?: () => Promise<number>;
  /** Each deleted study is recorded there. */
  audit?: AuditTrail;
}

export interface RetentionSchedule {
  /** Cancels future runs and waits for a running one to finish. */
  stop(): Promise<void>;
}

/** Free space is checked this often (a statfs when there is room: cheap). */
const FREE_SPACE_INTERVAL_MS = 10 * 60 * 1000;

/**
 * Runs retention `firstDelayMs` after now: by age every `intervalMs`, by free space every
 * `freeSpaceIntervalMs` (a disk can fill in hours). The timers do not keep the process
 * alive, and a failed run is logged and retried at the next one.
 */
export function scheduleRetention(
  store: FsObjectStore,
  policy: RetentionPolicy,
  logger: Logger,
  {
    firstDelayMs = 60_000,
    intervalMs = DAY_MS,
    freeSpaceIntervalMs = FREE_SPACE_INTERVAL_MS,
  }: { firstDelayMs?: number; intervalMs?: number; freeSpaceIntervalMs?: number } = {},
): RetentionSchedule {
  const { days, minFreeBytes, freeBytes } = policy;
  const tickMs = minFreeBytes > 0 ? Math.min(intervalMs, freeSpaceIntervalMs) : intervalMs;
  let nextAgeRun = 0;
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
      if (days > 0 && performance.now() >= nextAgeRun) {
        nextAgeRun = performance.now() + intervalMs - tickMs / 2;
        try {
          const r = await runRetention(store, days, new Date(), logger, policy.audit);
          logger.log("info", "retention done", {
            days,
            studies: r.studies.length,
            instances: r.instances,
          });
        } catch (e) {
          logger.log("error", `retention failed: ${(e as Error).message}`);
        }
      }
      if (minFreeBytes > 0 && !stopped) {
        try {
          await runFreeSpaceRetention(store, {
            minFreeBytes,
            freeBytes,
            logger,
            audit: policy.audit,
          });
        } catch (e) {
          logger.log("error", `retention by free space failed: ${(e as Error).message}`);
        }
      }
    })();
    running.finally(() => {
      running = null;
      if (!stopped) arm(tickMs);
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
