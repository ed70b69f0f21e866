// Sends the forwarding queue to its destinations: per destination at most its [[known_ae]]
// max_associations associations, each carrying queued objects one after the other until the
// queue is empty, with the C-MOVE store SCU (same contexts, same re-encoding). An object is
// taken off the queue only once the destination answered success: a crash in between sends
// it again (at least once on the wire), never skips it. A destination that cannot be reached,
// refuses, or answers a failure is retried with exponential backoff up to retry_max_s.
// Each delivered row leaves the queue in its own transaction at once, so that a crash resends
// at most the one object in flight (PS3.4 gives no way to ask a destination what it holds);
// for a commit = true route rows stay until the destination reports them committed
// (forward_commit.ts). While stores keep arriving each object first gives way to them, within
// bounds that keep the drain short (forward_pacing.ts).
import type { ForwardConfig, KnownAe } from "../config.ts";
import type { Connector, Logger, ObjectReader, TransportSecurity } from "../core/ports.ts";
import type { AuditTrail } from "../core/audit.ts";
import { forwardedRecord } from "./audit.ts";
import { StoreScu, type SubOperationResult } from "../core/services/store_scu.ts";
import { proposeContexts } from "../core/services/sub_operation_contexts.ts";
import { connectorFor } from "../core/services/scu_association.ts";
import { AssociationRejectedError, RequestorAssociation } from "../core/ul/requestor.ts";
import type { ForwardQueue, QueueItem } from "../storage/forward_queue.ts";
import type { ForwardCommitments, ReportOutcome } from "../storage/forward_commitments.ts";
import { commitmentContext, ForwardCommit } from "./forward_commit.ts";
import type { CommitmentResult } from "../core/services/commitment.ts";
import { Destination, type DestinationState, retryPolicy } from "./forward_destination.ts";
import { withTimeout } from "./with_timeout.ts";
import type { PacingOptions } from "./forward_pacing.ts";

export type { DestinationState };

export interface ForwarderOptions {
  queue: ForwardQueue;
  objects: ObjectReader;
  connector: Connector;
  /** For a [[known_ae]] with tls = true: the current TLS connector, null when TLS is off. */
  tlsConnector?: () => Connector | null;
  logger: Logger;
  /** Read at every attempt: a reload applies at once. */
  knownAe(): readonly KnownAe[];
  forward(): ForwardConfig;
  aeTitle: string;
  maxPduLength: number;
  implementationClassUid: string;
  implementationVersionName: string;
  connectTimeoutMs: number;
  artimTimeoutMs: number;
  /** A destination silent this long while we wait for its answer ends the association. */
  idleTimeoutMs: number;
  /** Objects read from the queue at a time per association (default 64). */
  batch?: number;
  /** An association with nothing left to send waits this long for more (default 500 ms). */
  lingerMs?: number;
  /** The queue is read again this often even when nothing was said (default 5 s). */
  sweepMs?: number;
  /** First retry delay; doubles up to retry_max_s (default 1 s). */
  firstRetryMs?: number;
  /** Told after each object sent (the materializer keeps to quiet moments). */
  onActivity?: () => void;
  /** Storage Commitment of what routes with commit = true forward. */
  commitments?: ForwardCommitments;
  /** True when some route to the destination has commit = true (read at each association). */
  wantsCommit?: (destination: string) => boolean;
  /** Before release, an association waits this long for reports on it (default 1 s). */
  commitWaitMs?: number;
  /**
   * Delivered objects leave the queue in one transaction per this many (default 1): a crash
   * in between sends at most these again (duplicates the destination overwrites).
   */
  bookEvery?: number;
  /** How the sender gives way to incoming stores (forward_pacing.ts). */
  pacing?: PacingOptions;
  /** One "DICOM Instances Transferred" line per batch (at most `batch` objects) sent. */
  audit?: AuditTrail;
}

