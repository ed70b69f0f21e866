// What the dashboard and GET /api/status show: identity, uptime, associations, what is
// stored, disk space, stores per minute and the recent events. No patient data.
import type { Config } from "../config.ts";
import type { AssociationCounts, ServerStats } from "../app/stats.ts";
import type { Catalog, CatalogSource, IndexTotals } from "../storage/catalog.ts";
import type { AuditEntry } from "../storage/audit_log.ts";

/** The parts of the object store the web pages read (FsObjectStore has them all). */
/** The storage as the web pages see it; its index readers serve the catalog. */
export interface StorageView extends CatalogSource {
  readonly root: string;
  freeBytes(): Promise<number>;
  /** Objects waiting in the journal for their home files; diskFull while they cannot go. */
  readonly backlog?: { objects: number; bytes: number; diskFull?: boolean };
  /** Free journal segments written ahead for incoming objects (counted as free space). */
  readonly journalReserveBytes?: number;
}

export interface StatusEvent {
  time: string;
  kind: string;
  peer: string;
  text: string;
  ok: boolean;
}

/** One audit trail record as the dashboard shows it: no patient data. */
export interface StatusAuditEvent {
  time: string;
  event: string;
  type: string;
  /** Success or why not. */
  outcome: string;
  ok: boolean;
  user: string;
  from: string;
}

export interface Status {
  version: string;
  aeTitle: string;
  dicomPort: number;
  httpPort: number | null;
  startedAt: string;
  uptimeSeconds: number;
  associations: {
    open: number;
    today: AssociationCounts;
    sinceStart: AssociationCounts;
  };
  storage: IndexTotals & {
    /** Free bytes on the storage volume; null when it cannot be read. */
    freeBytes: number | null;
    minFreeBytes: number;
    belowMinFree: boolean;
    /** Objects still in the journal, waiting for their home files. */
    pendingObjects: number;
    /** Journal segments written ahead for incoming objects: disk in use, but not images. */
    journalReserveBytes: number;
    pendingBytes: number;
    /** The journal cannot be materialized for lack of disk space. */
    journalBlocked: boolean;
  };
  /** Successful stores in each of the last 60 minutes, oldest first. */
  storesPerMinute: number[];
  /** Newest first. */
  events: StatusEvent[];
  /** The latest audit trail records, newest first; absent when the audit trail is off. */
  audit?: StatusAuditEvent[];
}

export interface StatusSources {
  config: Config;
  stats: ServerStats;
  storage: StorageView;
  catalog: Catalog;
  dicomPort: number;
  httpPort: number | null;
  now?: number;
  /** The latest audit records, newest first. */
  audit?: AuditEntry[];
}

export async function buildStatus(s: StatusSources): Promise<Status> {
  const now = s.now ?? Date.now();
  const free = await s.storage.freeBytes().catch(() => null);
  const minFreeBytes = s.config.storage.minFreeMb * 1024 * 1024;
  const { accepted, rejected, aborted } = s.stats.totals();
  return {
    version: s.config.server.implementationVersionName,
    aeTitle: s.config.server.aeTitle,
    dicomPort: s.dicomPort,
    httpPort: s.httpPort,
    startedAt: new Date(s.stats.startedAt).toISOString(),
    uptimeSeconds: Math.max(0, Math.floor((now - s.stats.startedAt) / 1000)),
    associations: {
      open: s.stats.openCount,
      today: s.stats.today(),
      sinceStart: { accepted, rejected, aborted },
    },
    storage: {
      ...s.catalog.totals(s.stats.storesAnswered, now),
      freeBytes: free,
      minFreeBytes,
      belowMinFree: free !== null && free < minFreeBytes,
      pendingObjects: s.storage.backlog?.objects ?? 0,
      journalReserveBytes: s.storage.journalReserveBytes ?? 0,
      pendingBytes: s.storage.backlog?.bytes ?? 0,
      journalBlocked: s.storage.backlog?.diskFull ?? false,
    },
    storesPerMinute: s.stats.storesPerMinute(),
    events: s.stats.recentEvents(20).map((e) => ({
      time: new Date(e.at).toISOString(),
      kind: e.kind,
      peer: e.peer,
      text: e.text,
      ok: e.ok,
    })),
    audit: s.audit?.map((a) => ({
      time: a.EventDateTime,
      event: a.EventID,
      type: a.EventTypeCode ?? "",
      outcome: a.EventOutcomeIndicator === 0 ? "success" : a.EventOutcomeDescription ?? "failure",
      ok: a.EventOutcomeIndicator === 0,
      user: a.UserID ?? "",
      from: a.NetworkAccessPointID ?? "",
    })),
  };
}
