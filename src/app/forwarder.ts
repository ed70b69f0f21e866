// Sends the forwarding queue to its destinations: per destination at most its [[known_ae]]
// max_associations associations, each carrying queued objects one after the other until the
// queue is empty, with the C-MOVE store SCU (same contexts, same re-encoding). An object is
// taken off the queue only once the destination answered success: a crash in between sends
// it again (at least once on the wire), never skips it. A destination that cannot be reached,
// refuses, or answers a failure is retried with exponential backoff up to retry_max_s.
import type { ForwardConfig, KnownAe } from "../config.ts";
import type { Connector, Logger, ObjectReader } from "../core/ports.ts";
import { StoreScu, type SubOperationResult } from "../core/services/store_scu.ts";
import { proposeContexts } from "../core/services/sub_operation_contexts.ts";
import { AssociationRejectedError, RequestorAssociation } from "../core/ul/requestor.ts";
import type { ForwardQueue, QueueItem } from "../storage/forward_queue.ts";
import { retryDelayMs } from "./backoff.ts";

export interface ForwarderOptions {
  queue: ForwardQueue;
  objects: ObjectReader;
  connector: Connector;
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
}

/** One destination as /api/forward shows it. */
export interface DestinationState {
  destination: string;
  /** Failing since the last error; false once an object got through. */
  failing: boolean;
  lastError: string | null;
  /** ms since 1970 */
  lastErrorAt: number | null;
  /** ms since 1970 of the next attempt while backing off, else null. */
  retryAt: number | null;
  sent: number;
  failures: number;
  associations: number;
}

interface Destination {
  name: string;
  failing: boolean;
  lastError: string | null;
  lastErrorAt: number | null;
  /** Backoff after a failure: no association before this. */
  retryAt: number;
  backoffMs: number;
  sent: number;
  failures: number;
  workers: number;
  /** Rows being sent right now (not to be taken by another association). */
  claimed: Set<number>;
  /** Wakes associations waiting for more work. */
  wake: Set<() => void>;
}

const HOUR_MS = 3_600_000;

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  if (!(ms > 0)) return await p;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
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

  constructor(options: ForwarderOptions) {
    this.#o = options;
  }

  /** Starts sending what is queued (after a restart: what was left). */
  start(): void {
    this.#sweep();
  }

  /** Something was queued for `destination`. */
  notify(destination: string): void {
    if (this.#stopped) return;
    const d = this.#destination(destination);
    for (const w of [...d.wake]) w();
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
    return [...this.#destinations.values()].map((d) => ({
      destination: d.name,
      failing: d.failing,
      lastError: d.lastError,
      lastErrorAt: d.lastErrorAt,
      retryAt: d.retryAt > Date.now() ? d.retryAt : null,
      sent: d.sent,
      failures: d.failures,
      associations: d.workers,
    }));
  }

  /** Stops starting associations, ends the running ones after their current object. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const d of this.#destinations.values()) for (const w of [...d.wake]) w();
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
      d = {
        name,
        failing: false,
        lastError: null,
        lastErrorAt: null,
        retryAt: 0,
        backoffMs: 0,
        sent: 0,
        failures: 0,
        workers: 0,
        claimed: new Set(),
        wake: new Set(),
      };
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
    try {
      try {
        const connection = await o.connector.connect(known.host, known.port, o.connectTimeoutMs);
        const proposed = proposeContexts(items);
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
      // The pairs proposed: later objects of other classes or syntaxes need a new association.
      const pairs = new Set(items.map((i) => `${i.sopClassUid} ${i.transferSyntaxUid}`));
      const scu = new StoreScu({
        objects: o.objects,
        contexts: () => open.contexts.values(),
        request: (pcId, command, dataset) => open.request(pcId, command, dataset),
        peerMaxPduLength: open.peerMaxPduLength,
      });
      try {
        // Each pass sends one batch; bounded by the queue (rows leave or wait for a retry).
        sending: for (let pass = 0; pass < 10_000_000 && items.length > 0; pass++) {
          for (let k = 0; k < items.length; k++) {
            if (this.#stopped) break sending;
            const item = items[k];
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
            d.claimed.delete(item.pk);
            if (this.#settle(d, item, result)) sentHere++;
            o.onActivity?.();
          }
          items = this.#claim(d, batchSize, pairs);
          if (items.length === 0 && !this.#stopped) {
            // Wait a moment for more: a modality's next image is usually on its way.
            await this.#waitForMore(d, o.lingerMs ?? 500);
            items = this.#claim(d, batchSize, pairs);
          }
        }
      } finally {
        scu.close();
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

  #waitForMore(d: Destination, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        d.wake.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      d.wake.add(done);
    });
  }

  /** Books one object's outcome; true when the destination took it. */
  #settle(d: Destination, item: QueueItem, result: SubOperationResult): boolean {
    const q = this.#o.queue;
    if (result.outcome !== "failed") {
      q.sent(item);
      d.sent++;
      this.#recovered(d);
      return true;
    }
    if (result.reason === "no longer stored") {
      // Deleted since it was queued: nothing left to send.
      q.drop(item);
      return false;
    }
    d.failures++;
    const now = Date.now();
    const delay = retryDelayMs(
      this.#o.firstRetryMs ?? 1000,
      this.#o.forward().retryMaxS * 1000,
      item.attempts,
    );
    const giveUpH = this.#o.forward().giveUpAfterH;
    const giveUp = giveUpH > 0 && now - item.queuedAt >= giveUpH * HOUR_MS;
    const reason = result.reason ?? "failed";
    q.retryLater(item, reason, now + delay, giveUp);
    this.#noteError(d, `${d.name} ${item.sopInstanceUid}: ${reason}`, giveUp);
    return false;
  }

  /** The destination failed as a whole: back off, give up the oldest when due. */
  #failed(d: Destination, error: string): void {
    d.failures++;
    d.backoffMs = d.backoffMs === 0
      ? (this.#o.firstRetryMs ?? 1000)
      : Math.min(this.#o.forward().retryMaxS * 1000, d.backoffMs * 2);
    d.retryAt = Date.now() + d.backoffMs;
    const giveUpH = this.#o.forward().giveUpAfterH;
    let gaveUp = 0;
    if (giveUpH > 0) {
      gaveUp = this.#o.queue.giveUpOlderThan(d.name, Date.now() - giveUpH * HOUR_MS, error);
    }
    this.#noteError(d, error, gaveUp > 0);
    if (gaveUp > 0) {
      this.#o.logger.log("warn", `forwarding to ${d.name}: ${gaveUp} object(s) moved to failed`, {
        give_up_after_h: giveUpH,
      });
    }
    this.#arm();
  }

  #noteError(d: Destination, error: string, gaveUp: boolean): void {
    d.lastError = error;
    d.lastErrorAt = Date.now();
    if (!d.failing) {
      d.failing = true;
      this.#o.logger.log("warn", `forwarding to ${d.name} is failing: ${error}`, {
        retry_in_s: Math.round(Math.max(0, d.retryAt - Date.now()) / 1000),
      });
    } else if (gaveUp) {
      this.#o.logger.log("warn", `forwarding to ${d.name} gave up on an object: ${error}`);
    }
  }

  #recovered(d: Destination): void {
    d.backoffMs = 0;
    d.retryAt = 0;
    if (!d.failing) return;
    d.failing = false;
    this.#o.logger.log("info", `forwarding to ${d.name} recovered`, { sent: d.sent });
  }
}
