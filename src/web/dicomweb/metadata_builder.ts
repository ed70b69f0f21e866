// Each instance's metadata computed ahead of the first request: after the index changes and
// the server has been quiet for a moment (or after a while of steady ingest), the materialized
// instances whose kept metadata is missing or stale are read and their DICOM JSON kept. This
// also covers the objects stored before the metadata was kept, and everything after a reindex.
// It shares the thread that takes stores: while stores keep arriving it takes at most a set
// share of that thread, in small steps, so that ingest never stalls behind a whole pass.
import type { Logger } from "../../core/ports.ts";
import type { DicomWebIndex, MissingMetadata } from "../../storage/dicomweb_db.ts";
import type { InstanceMetadata, InstanceMetadataStore } from "../../storage/instance_metadata.ts";
import { instanceJson, type ObjectSource, readHeader, UnreadableObject } from "./instances.ts";

/** The DICOM JSON of one stored instance, with the seq it was read at; null when gone. */
export async function computeMetadata(
  objects: ObjectSource,
  ids: { studyInstanceUid: string; seriesInstanceUid: string; sopInstanceUid: string },
): Promise<InstanceMetadata | null> {
  const read = await readHeader(objects, ids.sopInstanceUid);
  if (!read) return null;
  const json = instanceJson(read.header, {
    study: ids.studyInstanceUid,
    series: ids.seriesInstanceUid,
    instance: ids.sopInstanceUid,
  });
  return { sopInstanceUid: ids.sopInstanceUid, seq: read.seq, json };
}

export interface MetadataBuilderOptions {
  /** Its own reader: closed with the builder. */
  index: DicomWebIndex;
  store: InstanceMetadataStore;
  objects: ObjectSource;
  logger: Logger;
  /** How often the index is looked at (ms). */
  pollMs?: number;
  /** Quiet time after a change before building (ms). */
  quietMs?: number;
  /** Built anyway after this long of steady change (ms). */
  maxWaitMs?: number;
  /**
   * The share of the thread's time a pass may take while the index keeps changing (stores
   * arriving): after each step it waits so long that its work is at most this share.
   */
  busyShare?: number;
}

/** Instances looked at per step of the walk by seq, and instances read at once. */
const SEQ_SPAN = 2000;
const CONCURRENCY = 8;
/** The longest pause after a step while stores arrive (ms). */
const MAX_PAUSE_MS = 250;

export class MetadataBuilder {
  readonly #o: Required<MetadataBuilderOptions>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #version = -1;
  /** When a change was first seen that is not yet built (0: none). */
  #dirtySince = 0;
  #lastChange = 0;
  #running: Promise<unknown> | undefined;
  #closed = false;
  /** Every instance with a seq up to this one has its metadata kept (or cannot be read). */
  #builtThrough = 0;
  /** Objects that could not be read, by the seq they had: not tried again. */
  #unreadable = new Map<string, number>();

  constructor(options: MetadataBuilderOptions) {
    this.#o = { pollMs: 500, quietMs: 1000, maxWaitMs: 10_000, busyShare: 0.2, ...options };
    this.#builtThrough = this.#o.store.builtThrough();
    this.#dirtySince = Date.now(); // at start: whatever was stored before
    this.#lastChange = 0;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => this.#tick(), this.#o.pollMs);
  }

  #tick(): void {
    this.#timer = undefined;
    try {
      const now = Date.now();
      const version = this.#o.index.dataVersion();
      if (version !== this.#version) {
        this.#version = version;
        this.#lastChange = now;
        if (this.#dirtySince === 0) this.#dirtySince = now;
      }
      const quiet = now - this.#lastChange >= this.#o.quietMs;
      const overdue = now - this.#dirtySince >= this.#o.maxWaitMs;
      if (this.#dirtySince !== 0 && (quiet || overdue)) {
        this.#dirtySince = 0;
        const started = Date.now();
        this.#running = this.buildAll().then((n) => {
          if (n === 0) return;
          this.#o.logger.log("info", "DICOMweb metadata kept", {
            instances: n,
            ms: Date.now() - started,
          });
        }, (e) => {
          this.#dirtySince ||= Date.now(); // tried again later
          this.#o.logger.log("warn", "DICOMweb metadata not built", { error: String(e) });
        }).finally(() => {
          this.#running = undefined;
          this.#schedule();
        });
        return;
      }
    } catch (e) {
      this.#o.logger.log("warn", "DICOMweb metadata builder", { error: String(e) });
    }
    this.#schedule();
  }

  /**
   * Computes and keeps the metadata of every materialized instance lacking it; the count.
   * A seq is only ever given to a new copy, so a pass that left nothing behind lets the
   * next one look only at seqs above the highest it saw, walking the index by seq.
   */
  async buildAll(): Promise<number> {
    let built = 0;
    const top = this.#o.index.maxSeq();
    // Nothing committed since the last complete pass: no need to walk a million rows.
    if (top <= this.#builtThrough) return 0;
    let done = top;
    let version = this.#o.index.dataVersion();
    for (let after = this.#builtThrough; !this.#closed && after < top;) {
      const { rows, last } = this.#o.index.missingMetadata(after, SEQ_SPAN);
      if (last <= after) break;
      const ready = rows.filter((r) => !r.journal && r.seq <= top);
      for (const r of rows) if (r.journal) done = Math.min(done, r.seq - 1);
      for (let at = 0; at < ready.length && !this.#closed; at += CONCURRENCY) {
        const started = performance.now();
        const batch = ready.slice(at, at + CONCURRENCY);
        const results = await Promise.all(batch.map((row) => this.#one(row)));
        const kept = results.filter((d): d is InstanceMetadata => d !== null);
        if (!this.#closed) this.#o.store.putAll(kept);
        built += kept.length;
        // Gone meanwhile is fine; replaced meanwhile has a seq above `top`.
        const now = this.#o.index.dataVersion();
        const storesArriving = now !== version;
        version = now;
        await this.#pause(storesArriving ? performance.now() - started : 0);
      }
      after = last;
      await this.#pause(0); // let requests in between steps
    }
    if (!this.#closed && done > this.#builtThrough) {
      this.#builtThrough = done;
      this.#o.store.setBuiltThrough(done); // the next start looks only above it
    }
    return built;
  }

  /**
   * Yields to the stores and requests waiting; after `busyMs` of work while stores arrive,
   * long enough that the pass keeps to its share of the thread.
   */
  #pause(busyMs: number): Promise<void> {
    const share = this.#o.busyShare;
    const ms = busyMs > 0 && share > 0 && share < 1
      ? Math.min(MAX_PAUSE_MS, busyMs * (1 - share) / share)
      : 0;
    return new Promise((r) => setTimeout(r, ms));
  }

  async #one(row: MissingMetadata): Promise<InstanceMetadata | null> {
    if (this.#unreadable.get(row.sopInstanceUid) === row.seq) return null;
    try {
      const m = await computeMetadata(this.#o.objects, row);
      return m && m.seq === row.seq ? m : null; // replaced meanwhile: the next round builds it
    } catch (e) {
      if (!(e instanceof UnreadableObject)) throw e;
      this.#unreadable.set(row.sopInstanceUid, row.seq); // reported once
      this.#o.logger.log("warn", "stored object unreadable for metadata", {
        instance: row.sopInstanceUid,
        error: e.message,
      });
      return null;
    }
  }

  /** Stops; closes the index given once a build under way has ended. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
    this.#o.index.close();
  }
}
