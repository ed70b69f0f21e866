// Wires config + core + adapters: the DICOM listener, the object store, the services.
import { buildActions } from "./app/actions.ts";
import { type Config, configWarnings } from "./config.ts";
import type { Connection, Logger } from "./core/ports.ts";
import type { DimseService } from "./core/dimse/service_contract.ts";
import { JPEG_2000_LOSSLESS, JPEG_LS_LOSSLESS, RLE_LOSSLESS } from "./core/codecs/registry.ts";
import { AcceptorAssociation } from "./core/ul/acceptor.ts";
import type { AcceptorPolicy, SupportedSyntax } from "./core/ul/negotiation.ts";
import { listenError, listenTcp, type TcpListener } from "./net/tcp.ts";
import {
  type DicomTls,
  loadDicomTlsMaterial,
  loadHttpTlsMaterial,
  startDicomTls,
} from "./app/dicom_tls.ts";
import { Admission, type AdmissionLimits } from "./app/admission.ts";
import { lockStorage } from "./storage/lock.ts";
import { FsObjectStore } from "./storage/object_store.ts";
import { planReload } from "./app/reload.ts";
import { Permissions } from "./app/permissions.ts";
import {
  applicationRecord,
  associationRecord,
  openAuditTrail,
  reloadRecord,
  tlsRefusalRecord,
} from "./app/audit.ts";
import type { AuditLog } from "./storage/audit_log.ts";
import { scheduleRetention } from "./storage/retention.ts";
import { buildServices } from "./app/services.ts";
import { DestinationSlots } from "./core/services/move.ts";
import { ServerStats } from "./app/stats.ts";
import { createCommitment } from "./app/commitment.ts";
import { createForwarding } from "./app/forwarding.ts";
import { ForwardQueue } from "./storage/forward_queue.ts";
import { DecodeWorkers } from "./app/decode_workers.ts";
import { checkHttpExposure } from "./web/security.ts";
import { startWebServer, type WebServer } from "./web/http_server.ts";

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

