// Storage commitment as the running server has it: the SCP service, checked against the
// durable index and recorded in index.sqlite, and the sender of reports that could not go on
// the requester's own association: a new association to its [[known_ae]], proposing the
// Storage Commitment Push Model with us in the SCP role (PS3.4 J.3.3.3, PS3.7 D.3.3.4),
// retried with backoff like a forward while the requester is down, after a restart too.
import type { Config } from "../config.ts";
import type { Connector, Logger } from "../core/ports.ts";
import {
  type CommitmentFailure,
  type CommitmentPort,
  type CommitmentRef,
  type CommitmentResult,
  encodeEventInformation,
  eventReportCommand,
  eventTypeOf,
  FailureReason,
  STORAGE_COMMITMENT_PUSH_MODEL,
  StorageCommitmentService,
} from "../core/services/commitment.ts";
import { CommitmentReportReceiver } from "../core/services/commitment_scu.ts";
import { EXPLICIT_VR_LE, IMPLICIT_VR_LE } from "../core/dicom/transfer_syntaxes.ts";
import { RequestorAssociation } from "../core/ul/requestor.ts";
import { connectorFor } from "../core/services/scu_association.ts";
import { tcpConnector } from "../net/tcp.ts";
import { withTimeout } from "./with_timeout.ts";
import type { PendingCommitment } from "../storage/commitment_queue.ts";
import type { FsObjectStore } from "../storage/object_store.ts";
import { retryDelayMs } from "./backoff.ts";

export interface CommitmentDeps {
  config(): Config;
  store: FsObjectStore;
  logger: Logger;
  connector?: Connector;
  /** For a requester with tls = true: the current TLS connector, null when TLS is off. */
  tlsConnector?: () => Connector | null;
  /** Waiting reports are looked at this often even when nothing was said (default 5 s). */
  sweepMs?: number;
  /** First retry delay; doubles up to [forward] retry_max_s (default 1 s). */
  firstRetryMs?: number;
  /**
   * Reports on our own commitment requests ([[route]] commit = true) that the destination
   * sends on an association it opens to us; false for a Transaction UID none of ours.
   */
  reports?: (result: CommitmentResult, peer: string) => boolean;
}

export interface Commitment {
  service: StorageCommitmentService;
  /** Starts sending waiting reports (those a previous run left, too). */
  start(): void;
  stop(): Promise<void>;
  /** Reports still to be delivered. */
  pending(): number;
}

