// Gives memory back once the server has gone quiet after some work: what a large C-FIND answer
// or a page of studies left behind (garbage in the JavaScript heap, free pages of the C heap
// that glibc keeps) stays resident otherwise, in an idle server that a sysadmin sees holding it.
// The work is counted where it comes in (DIMSE operations, associations coming and going, HTTP
// requests); an association left open and quiet is not work. The release steps run
// RELEASE_AFTER_MS after the last of it ended, with nothing under way, and once more a while
// later: by then Deno's I/O threads have ended and V8 has shrunk its heap on its own, which
// frees more C heap. They do not run again before more work came: an idle server costs nothing.
import type { Logger } from "../core/ports.ts";

/** Quiet this long after the last work (ms) before each pass of the release runs. */
export const RELEASE_AFTER_MS: readonly number[] = [5000, 15_000];

/** One thing the release does; returns what it gave back, for the debug log. */
export type ReleaseStep = () => string | void;

export interface IdleReleaseOptions {
  steps: ReleaseStep[];
  /** Quiet (ms) before each pass, ascending (default RELEASE_AFTER_MS). */
  afterMs?: readonly number[];
  logger?: Logger;
}

export class IdleRelease {
  readonly #steps: ReleaseStep[];
  readonly #afterMs: readonly number[];
  readonly #logger: Logger | undefined;
  /** Work under way (begun, not yet ended). */
  #busy = 0;
  /** The next pass to run since the last work; afterMs.length: none is due. */
  #pass: number;
  /** performance.now() when the last work ended. */
  #lastEnd = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Passes run so far. */
  #runs = 0;

  constructor(o: IdleReleaseOptions) {
    this.#steps = o.steps;
    this.#afterMs = o.afterMs ?? RELEASE_AFTER_MS;
    this.#pass = this.#afterMs.length;
    this.#logger = o.logger;
  }

  /** Passes of the release run so far. */
  get runs(): number {
    return this.#runs;
  }

  /** Some work starts; call the returned function once it ended (a second call is ignored). */
  begin(): () => void {
    this.#busy++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#busy--;
      this.touch();
    };
  }

  /** Some short work just ended (a request answered). */
  touch(): void {
    if (this.#closed) return;
    this.#pass = 0;
    this.#lastEnd = performance.now();
    this.#arm(this.#afterMs[0]);
  }

  /** Stops the timer; no release runs after this. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    if (this.#timer !== undefined) return;
    const timer = setTimeout(() => {
      this.#timer = undefined;
      this.#check();
    }, ms);
    // Never what keeps the process alive.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #check(): void {
    // While work is under way, the end of it arms the timer again.
    if (this.#closed || this.#pass >= this.#afterMs.length || this.#busy > 0) return;
    const quiet = performance.now() - this.#lastEnd;
    const due = this.#afterMs[this.#pass];
    if (quiet < due) {
      this.#arm(due - quiet);
      return;
    }
    this.#pass++;
    this.#run();
    if (this.#pass < this.#afterMs.length) this.#arm(this.#afterMs[this.#pass] - quiet);
  }

  #run(): void {
    this.#runs++;
    const done: string[] = [];
    for (const step of this.#steps) {
      try {
        const what = step();
        if (what) done.push(what);
      } catch (e) {
        this.#logger?.log("debug", `idle release: ${(e as Error).message}`);
      }
    }
    this.#logger?.log("debug", `idle release: ${done.length ? done.join(", ") : "nothing to do"}`);
  }
}