/** The connection or association failed: the destination is retried later as a whole. */
class DestinationError extends Error {}

export class Forwarder {
  readonly #o: ForwarderOptions;
  readonly #destinations = new Map<string, Destination>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  readonly #running = new Set<Promise<void>>();
  readonly #open = new Set<RequestorAssociation>();
  #associationCount = 0;
  readonly #commit: ForwardCommit | undefined;

  constructor(options: ForwarderOptions) {
    this.#o = options;
    if (options.commitments) {
      this.#commit = new ForwardCommit({
        commitments: options.commitments,
        logger: options.logger,
        retry: (attempts, queuedAt) => this.#retryPolicy(attempts, queuedAt),
        onOutcome: (outcome, peer) => this.#committed(outcome, peer),
      });
    }
  }

  /**
   * A Storage Commitment report from `peer` (on an association it opened to us); false when
   * its Transaction UID is none we asked for.
   */
  commitmentReport(result: CommitmentResult, peer: string): boolean {
    return this.#commit?.report(result, peer) ?? false;
  }

  /** Starts sending what is queued (after a restart: what was left). */
  start(): void {
    this.#sweep();
  }

  /** Something was queued for `destination`. */
  notify(destination: string): void {
    if (this.#stopped) return;
    const d = this.#destination(destination);
    d.pacing.queued();
    d.wakeAll();
    this.#pump(d);
  }

  /** Totals across destinations, for /metrics. */
  get totals(): { sent: number; failures: number } {
    let sent = 0;
    let failures = 0;
    for (const d of this.#destinations.values()) {
      sent += d.sent;
      failures += d.failures;
    }
    return { sent, failures };
  }

  states(): DestinationState[] {
    return [...this.#destinations.values()].map((d) => d.state());
  }

  /** Stops starting associations, ends the running ones after their current object. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const d of this.#destinations.values()) {
      d.wakeAll();
      d.pacing.release();
    }
    const grace = new Promise<void>((r) => {
      const t = setTimeout(r, this.#o.artimTimeoutMs);
      Deno.unrefTimer(t);
    });
    await Promise.race([Promise.all([...this.#running]), grace]);
    for (const a of this.#open) await a.abort().catch(() => {});
    await Promise.all([...this.#running]);
  }

  #destination(name: string): Destination {
    let d = this.#destinations.get(name);
    if (!d) {
      d = new Destination(name, this.#o.logger, this.#o.pacing);
      this.#destinations.set(name, d);
    }
    return d;
  }

  /** Reads every destination's queue; runs again at the next retry time or sweep. */
  #sweep(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      const timeoutS = this.#o.forward().commitTimeoutS;
      if (this.#commit && timeoutS > 0) {
        const n = this.#o.commitments!.expire(
          Date.now() - timeoutS * 1000,
          `no storage commitment report within commit_timeout_s = ${timeoutS}`,
        );
        if (n > 0) {
          this.#o.logger.log("warn", `${n} object(s) sent again: no commitment report came`, {
            commit_timeout_s: timeoutS,
          });
        }
      }
      for (const name of this.#o.queue.destinations()) this.#pump(this.#destination(name));
    } catch (e) {
      this.#o.logger.log("error", `forward queue unreadable: ${(e as Error).message}`);
    }
    this.#arm();
  }

  /** The next sweep: at the earliest retry time, at most sweepMs away. */
  #arm(): void {
    if (this.#stopped) return;
    const now = Date.now();
    let at = now + (this.#o.sweepMs ?? 5000);
    for (const d of this.#destinations.values()) {
      if (d.retryAt > now) at = Math.min(at, d.retryAt);
      else if (d.workers === 0) {
        const next = this.#o.queue.nextAttempt(d.name);
        if (next !== null && next > now) at = Math.min(at, next);
      }
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#sweep(), Math.max(10, at - now));
    Deno.unrefTimer(this.#timer);
  }

  /** Opens associations to `d` while it has unclaimed due objects and free slots. */
  #pump(d: Destination): void {
    if (this.#stopped) return;
    const now = Date.now();
    if (d.retryAt > now) return;
    const known = this.#o.knownAe().find((k) => k.aeTitle === d.name);
    if (!known) {
      this.#failed(d, `${d.name} is not a [[known_ae]]`);
      this.#arm();
      return;
    }
    const batch = this.#o.batch ?? 64;
    while (d.workers < Math.max(1, known.maxAssociations)) {
      // A second association only for a backlog the first one would take long to send.
      const want = d.workers === 0 ? 1 : batch + 1;
      const items = this.#o.queue.due(d.name, now, want, d.claimed);
      if (items.length < want) break;
      d.workers++;
      const run = this.#work(d, known).catch((e) => {
        this.#o.logger.log("error", `forwarding to ${d.name} failed: ${(e as Error).message}`);
      }).finally(() => {
        d.workers--;
        this.#running.delete(run);
        this.#arm();
        // Whatever arrived while this association was closing.
        if (!this.#stopped && d.retryAt <= Date.now()) queueMicrotask(() => this.#pump(d));
      });
      this.#running.add(run);
    }
  }

  /** Claims up to `n` due objects for one association. */
  #claim(d: Destination, n: number, allowed?: ReadonlySet<string>): QueueItem[] {
    const items = this.#o.queue.due(d.name, Date.now(), n, d.claimed)
      .filter((i) => !allowed || allowed.has(`${i.sopClassUid} ${i.transferSyntaxUid}`));
    for (const i of items) d.claimed.add(i.pk);
    return items;
  }

  /** One association: open, send batch after batch while there are any, release. */
  async #work(d: Destination, known: KnownAe): Promise<void> {
    const o = this.#o;
    const batchSize = o.batch ?? 64;
    let items = this.#claim(d, batchSize);
    if (items.length === 0) return;
    const where = `${known.aeTitle}@${known.host}:${known.port}`;
    const fields = { destination: where };
    let assoc: RequestorAssociation | undefined;
    /** TLS details of the connection, for the audit line. */
    let security: TransportSecurity | undefined;
    try {
      try {
        const connector = connectorFor(known, o.connector, o.tlsConnector?.());
        const connection = await connector.connect(known.host, known.port, o.connectTimeoutMs);
        security = connection.security;
        const proposed = proposeContexts(items);
        const commit = this.#commit &&
          (items.some((i) => i.wantCommit) || o.wantsCommit?.(d.name) === true);
        if (commit) {
          // At most 128 contexts (PS3.8 9.3.2.2): the commitment one takes the last place.
          if (proposed.length >= 128) proposed.length = 127;
          proposed.push(commitmentContext(2 * proposed.length + 1));
        }
        assoc = new RequestorAssociation({
          id: `fwd.${++this.#associationCount}`,
          connection,
          logger: o.logger,
          artimTimeoutMs: o.artimTimeoutMs,
          idleTimeoutMs: o.idleTimeoutMs,
          maxPduLength: o.maxPduLength,
          callingAeTitle: o.aeTitle,
          calledAeTitle: known.aeTitle,
          implementationClassUid: o.implementationClassUid,
          implementationVersionName: o.implementationVersionName,
          presentationContexts: proposed,
          // The destination may report its commitment on this association.
          services: this.#commit ? [this.#commit.receiver] : undefined,
        });
        this.#open.add(assoc);
        await withTimeout(assoc.open(), o.connectTimeoutMs, "A-ASSOCIATE-RQ");
      } catch (e) {
        const what = e instanceof AssociationRejectedError
          ? "refused the association"
          : assoc
          ? "did not accept the association"
          : `cannot be reached at ${known.host}:${known.port}`;
        throw new DestinationError(`${what}: ${(e as Error).message}`);
      }
      const open = assoc;
      o.logger.log("debug", "forward association open", { ...fields, assoc: open.info.id });
      const started = performance.now();
      let sentHere = 0;
      /** What the current batch delivered and the destination refused: one audit line each. */
      const sentUids: string[] = [];
      let refusedHere = 0;
      /** Writes the audit line of the batch, once it is over (sent, or cut short). */
      const auditRecord = () => {
        if (sentUids.length === 0 && refusedHere === 0) return;
        o.audit?.record(forwardedRecord({
          aeTitle: o.aeTitle,
          destination: known,
          associationId: open.info.id,
          security,
          sent: sentUids.splice(0),
          refused: refusedHere,
        }));
        refusedHere = 0;
      };
      // The pairs proposed: later objects of other classes or syntaxes need a new association.
      const pairs = new Set(items.map((i) => `${i.sopClassUid} ${i.transferSyntaxUid}`));
      const scu = new StoreScu({
        objects: o.objects,
        contexts: () => open.contexts.values(),
        request: (pcId, command, dataset, onSent) =>
          open.request(pcId, command, dataset, { onSent }),
        peerMaxPduLength: open.peerMaxPduLength,
      });
      /** Commitment transactions asked for on this association. */
      const transactions: string[] = [];
      try {
        // Each pass sends one batch; bounded by the queue (rows leave or wait for a retry).
        sending: for (let pass = 0; pass < 10_000_000 && items.length > 0; pass++) {
          const delivered: QueueItem[] = [];
          let booked = 0;
          // Booked after every object by default: a crash resends at most the one in flight.
          const book = () => {
            const done = delivered.slice(booked);
            booked = delivered.length;
            o.queue.sentMany(done);
            // Those waiting for their commitment stay claimed until it is asked for.
            for (const i of done) if (!i.wantCommit) d.claimed.delete(i.pk);
          };
          try {
            for (let k = 0; k < items.length; k++) {
              if (this.#stopped) break sending;
              const item = items[k];
              await d.pacing.giveWay(
                item.queuedAt,
                () => o.queue.waiting(d.name),
                () => this.#stopped,
              );
              if (this.#stopped) break sending;
              let result: SubOperationResult;
              try {
                result = await withTimeout(
                  scu.store(item, items[k + 1]),
                  o.idleTimeoutMs,
                  "C-STORE-RQ",
                );
              } catch (e) {
                throw new DestinationError(`association lost: ${(e as Error).message}`);
              }
              const took = this.#settle(d, item, result);
              if (took) {
                delivered.push(item);
                sentHere++;
                sentUids.push(item.sopInstanceUid);
                if (delivered.length - booked >= (o.bookEvery ?? 1)) book();
              } else {
                d.claimed.delete(item.pk);
                if (result.outcome === "failed") refusedHere++;
              }
              d.pacing.sent(took);
              o.onActivity?.();
            }
          } finally {
            book();
            auditRecord();
          }
          const toCommit = delivered.filter((i) => i.wantCommit);
          if (toCommit.length > 0) {
            const tx = await this.#requestCommitment(d, open, toCommit);
            if (tx) transactions.push(tx);
            for (const i of toCommit) d.claimed.delete(i.pk);
          }
          items = this.#claim(d, batchSize, pairs);
          if (items.length === 0 && !this.#stopped) {
            // Wait a moment for more: a modality's next image is usually on its way.
            await d.waitForMore(o.lingerMs ?? 500);
            items = this.#claim(d, batchSize, pairs);
          }
        }
        // A destination that reports on this association does so now, as a rule.
        await this.#commit?.waitForReports(transactions, o.commitWaitMs ?? 1000);
      } finally {
        scu.close();
        this.#commit?.forget(transactions);
      }
      await open.release().catch(() => {});
      o.logger.log("info", `forwarded to ${d.name}`, {
        assoc: open.info.id,
        objects: sentHere,
        seconds: ((performance.now() - started) / 1000).toFixed(2),
      });
    } catch (e) {
      if (!(e instanceof DestinationError)) throw e;
      await assoc?.abort().catch(() => {});
      this.#failed(d, `${d.name} ${e.message}`);
    } finally {
      for (const i of items) d.claimed.delete(i.pk);
      if (assoc) this.#open.delete(assoc);
    }
  }

  /** Asks for commitment of a delivered batch; on failure its objects are queued again. */
  async #requestCommitment(
    d: Destination,
    assoc: RequestorAssociation,
    items: QueueItem[],
  ): Promise<string | null> {
    try {
      return await this.#commit!.request(
        assoc,
        items,
        (p, what) => withTimeout(p, this.#o.idleTimeoutMs, what),
      );
    } catch (e) {
      const reason = (e as Error).message;
      for (const item of items) {
        const { nextAttempt, giveUp } = this.#retryPolicy(item.attempts + 1, item.queuedAt);
        this.#o.queue.retryLater(item, reason, nextAttempt, giveUp);
      }
      d.failures++;
      d.noteError(`${d.name} ${reason}`, false);
      if (assoc.peerReleasing.aborted) {
        throw new DestinationError(`association lost: ${reason}`);
      }
      return null;
    }
  }

  /** A report settled: counters, and a log line. */
  #committed(outcome: ReportOutcome & { destination: string }, peer: string): void {
    const d = this.#destination(outcome.destination);
    d.committed += outcome.committed;
    d.commitFailures += outcome.failed;
    const fields = { peer, committed: outcome.committed, failed: outcome.failed };
    if (outcome.failed === 0) {
      this.#o.logger.log("info", `storage committed at ${d.name}`, fields);
      return;
    }
    d.failures++;
    d.noteError(
      `${d.name} did not commit ${outcome.failed} object(s); they go again`,
      outcome.gaveUp > 0,
    );
    this.#o.logger.log("warn", `storage commitment at ${d.name} failed for some objects`, fields);
    // The failed ones are due again after their backoff.
    this.#arm();
  }

  /** Books one object's outcome; true when the destination took it. */
  #settle(d: Destination, item: QueueItem, result: SubOperationResult): boolean {
    const q = this.#o.queue;
    if (result.outcome !== "failed") {
      // Booked by the caller with the rest of its batch (sentMany).
      d.sent++;
      d.recovered();
      return true;
    }
    if (result.reason === "no longer stored") {
      // Deleted since it was queued: nothing left to send.
      q.drop(item);
      return false;
    }
    d.failures++;
    const { nextAttempt, giveUp } = this.#retryPolicy(item.attempts + 1, item.queuedAt);
    const reason = result.reason ?? "failed";
    q.retryLater(item, reason, nextAttempt, giveUp);
    d.noteError(`${d.name} ${item.sopInstanceUid}: ${reason}`, giveUp);
    return false;
  }

  /** The destination failed as a whole: back off, give up the oldest when due. */
  #failed(d: Destination, error: string): void {
    d.backOff(this.#o.firstRetryMs ?? 1000, this.#o.forward().retryMaxS * 1000);
    const giveUpH = this.#o.forward().giveUpAfterH;
    let gaveUp = 0;
    if (giveUpH > 0) {
      gaveUp = this.#o.queue.giveUpOlderThan(d.name, Date.now() - giveUpH * 3_600_000, error);
    }
    d.noteError(error, gaveUp > 0);
    if (gaveUp > 0) {
      this.#o.logger.log("warn", `forwarding to ${d.name}: ${gaveUp} object(s) moved to failed`, {
        give_up_after_h: giveUpH,
      });
    }
    this.#arm();
  }

  #retryPolicy(attempt: number, queuedAt: number): { nextAttempt: number; giveUp: boolean } {
    return retryPolicy(attempt, queuedAt, this.#o.forward(), this.#o.firstRetryMs ?? 1000);
  }
}
