// The idle timer of an association: silence for the whole idle timeout ends it. A request
// that is running (a C-MOVE's sub-operations, a slow disk) is not silence; a peer that stops
// in the middle of the dataset it is sending is.

export interface IdleWatchHooks {
  /** True once the association is closed: the watch does nothing more. */
  closed(): boolean;
  /** True while a request is being handled. */
  busy(): boolean;
  /** True while the dataset of the request being handled is still arriving. */
  receivingDataset(): boolean;
  /** The peer sent nothing for `silentMs` in the middle of a dataset. */
  stalled(silentMs: number): void;
  /** Nothing ran and nothing arrived for the whole timeout. */
  idle(): void;
}

export class IdleWatch {
  readonly #timeoutMs: number;
  readonly #hooks: IdleWatchHooks;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When reset() last ran: the timer, armed once, looks at it when it fires. */
  #lastReset = 0;
  /** When the read loop began waiting for the peer's next bytes (null while not waiting). */
  #readingSince: number | null = null;

  /** `timeoutMs` <= 0: never idle. */
  constructor(timeoutMs: number, hooks: IdleWatchHooks) {
    this.#timeoutMs = timeoutMs;
    this.#hooks = hooks;
  }

  /**
   * Something arrived: the timeout starts again. Called for every chunk read, so it only
   * notes the time; a timer already armed finds the later start when it fires and waits on.
   */
  reset(): void {
    if (this.#hooks.closed() || this.#timeoutMs <= 0) return this.stop();
    this.#lastReset = performance.now();
    if (this.#timer === undefined) this.#arm(this.#timeoutMs);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const quiet = performance.now() - this.#lastReset;
      if (quiet < this.#timeoutMs) this.#arm(this.#timeoutMs - quiet);
      else this.#expired();
    }, ms);
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The read loop waits for the peer from now on. */
  reading(): void {
    this.#readingSince = performance.now();
  }

  /** The read loop got bytes (or the end). */
  read(): void {
    this.#readingSince = null;
  }

  #expired(): void {
    if (this.#hooks.closed()) return;
    const limit = this.#timeoutMs;
    if (this.#hooks.busy()) {
      const since = this.#hooks.receivingDataset() ? this.#readingSince : null;
      if (since === null) return this.reset();
      const silent = performance.now() - since;
      if (silent < limit) {
        // Checked again once the dataset has been silent for the whole timeout.
        this.#lastReset = performance.now() - silent;
        return this.#arm(limit - silent);
      }
      this.#hooks.stalled(silent);
      return;
    }
    this.#hooks.idle();
  }
}
