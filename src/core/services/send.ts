// C-STORE to a known AE over a new association of ours (PS3.4 B.2, PS3.7 9.1.1): the sender
// behind C-MOVE's sub-operations (move.ts) and behind "send this study" (the API, the command
// line). One association per send; the instances go one by one through StoreScu.
import type { Connector, Logger, ObjectDecoder, ObjectReader } from "../ports.ts";
import { AssociationRejectedError, RequestorAssociation } from "../ul/requestor.ts";
import type { RetrieveSession } from "./retrieve.ts";
import {
  proposeContexts,
  StoreScu,
  type SubOperationResult,
  type SubOperationTarget,
} from "./store_scu.ts";

/** Where to send: a `[[known_ae]]` entry. */
export interface StoreDestination {
  aeTitle: string;
  host: string;
  port: number;
}

export interface StoreAssociationOptions {
  connector: Connector;
  objects: ObjectReader;
  logger: Logger;
  /** Association id for logs. */
  id: string;
  /** Our AE title: the calling AE. */
  aeTitle: string;
  maxPduLength: number;
  implementationClassUid: string;
  implementationVersionName: string;
  /** Connecting and waiting for the A-ASSOCIATE-AC, each. */
  connectTimeoutMs: number;
  artimTimeoutMs: number;
  /** A destination silent this long while we wait for it aborts the association. */
  idleTimeoutMs: number;
  /** C-MOVE: the originator of the move (PS3.7 9.1.1.1). */
  moveOriginator?: { aeTitle: string; messageId: number };
  /** Decodes compressed objects for destinations that do not take them. */
  decoder?: ObjectDecoder;
  /** For log lines: "move" (sub-operations of a C-MOVE) or "send". */
  purpose: "move" | "send";
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Why no association could be had: short for a DIMSE Error Comment, and the detail. */
export interface StoreAssociationFailure {
  reason: string;
  detail: string;
}

/**
 * Connects to the destination and proposes one context per SOP class / transfer syntax of the
 * instances. Resolves with a session that stores them one at a time, or with why it failed
 * (unreachable, rejected, no answer), logged at warn.
 */
export async function openStoreAssociation(
  o: StoreAssociationOptions,
  dest: StoreDestination,
  instances: readonly SubOperationTarget[],
  fields: Record<string, unknown> = {},
): Promise<RetrieveSession | StoreAssociationFailure> {
  const log = o.logger;
  const fail = (what: string, e: unknown): StoreAssociationFailure => {
    const detail = `${o.purpose} destination ${dest.aeTitle} ${what}: ${(e as Error).message}`;
    log.log("warn", detail, fields);
    return { reason: `destination ${dest.aeTitle} ${what}`, detail };
  };
  let connection;
  try {
    connection = await o.connector.connect(dest.host, dest.port, o.connectTimeoutMs);
  } catch (e) {
    return fail(`cannot be reached at ${dest.host}:${dest.port}`, e);
  }
  const proposed = proposeContexts(instances);
  const assoc = new RequestorAssociation({
    id: o.id,
    connection,
    logger: log,
    artimTimeoutMs: o.artimTimeoutMs,
    idleTimeoutMs: o.idleTimeoutMs,
    maxPduLength: o.maxPduLength,
    callingAeTitle: o.aeTitle,
    calledAeTitle: dest.aeTitle,
    implementationClassUid: o.implementationClassUid,
    implementationVersionName: o.implementationVersionName,
    presentationContexts: proposed,
  });
  try {
    await withTimeout(assoc.open(), o.connectTimeoutMs, "A-ASSOCIATE-RQ");
  } catch (e) {
    await assoc.abort().catch(() => {});
    const what = e instanceof AssociationRejectedError
      ? "refused the association"
      : "did not accept the association";
    return fail(what, e);
  }
  log.log("info", o.purpose === "move" ? "move sub-association open" : "send association open", {
    ...fields,
    contexts: `${assoc.contexts.size}/${proposed.length}`,
  });
  const scu = new StoreScu({
    objects: o.objects,
    contexts: () => assoc.contexts.values(),
    request: (pcId, command, dataset) => assoc.request(pcId, command, dataset),
    peerMaxPduLength: assoc.peerMaxPduLength,
    moveOriginator: o.moveOriginator,
    decoder: o.decoder,
  });
  return {
    store: (target, next) => scu.store(target, next),
    close: async (lost) => {
      scu.close();
      if (lost) await assoc.abort();
      else await assoc.release();
    },
  };
}

/** The outcome of a send: counts as C-MOVE reports them (PS3.7 9.1.4.1). */
export interface SendResult {
  total: number;
  completed: number;
  failed: number;
  warning: number;
  /** SOP Instance UIDs that failed. */
  failedSopInstanceUids: string[];
  /** Why the whole send failed (no association, association lost), if it did. */
  error?: string;
}

/**
 * Sends the instances to the destination over one new association. `onProgress` is called
 * after each instance. Never throws: every failure is counted and said in `error`.
 */
export async function sendInstances(
  o: StoreAssociationOptions,
  dest: StoreDestination,
  instances: readonly SubOperationTarget[],
  onProgress?: (r: SendResult) => void,
  signal?: AbortSignal,
): Promise<SendResult> {
  const where = `${dest.aeTitle}@${dest.host}:${dest.port}`;
  const fields = { assoc: o.id, destination: where };
  const result: SendResult = {
    total: instances.length,
    completed: 0,
    failed: 0,
    warning: 0,
    failedSopInstanceUids: [],
  };
  if (instances.length === 0) return result;
  const session = await openStoreAssociation(o, dest, instances, fields);
  if ("reason" in session) {
    result.failed = instances.length;
    result.failedSopInstanceUids = instances.map((i) => i.sopInstanceUid);
    result.error = session.detail;
    return result;
  }
  let lost = false;
  try {
    for (const [i, target] of instances.entries()) {
      if (signal?.aborted) break;
      let r: SubOperationResult;
      try {
        r = await session.store(target, instances[i + 1]);
      } catch (e) {
        lost = true;
        result.error = `association lost: ${(e as Error).message}`;
        for (const rest of instances.slice(i)) {
          result.failedSopInstanceUids.push(rest.sopInstanceUid);
        }
        result.failed += instances.length - i;
        o.logger.log("warn", result.error, fields);
        break;
      }
      if (r.outcome === "completed") result.completed++;
      else if (r.outcome === "warning") result.warning++;
      else {
        result.failed++;
        result.failedSopInstanceUids.push(target.sopInstanceUid);
        o.logger.log("warn", `send failed for one instance: ${r.reason ?? ""}`, fields);
      }
      onProgress?.(result);
    }
  } finally {
    await session.close(lost).catch((e) =>
      o.logger.log("warn", `closing the association failed: ${(e as Error).message}`, fields)
    );
  }
  return result;
}