/** The one table of what we serve: every service's abstract syntaxes. */
function syntaxTable(services: readonly DimseService[]): Map<string, SupportedSyntax> {
  const table = new Map<string, SupportedSyntax>();
  for (const s of services) {
    for (const syntax of s.syntaxes()) table.set(syntax.abstractSyntax, syntax);
  }
  return table;
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
  // One process per storage folder: a second server (or a reindex) is refused here.
  const lock = await lockStorage(config.storage.path);
  // Replaced as a whole by reload(); each new association reads the current one.
  let current = config;
  // Objects matching a [[route]] are queued in the transaction that indexes them.
  let notifyForward = (_destination: string) => {};
  const forwardQueue = new ForwardQueue(() => current.routes, (d) => notifyForward(d));
  // Decodes for retrieves and compresses at rest, on worker threads.
  const decoder = new DecodeWorkers();
  let store: FsObjectStore;
  let audit: AuditLog | null = null;
  try {
    audit = await openAuditTrail(config, logger);
    store = await FsObjectStore.open({
      root: config.storage.path,
      durability: config.storage.durability,
      duplicates: config.storage.duplicates,
      implementationClassUid: config.server.implementationClassUid,
      implementationVersionName: config.server.implementationVersionName,
      logger,
      journalReserveBytes: config.storage.journalReserveMb * 1024 * 1024,
      minFreeBytes: config.storage.minFreeMb * 1024 * 1024,
      onIndexOpen: (index) => forwardQueue.attach(index),
      compressTo: compressionSyntax(config.storage.compression),
      compressor: (dataset, from, to) => decoder.compress(dataset, from, to),
    });
  } catch (e) {
    await audit?.close();
    decoder.close();
    lock.release();
    throw e;
  }
  const forwarding = createForwarding({
    config: () => current,
    store,
    queue: forwardQueue,
    logger,
  });
  notifyForward = (d) => forwarding.forwarder.notify(d);
  const commitment = createCommitment({ config: () => current, store, logger });
  const stats = new ServerStats();
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
      tlsConnector: () => secure?.connector() ?? null,
      audit: audit ?? undefined,
      destinationSlots,
    }),
  );
  const syntaxes = syntaxTable(services);
  // accept, [[known_ae]] allow, hosts and tls_name: who may do what, from where.
  const permissions = new Permissions(config, services);
  // Counts associations (not connections) against the limits; see app/admission.ts.
  const limitsOf = (c: Config): AdmissionLimits => ({
    maxAssociations: c.server.maxAssociations,
    maxPendingConnections: c.server.maxPendingConnections,
    maxIncoming: new Map(
      c.knownAe.flatMap((k) => k.maxIncoming ? [[k.aeTitle.trim(), k.maxIncoming]] : []),
    ),
    knownCallingAeTitles: c.server.accept === "known"
      ? new Set(c.knownAe.map((k) => k.aeTitle.trim()))
      : undefined,
  });
  const admission = new Admission(limitsOf(config));
  const s = config.server;
  const basePolicy: AcceptorPolicy = {
    aeTitle: s.aeTitle,
    checkCalledAe: s.checkCalledAe,
    maxPduLength: s.maxPduLength,
    implementationClassUid: s.implementationClassUid,
    implementationVersionName: s.implementationVersionName,
    syntaxes,
  };

  const open = new Set<AcceptorAssociation>();
  let nextId = 1;
  const onConnection = (conn: Connection) => {
    const id = String(nextId++);
    const tracker = stats.association(id, conn.remote);
    // Pending (not yet a whole A-ASSOCIATE-RQ) has its own budget: the oldest is dropped.
    admission.connected(id, () => {
      logger.log("info", "too many connections without an A-ASSOCIATE-RQ: closing the oldest", {
        assoc: id,
        peer: `?@${conn.remote}`,
      });
      conn.close();
    });
    const assoc = new AcceptorAssociation({
      id,
      observer: {
        ...tracker,
        accepted: (info) => {
          tracker.accepted?.(info);
          audit?.record(associationRecord(info, conn));
          admission.accepted(id, info.callingAeTitle);
        },
        rejected: (info, label, why) => {
          tracker.rejected?.(info, label, why);
          audit?.record(associationRecord(info, conn, why));
        },
      },
      connection: conn,
      logger,
      artimTimeoutMs: s.artimTimeoutS * 1000,
      idleTimeoutMs: s.idleTimeoutS * 1000,
      maxPduLength: s.maxPduLength,
      services,
      // Decided at A-ASSOCIATE-RQ time: the one over a limit is rejected, not dropped.
      policy: (rq) => {
        const verdict = admission.requested(id, rq.callingAeTitle);
        return {
          ...basePolicy,
          knownCallingAeTitles: verdict.knownCallingAeTitles,
          overLimit: verdict.overLimit,
          callingAeLimit: verdict.callingAeLimit,
          ...permissions.policyFor(rq.callingAeTitle.trim(), conn),
        };
      },
    });
    open.add(assoc);
    void assoc.finished.then((end) => {
      // Counts no more from the moment the close is seen.
      admission.closed(id);
      tracker.ended(end);
    });
    assoc.run().catch((e) => {
      logger.log("error", `association failed: ${(e as Error).message}`, { assoc: assoc.info.id });
      conn.close();
    }).finally(async () => {
      open.delete(assoc);
      admission.closed(id);
      // Its journal segment takes no more records: once materialized it can go.
      await store.endAssociation(assoc.info.id).catch((e) =>
        logger.log("error", `closing journal segment failed: ${(e as Error).message}`, {
          assoc: assoc.info.id,
        })
      );
    });
  };
  let plain: TcpListener | null = null;
  let secure: DicomTls | null = null;
  const closeListeners = async () => {
    plain?.close();
    secure?.listener.close();
    await Promise.all([plain?.done, secure?.listener.done]);
  };
  try {
    if (s.plain) plain = listenTcp(s.bind, s.port, onConnection);
    if (tlsMaterial) {
      secure = await startDicomTls(
        config,
        tlsMaterial,
        logger,
        onConnection,
        (peer, reason, subject) => audit?.record(tlsRefusalRecord(peer, reason, subject)),
      );
    }
  } catch (e) {
    await closeListeners();
    await store.close().finally(() => (decoder.close(), lock.release()));
    await audit?.close();
    // Which listener failed: the plain one is started first.
    const port = s.plain && !plain ? s.port : config.tls.port;
    const what = s.plain && !plain ? "DICOM" : "DICOM over TLS";
    throw new Error(`cannot listen for ${what} on ${s.bind}:${port}: ${listenError(e, port)}`);
  }
  if (plain) {
    logger.log("info", `DICOM listening`, { ae: s.aeTitle, bind: s.bind, port: plain.port });
  }
  const dicomPort = plain?.port ?? secure!.listener.port;
  let web: WebServer | null = null;
  if (config.http.enabled) {
    try {
      web = startWebServer({
        bind: config.http.bind,
        port: config.http.port,
        config: () => current,
        stats,
        storage: store,
        logger,
        dicomPort: () => dicomPort,
        actions: buildActions({
          store,
          config: () => current,
          logger,
          stats,
          decoder,
          // A send to a tls = true AE goes over TLS as C-MOVE's sub-associations do.
          tlsConnector: () => secure?.connector() ?? null,
          audit: audit ?? undefined,
          destinationSlots,
        }),
        forwarding,
        commitmentPending: () => commitment.pending(),
        audit: audit ?? undefined,
        tls: httpsMaterial
          ? { certificate: httpsMaterial.certificate!, privateKey: httpsMaterial.privateKey! }
          : undefined,
        dicomweb: {
          root: store.root,
          openReader: () => store.openReader(),
          objects: store,
          stow: {
            storage: services.find((s) => s.name === "store")!,
            endAssociation: (id) => store.endAssociation(id),
            aeTitle: () => current.server.aeTitle,
          },
        },
      });
    } catch (e) {
      await closeListeners();
      await store.close().finally(() => (decoder.close(), lock.release()));
      await audit?.close();
      throw e;
    }
  }
  const st = config.storage;
  // The same warnings check-config prints.
  for (const warning of configWarnings(config)) logger.log("warn", `configuration: ${warning}`);
  const retention = st.retentionDays > 0 || st.retentionMinFreeMb > 0
    ? scheduleRetention(store, {
      days: st.retentionDays,
      minFreeBytes: st.retentionMinFreeMb * 1024 * 1024,
      audit: audit ?? undefined,
    }, logger)
    : null;

  forwarding.start();
  commitment.start();

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping: Promise<void> | null = null;
  const stop = (graceMs = 5000): Promise<void> => {
    stopping ??= (async () => {
      await web?.stop();
      await closeListeners();
      if (open.size) {
        logger.log("info", `waiting for ${open.size} association(s) to finish`);
        const all = Promise.all([...open].map((a) => a.finished));
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([all, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
        clearTimeout(timer);
        for (const a of open) {
          logger.log("warn", "association aborted at shutdown", {
            assoc: a.info.id,
            peer: `${a.info.callingAeTitle || "?"}@${a.info.remote}`,
            grace_ms: graceMs,
          });
          await a.abort();
        }
      }
      await retention?.stop();
      await forwarding.stop();
      await commitment.stop();
      try {
        await store.close(); // compresses what waits in the journal, on the workers
      } finally {
        decoder.close();
        lock.release();
      }
      audit?.record(applicationRecord("Application Stop", s.aeTitle));
      await audit?.close();
      resolveDone();
    })();
    return stopping;
  };
  const reload = (next: Config) => {
    const { apply, needsRestart } = planReload(current, next);
    const applied: string[] = [];
    if (apply.includes("known_ae")) {
      // New limits apply to new associations; open ones are never dropped.
      admission.setLimits(limitsOf({ ...current, knownAe: next.knownAe }));
      permissions.setKnownAe(next);
      current = { ...current, knownAe: next.knownAe };
      applied.push("known_ae");
    }
    // New certificate file names: re-read below like the files themselves.
    const tlsFiles = apply.filter((k) => k.startsWith("tls."));
    if (tlsFiles.length && secure) {
      current = { ...current, tls: next.tls };
      applied.push(...tlsFiles);
    }
    const forward = apply.filter((k) => k === "route" || k.startsWith("forward."));
    if (forward.length) {
      // New objects are routed by the new rules; what is queued stays queued.
      current = { ...current, routes: next.routes, forward: next.forward };
      applied.push(...forward);
    }
    const level = apply.includes("log.level") && logger.setLevel ? next.log.level : undefined;
    if (level) applied.push("log.level");
    // Said at whichever of the old and new levels shows info lines.
    const report = () =>
      logger.log("info", "configuration reloaded", {
        applied: applied.length ? applied.join(",") : "nothing changed",
      });
    const infoBefore = current.log.level === "info" || current.log.level === "debug";
    if (infoBefore) report();
    if (level) {
      logger.setLevel!(level);
      current = { ...current, log: { ...current.log, level } };
    }
    if (!infoBefore) report();
    if (needsRestart.length) {
      logger.log("warn", `needs a restart: ${needsRestart.join(", ")}`);
    }
    audit?.record(reloadRecord(applied, needsRestart));
    // Certificate files may have been replaced under the same names: always re-read them.
    if (secure && next.tls.enabled) void secure.reload(next);
    return { applied, needsRestart };
  };
  audit?.record(applicationRecord("Application Start", s.aeTitle));
  return {
    audit,
    dicomPort,
    tlsPort: secure?.listener.port ?? null,
    httpPort: web?.port ?? null,
    stop,
    done,
    reload,
  };
}

/** The transfer syntax of `[storage] compression` (PS3.5 A.4.2-A.4.4); undefined for "none". */
function compressionSyntax(name: Config["storage"]["compression"]): string | undefined {
  if (name === "jpeg-ls") return JPEG_LS_LOSSLESS;
  if (name === "jpeg2000") return JPEG_2000_LOSSLESS;
  if (name === "rle") return RLE_LOSSLESS;
  return undefined;
}
