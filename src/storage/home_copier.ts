// Hands the materializer's copies to a worker thread (home_copy_worker.ts): started at the first
// batch, stopped after a while with nothing to do, so an idle server keeps no second engine.
// A worker that cannot be started or dies leaves the copying to the caller's own thread.
import type { HomeCopyJob, HomeCopyReply, HomeCopyRequest } from "./home_copy_worker.ts";

/** The worker stops after this long without a batch (ms). */
export const COPIER_IDLE_MS = 10_000;

export class HomeCopier {
  #worker: Worker | undefined;
  #broken = false;
  #nextId = 1;
  readonly #waiting = new Map<
    number,
    { resolve(missing: number[]): void; reject(e: Error): void }
  >();
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #idleMs: number;

  constructor(idleMs = COPIER_IDLE_MS) {
    this.#idleMs = idleMs;
  }

  /** False once the worker failed: the caller copies on its own thread from then on. */
  get usable(): boolean {
    return !this.#broken;
  }

  /** True while a worker thread is running. */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /**
   * Writes every job's temp file (synced when `durable`); resolves to the jobs skipped because
   * their segment is gone. Rejects with the first failure, its `code` kept (ENOSPC), having
   * removed the temp files of the batch.
   */
  copy(jobs: HomeCopyJob[], durable: boolean): Promise<number[]> {
    const worker = this.#start();
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const id = this.#nextId++;
    return new Promise<number[]>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage({ id, jobs, durable } satisfies HomeCopyRequest);
    }).finally(() => this.#armIdle());
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL("./home_copy_worker.ts", import.meta.url), {
      type: "module",
    });
    worker.onmessage = (event: MessageEvent<HomeCopyReply>) => {
      const { id, error, missing } = event.data;
      const waiter = this.#waiting.get(id);
      if (!waiter) return;
      this.#waiting.delete(id);
      if (!error) return waiter.resolve(missing ?? []);
      const e = new Error(error.message) as Error & { code?: string };
      if (error.code) e.code = error.code;
      waiter.reject(e);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(new Error(`home copy thread failed: ${event.message}`));
    };
    this.#worker = worker;
    return worker;
  }

  /** The worker died: what it held fails (the batch is tried again), later copies stay here. */
  #fail(e: Error): void {
    this.#broken = true;
    this.#stop();
    for (const w of this.#waiting.values()) w.reject(e);
    this.#waiting.clear();
  }

  #armIdle(): void {
    if (this.#waiting.size > 0 || !this.#worker) return;
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#waiting.size === 0) this.#stop();
    }, this.#idleMs);
  }

  #stop(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#worker?.terminate();
    this.#worker = undefined;
  }

  /** Stops the worker; call once no copy is under way. */
  close(): void {
    this.#stop();
    for (const w of this.#waiting.values()) w.reject(new Error("home copier closed"));
    this.#waiting.clear();
  }
}
