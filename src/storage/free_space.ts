// Free space for the min_free_mb check each C-STORE makes. Deno's statfs runs on the main thread
// (about 0.2 ms, and a profile of one association's stores found 14% of the busy time there), so
// the volume is asked at most once per MAX_AGE_MS; in between, every byte the journal was given
// since is taken off the last answer, so the figure only errs on the side of less room.

/** How long one statfs answer is used. */
export const MAX_AGE_MS = 1000;

export class FreeSpaceGauge {
  readonly #read: () => Promise<number>;
  readonly #maxAgeMs: number;
  #last: { at: number; bytes: number } | undefined;
  #pending: Promise<number> | undefined;
  #writtenSince = 0;

  constructor(read: () => Promise<number>, maxAgeMs = MAX_AGE_MS) {
    this.#read = read;
    this.#maxAgeMs = maxAgeMs;
  }

  /** Bytes were written to the volume (journal data). */
  noteWritten(bytes: number): void {
    this.#writtenSince += bytes;
  }

  /**
   * Free bytes: the last answer minus what was written since, or a new answer when it is old
   * or `fresh` is asked for (retention, which deletes until there is room, must see it come).
   */
  async bytes(fresh = false, now = performance.now()): Promise<number> {
    const last = this.#last;
    if (!fresh && last && now - last.at < this.#maxAgeMs) return last.bytes - this.#writtenSince;
    // Callers at the same moment share one statfs.
    this.#pending ??= (async () => {
      try {
        const written = this.#writtenSince;
        const bytes = await this.#read();
        this.#last = { at: performance.now(), bytes };
        this.#writtenSince -= written;
        return bytes;
      } finally {
        this.#pending = undefined;
      }
    })();
    const bytes = await this.#pending;
    return bytes - this.#writtenSince;
  }
}
