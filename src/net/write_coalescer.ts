// Small writes joined into one, for sockets whose Nagle's algorithm cannot be turned off (Deno's
// own TLS). With Nagle on, a small segment waits until the previous small one is acknowledged,
// and a DICOM peer that is only reading acknowledges late (delayed ACK, about 40 ms): a C-FIND
// that writes several pending responses in a row then takes about 40 ms more per response.
// Small writes are therefore copied and sent together once the current task is over (or with
// the next large write): one segment per burst of responses.
import { setImmediate } from "node:timers";
import { concatBytes } from "../core/dicom/bytes.ts";

/** At or above this size a write goes out at once (with whatever small ones wait). */
const SMALL = 64 * 1024;

export class WriteCoalescer {
  #writeAll: (bytes: Uint8Array) => Promise<void>;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** The write under way (a flush or a large write): the next one waits for it. */
  #busy: Promise<void> = Promise.resolve();
  #scheduled = false;
  /** A flush that failed: the next write (or close) reports it. */
  #error: Error | null = null;

  constructor(writeAll: (bytes: Uint8Array) => Promise<void>) {
    this.#writeAll = writeAll;
  }

  /**
   * Small writes resolve once copied (a failure then shows at the next write); a large one
   * resolves once it and the small ones before it are written.
   */
  write(bytes: Uint8Array): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    if (bytes.length >= SMALL) {
      // Taken now, with the small ones before it: later ones must not go first.
      const out = this.#take(bytes);
      return this.#chain(() => out);
    }
    this.#pending.push(bytes.slice());
    this.#pendingBytes += bytes.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        if (this.#pending.length) this.flush().catch(() => {});
      });
    }
    // Bounded: past SMALL waiting bytes the caller waits for them to go.
    return this.#pendingBytes >= SMALL ? this.flush() : Promise.resolve();
  }

  /** Writes what waits then (after any write under way); resolves once it is written. */
  flush(): Promise<void> {
    return this.#chain(() => this.#take());
  }

  #take(large?: Uint8Array): Uint8Array {
    const parts = large ? [...this.#pending, large] : this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    return concatBytes(parts);
  }

  #chain(next: () => Uint8Array): Promise<void> {
    const run = this.#busy.then(() => {
      if (this.#error) throw this.#error;
      const bytes = next();
      return bytes.length ? this.#writeAll(bytes) : undefined;
    }).catch((e: Error) => {
      this.#error ??= e;
      throw e;
    });
    this.#busy = run.catch(() => {});
    return run;
  }
}
