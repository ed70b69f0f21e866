// Forwarding as the running server has it: the durable queue, the sender, the view the web
// pages and /metrics read, and retention's hold on what is still to be sent (or, with
// retention_require_commit, still to be committed).
import type { Config } from "../config.ts";
import type { Connector, Logger } from "../core/ports.ts";
import type { AuditTrail } from "../core/audit.ts";
import { tcpConnector } from "../net/tcp.ts";
import { destinationWantsCommit, type ForwardQueue } from "../storage/forward_queue.ts";
import type { StudyCommitment } from "../storage/forward_commitments.ts";
import type { FsObjectStore } from "../storage/object_store.ts";
import type { ForwardDestinationView, ForwardSource, ForwardView } from "../web/forward.ts";
import { type DestinationState, Forwarder } from "./forwarder.ts";

export interface Forwarding extends ForwardSource {
  queue: ForwardQueue;
  forwarder: Forwarder;
  /** Starts sending (what a previous run left queued, too). */
  start(): void;
  stop(): Promise<void>;
  /** The queue and the sender's state, for the pages. */
  view(): ForwardView;
  /** Queues a stored study for a known AE; null when `destination` is not one. */
  forwardStudy(study: string, destination: string): { instances: number; queued: number } | null;
  /** Puts a destination's failed objects back in its queue. */
  retryFailed(destination: string): number;
  /** Per destination, a study's objects committed there and still waiting. */
  studyCommitments(study: string): StudyCommitment[];
}

export interface ForwardingDeps {
  config(): Config;
  store: FsObjectStore;
  queue: ForwardQueue;
  logger: Logger;
  /** For destinations with tls = true: the current TLS connector, null when TLS is off. */
  tlsConnector?: () => Connector | null;
  /** Each forwarding association's transfer is recorded there. */
  audit?: AuditTrail;
}

const iso = (ms: number | null) => ms === null ? null : new Date(ms).toISOString();

export function createForwarding(deps: ForwardingDeps): Forwarding {
  const { store, queue, logger } = deps;
  const s = deps.config().server;
  const commitments = queue.openCommitments();
  const forwarder = new Forwarder({
    queue,
    objects: store,
    connector: tcpConnector,
    tlsConnector: deps.tlsConnector,
    audit: deps.audit,
    logger,
    knownAe: () => deps.config().knownAe,
    forward: () => deps.config().forward,
    aeTitle: s.aeTitle,
    maxPduLength: s.maxPduLength,
    implementationClassUid: s.implementationClassUid,
    implementationVersionName: s.implementationVersionName,
    connectTimeoutMs: s.artimTimeoutS * 1000,
    artimTimeoutMs: s.artimTimeoutS * 1000,
    idleTimeoutMs: s.idleTimeoutS * 1000,
    onActivity: () => store.noteActivity(),
    commitments,
    wantsCommit: (d) => destinationWantsCommit(deps.config().routes, d),
  });
  // Retention never deletes an object still queued or failed for a destination, nor, when
  // asked to, one sent to a commit = true route and not committed there yet.
  store.addRetentionHold((uid) => queue.holds(uid, deps.config().storage.retentionRequireCommit));
  let started = false;
  return {
    queue,
    forwarder,
    start() {
      started = true;
      forwarder.start();
    },
    async stop() {
      if (started) await forwarder.stop();
    },
    view() {
      const states = new Map<string, DestinationState>(
        forwarder.states().map((st) => [st.destination, st]),
      );
      const queues = new Map(queue.summary().map((q) => [q.destination, q]));
      const committed = commitments.committedCounts();
      const names = new Set([
        ...deps.config().routes.map((r) => r.destination),
        ...queues.keys(),
        ...states.keys(),
      ]);
      const destinations = [...names].sort().map((name): ForwardDestinationView => {
        const q = queues.get(name);
        const st = states.get(name);
        return {
          destination: name,
          queued: q?.queued ?? 0,
          failed: q?.failed ?? 0,
          oldestQueuedAt: iso(q?.oldestQueuedAt ?? null),
          failing: st?.failing ?? false,
          lastError: st?.lastError ?? null,
          lastErrorAt: iso(st?.lastErrorAt ?? null),
          retryAt: iso(st?.retryAt ?? null),
          sent: st?.sent ?? 0,
          failures: st?.failures ?? 0,
          associations: st?.associations ?? 0,
          awaitingCommitment: q?.awaitingCommitment ?? 0,
          committed: committed.get(name) ?? 0,
          commitFailures: st?.commitFailures ?? 0,
        };
      });
      const totals = forwarder.totals;
      return {
        destinations,
        failed: queue.failed(100).map((f) => ({
          ...f,
          queuedAt: new Date(f.queuedAt).toISOString(),
        })),
        sentTotal: totals.sent,
        failuresTotal: totals.failures,
      };
    },
    forwardStudy(study, destination) {
      const known = deps.config().knownAe.some((k) => k.aeTitle === destination.trim());
      if (!known) return null;
      const r = queue.queueStudy(study, destination.trim());
      logger.log("info", "study queued for forwarding", {
        study,
        destination,
        instances: r.instances,
        queued: r.queued,
      });
      return r;
    },
    retryFailed(destination) {
      return queue.retryFailed(destination);
    },
    studyCommitments: (study) => commitments.forStudy(study),
  };
}
