// Decodes compressed objects for retrieves on worker threads: the codecs take a core of their
// own, and the thread that runs every association goes on sending while the next image is
// decoded. Workers start on the first decode (a handful at most) and stop after a while with
// nothing to do: each is a JavaScript engine of its own, 10-20 MB with the codecs loaded. The
// materializer's compression at rest runs there too, off the thread that answers stores.
// Decoded results come back in buffers that go round: once a result is sent (release()), its
// buffer goes with a later decode to be written again, so that no decode allocates or clears
// a new one. They are let go after a few idle seconds.
import type { CompressionResult } from "../core/dicom/compression.ts";
import type { ObjectDecoder } from "../core/ports.ts";
import type { DecodeReply, DecodeRequest } from "./decode_worker.ts";

interface Job {
  resolve(v: DecodeReply): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
  /** Stops the worker once it has been idle for idleMs. */
  idleTimer?: ReturnType<typeof setTimeout>;
}

/** A worker with nothing to do stops after this long (ms). */
export const WORKER_IDLE_MS = 30_000;
/** Spare buffers kept: enough for the decodes under way on a few associations. */
const MAX_SPARES = 6;
/** A larger result's buffer is not kept. */
const MAX_SPARE_BYTES = 8 * 1024 * 1024;
/** Spare buffers are let go when no decode asked for one for this long. */
const SPARES_IDLE_MS = 5000;

export class DecodeWorkers implements ObjectDecoder {
  readonly #size: number;
  readonly #idleMs: number;
  readonly #slots: Slot[] = [];
  #nextId = 1;
  #closed = false;
  /** Buffers of released results, for the next decodes. */
  readonly #spares: ArrayBuffer[] = [];
  #lastDecode = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  /** `size` workers at most: by default one per core, up to four. */
  constructor(
    size = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)),
    idleMs = WORKER_IDLE_MS,
  ) {
    this.#size = size;
    this.#idleMs = idleMs;
  }

  /** Worker threads running now. */
  get threads(): number {
    return this.#slots.length;
  }

  async decode(
    dataset: Uint8Array,
    from: string,
    to: string,
    limit: number,
  ): Promise<Uint8Array | null> {
    this.#lastDecode = Date.now();
    const spare = this.#spares.pop();
    return (await this.#run({ dataset, from, to, limit, spare })).result ?? null;
  }

  release(result: Uint8Array): void {
    this.#keep(result.buffer as ArrayBuffer);
  }

  #keep(buffer: ArrayBuffer | undefined): void {
    if (!buffer || buffer.detached || this.#spares.length >= MAX_SPARES) return;
    if (buffer.byteLength > MAX_SPARE_BYTES || this.#spares.includes(buffer)) return;
    this.#spares.push(buffer);
    this.#watchIdle();
  }

  #watchIdle(): void {
    if (this.#idleTimer !== undefined || this.#closed) return;
    const wait = Math.max(0, this.#lastDecode + SPARES_IDLE_MS - Date.now());
    const timer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (Date.now() - this.#lastDecode >= SPARES_IDLE_MS) this.#spares.length = 0;
      else this.#watchIdle();
    }, wait + 100);
    Deno.unrefTimer(timer);
    this.#idleTimer = timer;
  }

  /** compressDataset() on a worker thread. */
  async compress(dataset: Uint8Array, from: string, to: string): Promise<CompressionResult> {
    const reply = await this.#run({ dataset, from, to, limit: 0, compress: true });
    return reply.compression ?? { compressed: false, reason: "no answer from the worker" };
  }

  #run(job: Omit<DecodeRequest, "id">): Promise<DecodeReply> {
    if (this.#closed) return Promise.reject(new Error("decoder closed"));
    const slot = this.#pick();
    const id = this.#nextId++;
    const bytes = job.dataset.slice(); // its own buffer, handed over whole
    const request: DecodeRequest = { ...job, id, dataset: bytes };
    clearTimeout(slot.idleTimer);
    const transfer = job.spare ? [bytes.buffer, job.spare] : [bytes.buffer];
    return new Promise((resolve, reject) => {
      slot.jobs.set(id, { resolve, reject });
      slot.worker.postMessage(request, transfer);
    });
  }

  /** Stops the workers; decodes still running fail. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#spares.length = 0;
    for (const slot of this.#slots.splice(0)) {
      clearTimeout(slot.idleTimer);
      slot.worker.terminate();
      for (const job of slot.jobs.values()) job.reject(new Error("decoder closed"));
    }
  }

  /** The least busy worker, a new one while there are fewer than `size`. */
  #pick(): Slot {
    const idle = this.#slots.find((s) => s.jobs.size === 0);
    if (idle) return idle;
    if (this.#slots.length < this.#size) return this.#start();
    return this.#slots.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
  }

  #start(): Slot {
    const worker = new Worker(new URL("./decode_worker.ts", import.meta.url), { type: "module" });
    const slot: Slot = { worker, jobs: new Map() };
    worker.onmessage = (e: MessageEvent<DecodeReply>) => {
      const job = slot.jobs.get(e.data.id);
      if (!job) return;
      slot.jobs.delete(e.data.id);
      if (slot.jobs.size === 0) this.#stopWhenIdle(slot);
      this.#keep(e.data.spare);
      if (e.data.error !== undefined) job.reject(new Error(e.data.error));
      else job.resolve(e.data);
    };
    worker.onerror = (e) => {
      // A worker that died takes its jobs with it; the next decode starts another.
      e.preventDefault();
      clearTimeout(slot.idleTimer);
      this.#slots.splice(this.#slots.indexOf(slot), 1);
      worker.terminate();
      for (const job of slot.jobs.values()) {
        job.reject(new Error(`decoder worker failed: ${e.message}`));
      }
    };
    this.#slots.push(slot);
    return slot;
  }

  /** Stops the worker once idle for idleMs (a job sent to it meanwhile clears the timer). */
  #stopWhenIdle(slot: Slot): void {
    clearTimeout(slot.idleTimer);
    slot.idleTimer = setTimeout(() => {
      const at = this.#slots.indexOf(slot);
      if (at < 0 || slot.jobs.size > 0) return;
      this.#slots.splice(at, 1);
      slot.worker.terminate();
    }, this.#idleMs);
    Deno.unrefTimer(slot.idleTimer);
  }
}
