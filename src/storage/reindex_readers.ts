// The reader threads of reindex (reindex_reader_worker.ts): batches of home files go to them
// in turn and come back read, while the reindex thread writes rows. A reader thread that cannot
// start or dies does not fail the reindex: its batches, and all later ones, are read on the
// calling thread instead (the same code, so the same results), after one warning.
import type {
  HomeFileResult,
  ReindexReadReply,
  ReindexReadRequest,
} from "./reindex_reader_worker.ts";
import { readHomeFiles } from "./reindex_reader_worker.ts";

const WORKER_URL = new URL("./reindex_reader_worker.ts", import.meta.url);

interface Waiter {
  paths: string[];
  resolve(results: HomeFileResult[] | Promise<HomeFileResult[]>): void;
}

export class ReindexReaders {
  readonly #workers: Worker[] = [];
  readonly #waiting = new Map<number, Waiter>();
  readonly #onFailure: (message: string) => void;
  #nextId = 1;
  #turn = 0;
  #failed = false;

  /**
   * Starts `threads` reader threads (0: read on the calling thread); `onFailure` is told once
   * when they fail and reading moves to the calling thread. `url` is the worker module.
   */
  constructor(threads: number, onFailure: (message: string) => void, url: URL = WORKER_URL) {
    this.#onFailure = onFailure;
    try {
      for (let i = 0; i < threads; i++) {
        const worker = new Worker(url, { type: "module" });
        worker.onmessage = (event: MessageEvent<ReindexReadReply>) => {
          const waiter = this.#waiting.get(event.data.id);
          if (!waiter) return;
          this.#waiting.delete(event.data.id);
          waiter.resolve(event.data.results);
        };
        worker.onerror = (event) => {
          event.preventDefault();
          this.#fail(String(event.message).split("\n")[0].trim());
        };
        this.#workers.push(worker);
      }
    } catch (e) {
      this.#fail(e instanceof Error ? e.message : String(e));
    }
  }

  /** True once reading has moved to the calling thread. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Reads every file of `paths` (absolute); one result per path, in order. Never rejects. */
  read(paths: string[]): Promise<HomeFileResult[]> {
    if (this.#failed || this.#workers.length === 0) return readHomeFiles(paths);
    const id = this.#nextId++;
    const worker = this.#workers[this.#turn++ % this.#workers.length];
    return new Promise((resolve) => {
      this.#waiting.set(id, { paths, resolve });
      worker.postMessage({ id, paths } satisfies ReindexReadRequest);
    });
  }

  /** The threads are stopped; what they held is read here. */
  #fail(message: string): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#stop();
    this.#onFailure(`reader thread failed (${message}); reading on the reindex thread`);
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.resolve(readHomeFiles(w.paths));
  }

  #stop(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers.length = 0;
  }

  /** Stops the threads; call once no read is awaited. */
  close(): void {
    this.#stop();
    this.#waiting.clear();
  }
}
