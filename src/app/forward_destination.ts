// One forwarding destination as the sender keeps it in memory: its health (failing since when,
// the last error, the backoff before the next association), its counters for /api/forward,
// the rows its associations are sending, and the retry policy of its objects.
import { retryDelayMs } from "./backoff.ts";
import type { ForwardConfig } from "../config.ts";
import type { Logger } from "../core/ports.ts";
import { ForwardPacing, type PacingOptions, wakeableDelay } from "./forward_pacing.ts";

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
  /** Objects the destination reported committed since start. */
  committed: number;
  /** Objects it reported not committed since start. */
  commitFailures: number;
}

const HOUR_MS = 3_600_000;

/**
 * When an object that failed (attempt number `attempt`) goes again: exponential backoff from
 * `firstMs` up to retry_max_s; to the failed list once give_up_after_h has passed.
 */
export function retryPolicy(
  attempt: number,
  queuedAt: number,
  forward: ForwardConfig,
  firstMs: number,
): { nextAttempt: number; giveUp: boolean } {
  const now = Date.now();
  const delay = retryDelayMs(firstMs, forward.retryMaxS * 1000, attempt - 1);
  return {
    nextAttempt: now + delay,
    giveUp: forward.giveUpAfterH > 0 && now - queuedAt >= forward.giveUpAfterH * HOUR_MS,
  };
}

export class Destination {
  failing = false;
  lastError: string | null = null;
  lastErrorAt: number | null = null;
  /** Backoff after a failure: no association before this. */
  retryAt = 0;
  backoffMs = 0;
  sent = 0;
  failures = 0;
  committed = 0;
  commitFailures = 0;
  workers = 0;
  /** Rows being sent right now (not to be taken by another association). */
  readonly claimed = new Set<number>();
  /** Wakes associations waiting for more work. */
  readonly #wake = new Set<() => void>();
  readonly #logger: Logger;
  /** When its associations give way to incoming stores. */
  readonly pacing: ForwardPacing;

  constructor(readonly name: string, logger: Logger, pacing?: PacingOptions) {
    this.#logger = logger;
    this.pacing = new ForwardPacing(pacing);
  }

  state(): DestinationState {
    return {
      destination: this.name,
      failing: this.failing,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      retryAt: this.retryAt > Date.now() ? this.retryAt : null,
      sent: this.sent,
      failures: this.failures,
      associations: this.workers,
      committed: this.committed,
      commitFailures: this.commitFailures,
    };
  }

  /** Something was queued (or the sender stops): associations waiting for more look again. */
  wakeAll(): void {
    for (const w of [...this.#wake]) w();
  }

  /** Resolves after `ms`, or sooner when woken. */
  waitForMore(ms: number): Promise<void> {
    return wakeableDelay(this.#wake, ms);
  }

  /** Failed as a whole: the next association waits, twice as long each time up to `maxMs`. */
  backOff(firstMs: number, maxMs: number): void {
    this.failures++;
    this.backoffMs = this.backoffMs === 0 ? firstMs : Math.min(maxMs, this.backoffMs * 2);
    this.retryAt = Date.now() + this.backoffMs;
  }

  /** One warn line when it starts failing (and when an object is given up), not one per error. */
  noteError(error: string, gaveUp: boolean): void {
    this.lastError = error;
    this.lastErrorAt = Date.now();
    if (!this.failing) {
      this.failing = true;
      this.#logger.log("warn", `forwarding to ${this.name} is failing: ${error}`, {
        retry_in_s: Math.round(Math.max(0, this.retryAt - Date.now()) / 1000),
      });
    } else if (gaveUp) {
      this.#logger.log("warn", `forwarding to ${this.name} gave up on an object: ${error}`);
    }
  }

  /** An object got through: no backoff, and one info line if it was failing. */
  recovered(): void {
    this.backoffMs = 0;
    this.retryAt = 0;
    if (!this.failing) return;
    this.failing = false;
    this.#logger.log("info", `forwarding to ${this.name} recovered`, { sent: this.sent });
  }
}
