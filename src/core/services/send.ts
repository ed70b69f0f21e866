// C-STORE to a known AE over a new association of ours (PS3.4 B.2, PS3.7 9.1.1), behind "send
// this study" (the API, the pages, the command line): the same association set-up and the same
// StoreScu as C-MOVE's sub-operations (move.ts). One association per send.
import type { Connector, Logger, ObjectDecoder, ObjectReader } from "../ports.ts";
import type { RequestorAssociation } from "../ul/requestor.ts";
import type { RetrieveSession } from "./retrieve.ts";
import { openScuAssociation, ScuAssociationError } from "./scu_association.ts";
import { STORE_LOOKAHEAD, StoreScu, type SubOperationResult } from "./store_scu.ts";
import { proposeContexts, type SubOperationTarget } from "./sub_operation_contexts.ts";

/** Where to send: a `[[known_ae]]` entry. */
export interface StoreDestination {
  aeTitle: string;
  host: string;
  port: number;
  /** Reached over DICOM TLS only. */
  tls?: boolean;
}

export interface StoreAssociationOptions {
  connector: Connector;
  /** For destinations reached over TLS; absent or undefined when TLS is not enabled. */
  tlsConnector?: () => Connector | undefined;
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
  /** Decodes compressed objects for destinations that do not take them. */
  decoder?: ObjectDecoder;
  /** For log lines. */
  purpose: "send";
}

/** Why no association could be had: short for a DIMSE Error Comment, and the detail. */
export interface StoreAssociationFailure {
  reason: string;
  detail: string;
}

/**
 * Connects to the destination and proposes one context per SOP class / transfer syntax of the
 * instances (the association set-up every SCU of ours shares: scu_association.ts). Resolves
 * with a session that stores them one at a time through StoreScu, as a C-MOVE does, or with
 * why it failed (unreachable, rejected, no answer, TLS needed), logged at warn.
 */
export async function openStoreAssociation(
  o: StoreAssociationOptions,
  dest: StoreDestination,
  instances: readonly SubOperationTarget[],
  fields: Record<string, unknown> = {},
): Promise<RetrieveSession | StoreAssociationFailure> {
  const log = o.logger;
  const fail = (what: string, detail: string): StoreAssociationFailure => {
    const text = `${o.purpose} destination ${dest.aeTitle} ${what}: ${detail}`;
    log.log("warn", text, fields);
    return { reason: `destination ${dest.aeTitle} ${what}`, detail: text };
  };
  const connector = dest.tls ? o.tlsConnector?.() : o.connector;
  if (!connector) return fail("needs TLS", "DICOM over TLS is not enabled here");
  const proposed = proposeContexts(instances);
  let assoc: RequestorAssociation;
  try {
    assoc = await openScuAssociation({
      connector,
      peer: dest,
      callingAeTitle: o.aeTitle,
      identity: o,
      presentationContexts: proposed,
      timeoutMs: o.connectTimeoutMs,
      logger: log,
      id: o.id,
      artimTimeoutMs: o.artimTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
    });
  } catch (e) {
    const kind = e instanceof ScuAssociationError ? e.kind : "not-accepted";
    const detail = e instanceof ScuAssociationError ? e.detail : (e as Error).message;
    return fail(
      kind === "unreachable"
        ? `cannot be reached at ${dest.host}:${dest.port}`
        : kind === "rejected"
        ? "refused the association"
        : "did not accept the association",
      detail,
    );
  }
  log.log("info", `${o.purpose} association open`, {
    ...fields,
    contexts: `${assoc.contexts.size}/${proposed.length}`,
  });
  const scu = new StoreScu({
    objects: o.objects,
    contexts: () => assoc.contexts.values(),
    request: (pcId, command, dataset, onSent) => assoc.request(pcId, command, dataset, { onSent }),
    peerMaxPduLength: assoc.peerMaxPduLength,
    decoder: o.decoder,
  });
  return {
    store: (target, upcoming) => scu.store(target, upcoming),
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
        r = await session.store(target, instances.slice(i + 1, i + 1 + STORE_LOOKAHEAD));
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
