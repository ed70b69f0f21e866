// Forwarding gives way to incoming stores. Both share one process and, on a small machine, the
// same cores: an object forwarded while stores arrive slows every acknowledgement. So while
// objects keep being queued (less than quietMs apart) the sender holds back, as long as
// what waits could still be sent within drainBudgetMs at the rate it last sent, and no waiting
// object is older than maxLagMs; then it sends just enough to stay within those bounds. Once
// stores pause it sends everything. The queue is durable either way: holding back only delays.

export interface PacingOptions {
  /** Stores this far apart or more count as a pause (default 50 ms). */
  quietMs?: number;
  /** The backlog is kept to about this much sending time (default 1 s). */
  drainBudgetMs?: number;
  /** No object waits longer than this for stores to pause (default 3 s). */
  maxLagMs?: number;
}

/**
 * Sends remembered for the rate: the lower quartile of them is the estimate. Sends made while
 * stores arrive take longer than they would alone (the receive path runs in between): the
 * quicker recent ones are the nearest to what sending the backlog will cost once stores pause,
 * and the quartile rather than the quickest keeps one lucky send from promising too much.
 */
const WINDOW = 16;

export class ForwardPacing {
  readonly #quietMs: number;
  readonly #budgetMs: number;
  readonly #maxLagMs: number;
  /** performance.now() of the last object queued. */
  #lastQueued = -Infinity;
  /** Milliseconds each of the last WINDOW objects took to send. */
  readonly #recent: number[] = [];
  /** Their lower quartile; undefined until one was sent. */
  #sendMs: number | undefined;
  /** performance.now() since which the object being sent has been sent (or its loop ran). */
  #started: number | undefined;
  /** Objects waiting, counted from the queue when a hold began, then kept up to date. */
  #backlog: number | undefined;
  readonly #wake = new Set<() => void>();

  constructor(options: PacingOptions = {}) {
    this.#quietMs = options.quietMs ?? 50;
    this.#budgetMs = options.drainBudgetMs ?? 1000;
    this.#maxLagMs = options.maxLagMs ?? 3000;
  }

  /** An object was queued: a store is arriving. */
  queued(): void {
    this.#lastQueued = performance.now();
    if (this.#backlog === undefined) return;
    this.#backlog++;
    // A hold ends early only when the backlog reached the budget; the rest is timed.
    if (!this.#overBudget()) return;
    for (const w of [...this.#wake]) w();
  }

  /**
   * The object let go by the last giveWay() left the queue, `delivered` or not: the time
   * since then (sending and booking it) counts toward the rate when it was delivered.
   */
  sent(delivered: boolean): void {
    if (this.#backlog !== undefined) this.#backlog = Math.max(0, this.#backlog - 1);
    const now = performance.now();
    if (delivered && this.#started !== undefined) {
      this.#recent.push(now - this.#started);
      if (this.#recent.length > WINDOW) this.#recent.shift();
      const sorted = [...this.#recent].sort((a, b) => a - b);
      this.#sendMs = sorted[Math.floor((sorted.length - 1) / 4)];
    }
    // The next object's time runs from here, unless it is held back first.
    this.#started = now;
  }

  /** Ends every hold at once (the sender stops). */
  release(): void {
    for (const w of [...this.#wake]) w();
  }

  /**
   * Resolves when the object queued at `queuedAt` (ms since 1970) should go: stores paused,
   * the backlog reached the budget, or the object waited maxLagMs. `waiting` counts the
   * destination's queue; `stopped` ends the hold.
   */
  async giveWay(queuedAt: number, waiting: () => number, stopped: () => boolean): Promise<void> {
    // Bounded: each pass waits for a wake or a timer that moves one of the bounds closer.
    let held = false;
    for (let pass = 0; pass < 1_000_000; pass++) {
      const quietFor = performance.now() - this.#lastQueued;
      const lagLeft = queuedAt + this.#maxLagMs - Date.now();
      if (stopped() || quietFor >= this.#quietMs || lagLeft <= 0 || this.#sendMs === undefined) {
        if (quietFor >= this.#quietMs) this.#backlog = undefined;
        break;
      }
      this.#backlog ??= waiting();
      if (this.#overBudget()) break;
      await wakeableDelay(this.#wake, Math.max(1, Math.min(this.#quietMs - quietFor, lagLeft)));
      held = true;
    }
    if (held) {
      this.#started = performance.now();
    }
  }

  #overBudget(): boolean {
    return (this.#backlog ?? 0) * (this.#sendMs ?? 0) >= this.#budgetMs;
  }
}

/** Resolves after `ms`, or sooner when one of `wake` is called (each waiter adds itself). */
export function wakeableDelay(wake: Set<() => void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      wake.delete(done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    wake.add(done);
  });
}
