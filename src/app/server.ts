// Starts and stops the whole server, in named steps: open storage, services, admission,
// listeners, web, retention; and the reload and stop of what they started. A step that
// fails undoes the steps before it.
import { type Config, configWarnings } from "../config.ts";
import type { Logger } from "../core/ports.ts";
import type { AuditLog } from "../storage/audit_log.ts";
import { scheduleRetention } from "../storage/retention.ts";
import { checkHttpExposure } from "../web/security.ts";
import type { WebServer } from "../web/http_server.ts";
import { AssociationIntake } from "./association_intake.ts";
import { applicationRecord } from "./audit.ts";
import { createCommitment } from "./commitment.ts";
import { type DicomListeners, startDicomListeners } from "./dicom_listeners.ts";
import { loadDicomTlsMaterial, loadHttpTlsMaterial } from "./dicom_tls.ts";
import { createForwarding } from "./forwarding.ts";
import { openStorage } from "./open_storage.ts";
import { applyReload } from "./reload.ts";
import { buildServices } from "./services.ts";
import { DestinationSlots } from "../core/services/move.ts";
import { IdleRelease, type ReleaseStep } from "./idle_release.ts";
import { openMallocTrim } from "./malloc_trim.ts";
import { openCodePageRelease } from "./code_pages.ts";
import { shrinkCaches } from "../storage/sqlite_caches.ts";
import { ServerStats } from "./stats.ts";
import { startWeb } from "./web.ts";

const MB = 1024 * 1024;

export interface RunningServer {
  /** The plain DICOM port; the TLS one when `[server] plain = false`. */
  dicomPort: number;
  /** DICOM over TLS; null when `[tls]` is off. */
  tlsPort: number | null;
  httpPort: number | null;
  /** Stops listening, lets running associations finish for graceMs, aborts the rest. */
  stop(graceMs?: number): Promise<void>;
  /** Resolves once stopped. */
  done: Promise<void>;
  /** The audit trail; null when `[audit] path` is empty. */
  audit: AuditLog | null;
  /**
   * Applies a re-read configuration without dropping associations: [[known_ae]] and
   * log.level (when the logger can change level). Returns the keys applied and those that
   * need a restart.
   */
  reload(next: Config): { applied: string[]; needsRestart: string[] };
}

