// Start step "open storage": the storage lock, the audit trail, the decode workers, the object
// store and the forward queue that is filled in the transaction indexing each object.
import type { Config } from "../config.ts";
import type { Logger } from "../core/ports.ts";
import { JPEG_2000_LOSSLESS, JPEG_LS_LOSSLESS, RLE_LOSSLESS } from "../core/codecs/registry.ts";
import { lockStorage } from "../storage/lock.ts";
import { FsObjectStore } from "../storage/object_store.ts";
import { ForwardQueue } from "../storage/forward_queue.ts";
import type { AuditLog } from "../storage/audit_log.ts";
import { openAuditTrail } from "./audit.ts";
import { DecodeWorkers } from "./decode_workers.ts";

const MB = 1024 * 1024;

export interface OpenStorage {
  store: FsObjectStore;
  /** The audit trail; null when `[audit] path` is empty. */
  audit: AuditLog | null;
  /** Decodes for retrieves and compresses at rest, on worker threads. */
  decoder: DecodeWorkers;
  /** Objects matching a [[route]], queued in the transaction that indexes them. */
  forwardQueue: ForwardQueue;
  /** Closes the store (compressing what waits in the journal), the workers and the lock. */
  close(): Promise<void>;
  /** Closes the audit trail: last, so that the stop can still be recorded. */
  closeAudit(): Promise<void>;
}

export interface OpenStorageHooks {
  /** The [[route]] list as of the latest reload. */
  routes(): Config["routes"];
  /** Called when an object was queued for `destination`. */
  queued(destination: string): void;
}

/** Opens everything under `[storage] path`; on failure releases what it took. */
export async function openStorage(
  config: Config,
  logger: Logger,
  hooks: OpenStorageHooks,
): Promise<OpenStorage> {
  // One process per storage folder: a second server (or a reindex) is refused here.
  const lock = await lockStorage(config.storage.path);
  const forwardQueue = new ForwardQueue(() => hooks.routes(), (d) => hooks.queued(d));
  const decoder = new DecodeWorkers();
  let audit: AuditLog | null = null;
  let store: FsObjectStore;
  try {
    audit = await openAuditTrail(config, logger);
    const st = config.storage;
    store = await FsObjectStore.open({
      root: st.path,
      durability: st.durability,
      duplicates: st.duplicates,
      implementationClassUid: config.server.implementationClassUid,
      implementationVersionName: config.server.implementationVersionName,
      logger,
      journalReserveBytes: st.journalReserveMb * MB,
      minFreeBytes: st.minFreeMb * MB,
      onIndexOpen: (index) => forwardQueue.attach(index),
      compressTo: compressionSyntax(st.compression),
      compressor: (dataset, from, to) => decoder.compress(dataset, from, to),
    });
  } catch (e) {
    await audit?.close();
    decoder.close();
    lock.release();
    throw e;
  }
  const opened = store;
  const trail = audit;
  return {
    store: opened,
    audit: trail,
    decoder,
    forwardQueue,
    async close() {
      try {
        await opened.close(); // compresses what waits in the journal, on the workers
      } finally {
        decoder.close();
        lock.release();
      }
    },
    async closeAudit() {
      await trail?.close();
    },
  };
}

/** The transfer syntax of `[storage] compression` (PS3.5 A.4.2-A.4.4); undefined for "none". */
export function compressionSyntax(name: Config["storage"]["compression"]): string | undefined {
  if (name === "jpeg-ls") return JPEG_LS_LOSSLESS;
  if (name === "jpeg2000") return JPEG_2000_LOSSLESS;
  if (name === "rle") return RLE_LOSSLESS;
  return undefined;
}