export function createCommitment(deps: CommitmentDeps): Commitment {
  const { store, logger } = deps;
  const connector = deps.connector ?? tcpConnector;
  const queue = store.openCommitmentQueue();
  /** Requests being reported on the requester's own association right now. */
  const onTheirAssociation = new Set<number>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let started = false;
  let stopped = false;
  let sweeping: Promise<void> | null = null;
  let again = false;
  let associations = 0;
  /** Requesters whose reports fail now (one warn line when it starts, one info when over). */
  const failing = new Set<string>();

  /** Only what is durably stored counts as committed (PS3.4 J.3.1). */
  const check = async (
    refs: CommitmentRef[],
  ): Promise<Omit<CommitmentResult, "transactionUid">> => {
    const committed: CommitmentRef[] = [];
    const failed: CommitmentFailure[] = [];
    for (const ref of refs) {
      let reason: number | null = null;
      try {
        const row = await store.durableInstance(ref.sopInstanceUid);
        if (!row) reason = FailureReason.NoSuchObjectInstance;
        else if (row.record.sopClassUid !== ref.sopClassUid) {
          reason = FailureReason.ClassInstanceConflict;
        }
      } catch {
        reason = FailureReason.ProcessingFailure;
      }
      if (reason === null) committed.push(ref);
      else failed.push({ ...ref, reason });
    }
    return { committed, failed };
  };

  const port: CommitmentPort = {
    async accept(request) {
      const result: CommitmentResult = {
        transactionUid: request.transactionUid,
        ...(await check(request.refs)),
      };
      const id = queue.add(request.callingAeTitle, result);
      onTheirAssociation.add(id);
      return { id, result };
    },
    delivered(id) {
      onTheirAssociation.delete(id);
      queue.remove(id);
    },
    deferred(id) {
      onTheirAssociation.delete(id);
      wake();
    },
  };

  const s = deps.config().server;
  const reports = deps.reports;
  const service = new StorageCommitmentService({
    port,
    aeTitle: s.aeTitle,
    reportTimeoutMs: s.artimTimeoutS * 1000,
    reports: reports &&
      new CommitmentReportReceiver(
        (result, peer) => Promise.resolve(reports(result, peer)),
        (a) => a.callingAeTitle,
      ),
  });

  const retryDelay = (attempts: number) =>
    retryDelayMs(deps.firstRetryMs ?? 1000, deps.config().forward.retryMaxS * 1000, attempts);

  /** One report on a new association to the requester; throws why it did not go. */
  const send = async (p: PendingCommitment): Promise<void> => {
    const config = deps.config();
    const known = config.knownAe.find((k) => k.aeTitle === p.callingAe);
    if (!known) throw new Error(`${p.callingAe} is not a [[known_ae]]: nowhere to send it`);
    const timeoutMs = config.server.artimTimeoutS * 1000;
    const via = connectorFor(known, connector, deps.tlsConnector?.());
    const connection = await via.connect(known.host, known.port, timeoutMs);
    const assoc = new RequestorAssociation({
      id: `commit.${++associations}`,
      connection,
      logger,
      artimTimeoutMs: timeoutMs,
      idleTimeoutMs: config.server.idleTimeoutS * 1000,
      maxPduLength: config.server.maxPduLength,
      callingAeTitle: config.server.aeTitle,
      calledAeTitle: known.aeTitle,
      implementationClassUid: config.server.implementationClassUid,
      implementationVersionName: config.server.implementationVersionName,
      presentationContexts: [{
        id: 1,
        abstractSyntax: STORAGE_COMMITMENT_PUSH_MODEL,
        transferSyntaxes: [EXPLICIT_VR_LE, IMPLICIT_VR_LE],
      }],
      // We are the SCP of the class on an association we request (PS3.4 J.3.3.3).
      roleSelections: [{
        sopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
        scuRole: false,
        scpRole: true,
      }],
    });
    try {
      await withTimeout(assoc.open(), timeoutMs, "A-ASSOCIATE-RQ");
      const pc = assoc.contextFor(STORAGE_COMMITMENT_PUSH_MODEL);
      if (!pc) throw new Error("it did not accept the Storage Commitment Push Model");
      const dataset = encodeEventInformation(p.result, pc.transferSyntax, config.server.aeTitle);
      const rsp = await withTimeout(
        assoc.request(pc.id, eventReportCommand(p.result), dataset),
        timeoutMs,
        "N-EVENT-REPORT-RQ",
      );
      const status = rsp.command.status ?? 0xffff;
      if (status !== 0) {
        logger.log("warn", `commitment report answered 0x${status.toString(16)}`, {
          peer: known.aeTitle,
          transaction: p.result.transactionUid,
        });
      }
      await assoc.release().catch(() => {});
    } catch (e) {
      await assoc.abort().catch(() => {});
      throw e;
    }
  };

  const sweep = async (): Promise<void> => {
    const now = Date.now();
    for (const p of queue.due(now)) {
      if (stopped) return;
      if (onTheirAssociation.has(p.id)) continue;
      try {
        await send(p);
        queue.remove(p.id);
        logger.log("info", "storage commitment reported on a new association", {
          peer: p.callingAe,
          transaction: p.result.transactionUid,
          event_type: eventTypeOf(p.result),
          committed: p.result.committed.length,
          failed: p.result.failed.length,
        });
        if (failing.delete(p.callingAe)) {
          logger.log("info", `commitment reports to ${p.callingAe} recovered`);
        }
      } catch (e) {
        const error = (e as Error).message;
        queue.retryLater(p.id, error, Date.now() + retryDelay(p.attempts));
        if (!failing.has(p.callingAe)) {
          failing.add(p.callingAe);
          logger.log("warn", `commitment report to ${p.callingAe} not delivered: ${error}`, {
            transaction: p.result.transactionUid,
          });
        }
      }
    }
  };

  const arm = () => {
    if (stopped || !started) return;
    clearTimeout(timer);
    const now = Date.now();
    let at = now + (deps.sweepMs ?? 5000);
    const next = queue.nextAttempt();
    if (next !== null) at = Math.min(at, Math.max(next, now + 10));
    timer = setTimeout(wake, at - now);
    Deno.unrefTimer(timer);
  };

  function wake(): void {
    if (stopped || !started) return;
    if (sweeping) {
      again = true;
      return;
    }
    clearTimeout(timer);
    sweeping = (async () => {
      // Bounded: each pass is asked for by a new deferral.
      for (let pass = 0; pass < 1000; pass++) {
        again = false;
        await sweep().catch((e) =>
          logger.log("error", `commitment reports failed: ${(e as Error).message}`)
        );
        if (!again || stopped) break;
      }
    })().finally(() => {
      sweeping = null;
      arm();
    });
  }

  return {
    service,
    start() {
      started = true;
      wake();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await sweeping;
    },
    pending: () => queue.count(),
  };
}