export async function startServer(
  config: Config,
  logger: Logger & { setLevel?(level: Config["log"]["level"]): void },
): Promise<RunningServer> {
  // A web server anyone could read is refused before anything listens (exit 2).
  checkHttpExposure(config.http);
  // Certificates are checked before anything starts: a bad one is a configuration error.
  const tlsMaterial = config.tls.enabled ? await loadDicomTlsMaterial(config) : null;
  const httpsMaterial = config.http.enabled ? await loadHttpTlsMaterial(config) : null;
  // Replaced as a whole by reload(); each new association reads the current one.
  let current = config;
  let notifyForward = (_destination: string) => {};
  const storage = await openStorage(config, logger, {
    routes: () => current.routes,
    queued: (d) => notifyForward(d),
  });
  const { store, audit, decoder } = storage;
  const closeStorage = async () => {
    await storage.close();
    await storage.closeAudit();
  };

  // Outgoing DICOM over TLS ([[known_ae]] tls = true) once the listeners are up; null when off.
  let listeners: DicomListeners | null = null;
  const tlsConnector = () => listeners?.secure?.connector() ?? null;

  // Services: the DIMSE services, forwarding and storage commitment.
  const forwarding = createForwarding({
    config: () => current,
    store,
    queue: storage.forwardQueue,
    logger,
    tlsConnector,
    audit: audit ?? undefined,
  });
  notifyForward = (d) => forwarding.forwarder.notify(d);
  const commitment = createCommitment({
    config: () => current,
    store,
    logger,
    tlsConnector,
    // Reports on what forwarding asked destinations to commit ([[route]] commit = true).
    reports: (result, peer) => forwarding.forwarder.commitmentReport(result, peer),
  });
  const stats = new ServerStats();
  // Memory the work left behind goes back to the system once the server is quiet.
  const idle = new IdleRelease({ steps: releaseSteps(), logger });
  const work = () => idle.begin();
  // max_associations per [[known_ae]] counts C-MOVE sub-associations and sends together.
  const destinationSlots = new DestinationSlots();
  const services = stats.observeServices(
    buildServices({
      config,
      logger,
      store,
      decoder,
      onStored: (o) => stats.stored(o),
      // C-MOVE destinations as of the latest reload.
      knownAe: () => current.knownAe,
      extra: [commitment.service],
      tlsConnector,
      audit: audit ?? undefined,
      destinationSlots,
    }),
    // Each operation counts as work for the idle release while it runs: an association left
    // open and quiet does not keep the release from running.
    work,
  );

  const intake = new AssociationIntake({
    config,
    services,
    stats,
    logger,
    audit,
    ended: (id) => store.endAssociation(id),
    activity: () => idle.touch(),
  });

  try {
    listeners = await startDicomListeners(config, tlsMaterial, intake.onConnection, logger, audit);
  } catch (e) {
    await closeStorage();
    throw e;
  }
  const dicom = listeners;

  let web: WebServer | null;
  try {
    web = startWeb({
      config,
      current: () => current,
      storage,
      stats,
      services,
      forwarding,
      commitment,
      dicomPort: dicom.dicomPort,
      httpsMaterial,
      tlsConnector,
      destinationSlots,
      logger,
      work,
    });
  } catch (e) {
    await dicom.close();
    await closeStorage();
    throw e;
  }

  // The same warnings check-config prints.
  for (const warning of configWarnings(config)) logger.log("warn", `configuration: ${warning}`);
  const retention = startRetention(config, storage.store, audit, logger);
  forwarding.start();
  commitment.start();

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping: Promise<void> | null = null;
  const stop = (graceMs = 5000): Promise<void> => {
    stopping ??= (async () => {
      await web?.stop();
      await dicom.close();
      await intake.drain(graceMs);
      await retention?.stop();
      await forwarding.stop();
      await commitment.stop();
      idle.close();
      await storage.close();
      audit?.record(applicationRecord("Application Stop", config.server.aeTitle));
      await storage.closeAudit();
      resolveDone();
    })();
    return stopping;
  };
  const reload = (next: Config) =>
    applyReload({
      current: () => current,
      replace: (c) => (current = c),
      knownAe: (k) => intake.setKnownAe(k),
      tls: dicom.secure,
      logger,
      audit,
    }, next);
  audit?.record(applicationRecord("Application Start", config.server.aeTitle));
  return {
    audit,
    dicomPort: dicom.dicomPort,
    tlsPort: dicom.secure?.listener.port ?? null,
    httpPort: web?.port ?? null,
    stop,
    done,
    reload,
  };
}

/** Start step "retention": null when neither `retention_days` nor `retention_min_free_mb` is set. */
function startRetention(
  config: Config,
  store: Parameters<typeof scheduleRetention>[0],
  audit: AuditLog | null,
  logger: Logger,
) {
  const st = config.storage;
  if (st.retentionDays <= 0 && st.retentionMinFreeMb <= 0) return null;
  return scheduleRetention(store, {
    days: st.retentionDays,
    minFreeBytes: st.retentionMinFreeMb * MB,
    audit: audit ?? undefined,
  }, logger);
}

/** gc() where V8 exposes it (--expose-gc, scripts/v8_flags.ts). */
type Gc = (options?: { type?: "major"; execution?: "sync"; flavor?: "last-resort" }) => void;

/**
 * What the idle release does: the SQLite connections' page caches emptied, a full garbage
 * collection that also gives the JavaScript heap's empty pages back (where gc() is exposed),
 * then the C heap's free pages back and the executable's code pages unmapped (glibc only).
 */
function releaseSteps(): ReleaseStep[] {
  const steps: ReleaseStep[] = [];
  // First: the pages SQLite gives back are then free C heap for the trim below.
  steps.push(() => `SQLite caches of ${shrinkCaches()} connections emptied`);
  const gc = (globalThis as { gc?: Gc }).gc;
  if (typeof gc === "function") {
    steps.push(() => {
      gc({ type: "major", execution: "sync", flavor: "last-resort" });
      return "heap collected";
    });
  }
  const trim = openMallocTrim();
  if (trim) steps.push(() => (trim() ? "C heap trimmed" : undefined));
  const code = openCodePageRelease();
  if (code) steps.push(() => `${Math.round(code() / 1048576)} MiB of code mappings dropped`);
  return steps;
}
