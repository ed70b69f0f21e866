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
  /** When the read loop began waiting for the peer's next bytes (null while not waiting). */
  #readingSince: number | null = null;

  /** `timeoutMs` <= 0: never idle. */
  constructor(timeoutMs: number, hooks: IdleWatchHooks) {
    this.#timeoutMs = timeoutMs;
    this.#hooks = hooks;
  }

  /** Something arrived: the timeout starts again. */
  reset(): void {
    this.stop();
    if (this.#hooks.closed() || this.#timeoutMs <= 0) return;
    this.#timer = setTimeout(() => this.#expired(), this.#timeoutMs);
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
    this.#timer = undefined;
    if (this.#hooks.closed()) return;
    const limit = this.#timeoutMs;
    if (this.#hooks.busy()) {
      const since = this.#hooks.receivingDataset() ? this.#readingSince : null;
      if (since === null) return this.reset();
      const silent = performance.now() - since;
      if (silent < limit) {
        this.#timer = setTimeout(() => this.#expired(), limit - silent);
        return;
      }
      this.#hooks.stalled(silent);
      return;
    }
    this.#hooks.idle();
  }
}
