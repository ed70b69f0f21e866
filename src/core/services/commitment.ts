// Storage Commitment Push Model SOP Class as SCP (PS3.4 Annex J). An N-ACTION-RQ (Action Type
// 1, Request Storage Commitment) is checked against what is durably stored and recorded
// durably, then answered 0000 at once; the result follows as an N-EVENT-REPORT-RQ (Event Type
// 1: all committed, 2: with a Failed SOP Sequence). It goes on the same association while the
// requester still waits there (no A-RELEASE-RQ seen, its N-EVENT-REPORT-RSP comes); otherwise
// the adapter sends it on a new association to the requester (J.3.3.3).
import { CommandField, NO_DATASET } from "../dimse/command.ts";
import { Status } from "../dimse/status.ts";
import {
  type DataElement,
  DatasetError,
  decodeDataset,
  encodeDataset,
  encodingOf,
  findElement,
  numbersOf,
  textOf,
} from "../dicom/dataset.ts";
import { EXPLICIT_VR_LE, IMPLICIT_VR_LE } from "../dicom/transfer_syntaxes.ts";
import type { SupportedSyntax } from "../ul/negotiation.ts";
import type { DimseRequest, DimseService, ServiceContext } from "../dimse/service_contract.ts";

/** Storage Commitment Push Model SOP Class (PS3.4 J.3). */
export const STORAGE_COMMITMENT_PUSH_MODEL = "1.2.840.10008.1.20.1";
/** Its well-known SOP Instance (PS3.4 J.3.5). */
export const STORAGE_COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1";

/** Failure Reason (0008,1197) values (PS3.4 J.3.2.1.1.1). */
export const FailureReason = {
  ProcessingFailure: 0x0110,
  NoSuchObjectInstance: 0x0112,
  ClassInstanceConflict: 0x0119,
} as const;

const TAG = {
  RetrieveAeTitle: 0x00080054,
  ReferencedSopClassUid: 0x00081150,
  ReferencedSopInstanceUid: 0x00081155,
  TransactionUid: 0x00081195,
  FailureReason: 0x00081197,
  FailedSopSequence: 0x00081198,
  ReferencedSopSequence: 0x00081199,
} as const;

/** The largest Action Information read (about 10,000 references per kilobyte... plenty). */
const MAX_ACTION_BYTES = 16 * 1024 * 1024;

export interface CommitmentRef {
  sopClassUid: string;
  sopInstanceUid: string;
}

export interface CommitmentFailure extends CommitmentRef {
  reason: number;
}

export interface CommitmentResult {
  transactionUid: string;
  committed: CommitmentRef[];
  failed: CommitmentFailure[];
}

export interface CommitmentRequest {
  callingAeTitle: string;
  transactionUid: string;
  refs: CommitmentRef[];
}

/** What the service needs from storage: the check, the durable record, the hand-off. */
export interface CommitmentPort {
  /**
   * Checks every reference against what is durably stored and records the request and its
   * result durably (answered after a restart too). Resolves with its id.
   */
  accept(request: CommitmentRequest): Promise<{ id: number; result: CommitmentResult }>;
  /** The report reached the requester on its own association. */
  delivered(id: number): void;
  /** The report did not go on the requester's association: send it on a new one. */
  deferred(id: number): void;
}

/** A request that cannot be taken, with the N-ACTION-RSP status to say so. */
class ActionRefused extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const ascii = (s: string) => new TextEncoder().encode(s);

function uidElement(tag: number, uid: string): DataElement {
  return { tag, vr: "UI", value: ascii(uid) };
}

function us(tag: number, n: number): DataElement {
  return { tag, vr: "US", value: new Uint8Array([n & 0xff, n >> 8]) };
}

/** Reads the Action Information of an N-ACTION-RQ (PS3.4 J.3.2.1.1). */
export function decodeActionInformation(
  bytes: Uint8Array,
  transferSyntaxUid: string,
): { transactionUid: string; refs: CommitmentRef[] } {
  let elements: DataElement[];
  try {
    elements = decodeDataset(bytes, encodingOf(transferSyntaxUid));
  } catch (e) {
    const why = e instanceof DatasetError ? e.message : String(e);
    throw new ActionRefused(Status.ProcessingFailure, `Action Information unreadable: ${why}`);
  }
  const tx = findElement(elements, TAG.TransactionUid);
  const transactionUid = tx ? textOf(tx, "").trim() : "";
  if (!transactionUid) {
    throw new ActionRefused(Status.MissingAttribute, "Transaction UID (0008,1195) missing");
  }
  const seq = findElement(elements, TAG.ReferencedSopSequence);
  if (!seq?.items) {
    throw new ActionRefused(Status.MissingAttribute, "Referenced SOP Sequence (0008,1199) missing");
  }
  const refs: CommitmentRef[] = [];
  for (const item of seq.items) {
    const cls = findElement(item, TAG.ReferencedSopClassUid);
    const inst = findElement(item, TAG.ReferencedSopInstanceUid);
    const sopClassUid = cls ? textOf(cls, "").trim() : "";
    const sopInstanceUid = inst ? textOf(inst, "").trim() : "";
    if (!sopClassUid || !sopInstanceUid) {
      throw new ActionRefused(
        Status.MissingAttribute,
        "a Referenced SOP Sequence item lacks its SOP Class or Instance UID",
      );
    }
    refs.push({ sopClassUid, sopInstanceUid });
  }
  return { transactionUid, refs };
}

/** The Action Information of an N-ACTION-RQ (PS3.4 J.3.2.1.1). */
export function encodeActionInformation(
  transactionUid: string,
  refs: readonly CommitmentRef[],
  transferSyntaxUid: string,
): Uint8Array {
  const elements: DataElement[] = [
    uidElement(TAG.TransactionUid, transactionUid),
    {
      tag: TAG.ReferencedSopSequence,
      vr: "SQ",
      value: new Uint8Array(0),
      items: refs.map((r) => [
        uidElement(TAG.ReferencedSopClassUid, r.sopClassUid),
        uidElement(TAG.ReferencedSopInstanceUid, r.sopInstanceUid),
      ]),
    },
  ];
  return encodeDataset(elements, encodingOf(transferSyntaxUid));
}

/** The Event Type of a result: 1 all committed, 2 some failed (PS3.4 J.3.3.1). */
export function eventTypeOf(result: CommitmentResult): 1 | 2 {
  return result.failed.length === 0 ? 1 : 2;
}

/** The Event Information of the N-EVENT-REPORT-RQ (PS3.4 J.3.3.1.1, J.3.3.1.2). */
export function encodeEventInformation(
  result: CommitmentResult,
  transferSyntaxUid: string,
  retrieveAeTitle?: string,
): Uint8Array {
  const ref = (r: CommitmentRef): DataElement[] => [
    uidElement(TAG.ReferencedSopClassUid, r.sopClassUid),
    uidElement(TAG.ReferencedSopInstanceUid, r.sopInstanceUid),
  ];
  const elements: DataElement[] = [uidElement(TAG.TransactionUid, result.transactionUid)];
  if (retrieveAeTitle) {
    elements.push({ tag: TAG.RetrieveAeTitle, vr: "AE", value: ascii(retrieveAeTitle) });
  }
  if (result.committed.length > 0) {
    elements.push({
      tag: TAG.ReferencedSopSequence,
      vr: "SQ",
      value: new Uint8Array(0),
      items: result.committed.map(ref),
    });
  }
  if (result.failed.length > 0) {
    elements.push({
      tag: TAG.FailedSopSequence,
      vr: "SQ",
      value: new Uint8Array(0),
      items: result.failed.map((f) => [...ref(f), us(TAG.FailureReason, f.reason)]),
    });
  }
  return encodeDataset(elements, encodingOf(transferSyntaxUid));
}

/** Reads an N-EVENT-REPORT's Event Information (for tests and our own SCU side). */
export function decodeEventInformation(
  bytes: Uint8Array,
  transferSyntaxUid: string,
): CommitmentResult {
  const elements = decodeDataset(bytes, encodingOf(transferSyntaxUid));
  const text = (els: readonly DataElement[], tag: number) => {
    const el = findElement(els, tag);
    return el ? textOf(el, "").trim() : "";
  };
  const refOf = (item: DataElement[]) => ({
    sopClassUid: text(item, TAG.ReferencedSopClassUid),
    sopInstanceUid: text(item, TAG.ReferencedSopInstanceUid),
  });
  return {
    transactionUid: text(elements, TAG.TransactionUid),
    committed: (findElement(elements, TAG.ReferencedSopSequence)?.items ?? []).map(refOf),
    failed: (findElement(elements, TAG.FailedSopSequence)?.items ?? []).map((item) => ({
      ...refOf(item),
      reason: numbersOf(
        findElement(item, TAG.FailureReason) ?? { tag: 0, vr: "US", value: new Uint8Array(0) },
      )[0] ?? 0,
    })),
  };
}

/** The N-EVENT-REPORT-RQ command of a result. */
export function eventReportCommand(result: CommitmentResult) {
  return {
    commandField: CommandField.NEventReportRq,
    commandDataSetType: 0x0000,
    affectedSopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
    affectedSopInstanceUid: STORAGE_COMMITMENT_INSTANCE,
    eventTypeId: eventTypeOf(result),
  };
}

export interface CommitmentServiceOptions {
  port: CommitmentPort;
  /** Our AE title, sent as Retrieve AE Title. */
  aeTitle: string;
  /**
   * After the N-ACTION-RSP, how long to watch for an A-RELEASE-RQ before reporting on the same
   * association (a requester that releases at once waits elsewhere). Default 100 ms.
   */
  releaseWatchMs?: number;
  /** The requester's N-EVENT-REPORT-RSP on its association, at most this long. Default 10 s. */
  reportTimeoutMs?: number;
  /**
   * Answers N-EVENT-REPORT-RQs: the reports of peers we asked for commitment, sent on an
   * association they open to us (commitment_scu.ts). Without it they are refused.
   */
  reports?: DimseService;
}

const wait = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

export class StorageCommitmentService implements DimseService {
  readonly name = "commitment";
  readonly commandFields = [CommandField.NActionRq, CommandField.NEventReportRq];
  readonly #o: CommitmentServiceOptions;

  constructor(options: CommitmentServiceOptions) {
    this.#o = options;
  }

  *syntaxes(): Iterable<SupportedSyntax> {
    yield {
      abstractSyntax: STORAGE_COMMITMENT_PUSH_MODEL,
      acceptsTransferSyntax: (ts) => ts === EXPLICIT_VR_LE || ts === IMPLICIT_VR_LE,
      // A peer reporting on our requests opens an association with the SCP role (J.3.3.3).
      acceptsScpRole: this.#o.reports !== undefined,
    };
  }

  async handle(req: DimseRequest, ctx: ServiceContext): Promise<void> {
    const cmd = req.command;
    if (cmd.commandField === CommandField.NEventReportRq) {
      if (this.#o.reports) return await this.#o.reports.handle(req, ctx);
      req.dataset?.cancel();
      return await ctx.send({
        commandField: CommandField.NEventReportRsp,
        commandDataSetType: NO_DATASET,
        messageIdBeingRespondedTo: cmd.messageId ?? 0,
        affectedSopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
        status: Status.UnrecognizedOperation,
      });
    }
    const respond = (status: number, errorComment?: string) =>
      ctx.send({
        commandField: CommandField.NActionRsp,
        commandDataSetType: NO_DATASET,
        messageIdBeingRespondedTo: cmd.messageId ?? 0,
        affectedSopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
        affectedSopInstanceUid: cmd.requestedSopInstanceUid ?? STORAGE_COMMITMENT_INSTANCE,
        actionTypeId: cmd.actionTypeId,
        status,
        errorComment,
      });
    const fields = {
      assoc: ctx.association.id,
      peer: `${ctx.association.callingAeTitle}@${ctx.association.remote}`,
    };
    let accepted: { id: number; result: CommitmentResult };
    try {
      if (cmd.actionTypeId !== 1) {
        throw new ActionRefused(Status.NoSuchActionType, `Action Type ${cmd.actionTypeId}`);
      }
      if ((cmd.requestedSopInstanceUid ?? "").trim() !== STORAGE_COMMITMENT_INSTANCE) {
        throw new ActionRefused(
          Status.NoSuchSopInstance,
          `Requested SOP Instance is not ${STORAGE_COMMITMENT_INSTANCE}`,
        );
      }
      if (!req.dataset) throw new ActionRefused(Status.MissingAttribute, "no Action Information");
      const bytes = await req.dataset.collect(MAX_ACTION_BYTES).catch((e) => {
        throw new ActionRefused(Status.ResourceLimitation, (e as Error).message);
      });
      const { transactionUid, refs } = decodeActionInformation(
        bytes,
        req.context.transferSyntax,
      );
      accepted = await this.#o.port.accept({
        callingAeTitle: ctx.association.callingAeTitle.trim(),
        transactionUid,
        refs,
      }).catch((e) => {
        throw new ActionRefused(Status.ProcessingFailure, (e as Error).message);
      });
    } catch (e) {
      if (!(e instanceof ActionRefused)) throw e;
      req.dataset?.cancel();
      ctx.logger.log("warn", `storage commitment refused: ${e.message}`, fields);
      await respond(e.status, e.message);
      return;
    }
    const { id, result } = accepted;
    ctx.logger.log("info", "storage commitment requested", {
      ...fields,
      transaction: result.transactionUid,
      committed: result.committed.length,
      failed: result.failed.length,
    });
    await respond(Status.Success);
    // Not awaited: the handler ends, so an A-RELEASE-RQ is answered without waiting for it.
    void this.#reportHere(ctx, req.context.id, req.context.transferSyntax, id, result);
  }

  /** The report on the requester's own association, or handed to the adapter. */
  async #reportHere(
    ctx: ServiceContext,
    pcId: number,
    transferSyntaxUid: string,
    id: number,
    result: CommitmentResult,
  ): Promise<void> {
    const port = this.#o.port;
    const releasing = ctx.peerReleasing;
    const fields = { assoc: ctx.association.id, transaction: result.transactionUid };
    try {
      if (!releasing || releasing.aborted) return port.deferred(id);
      await wait(this.#o.releaseWatchMs ?? 100, releasing);
      if (releasing.aborted) {
        ctx.logger.log(
          "debug",
          "commitment report: the requester released; a new association",
          fields,
        );
        return port.deferred(id);
      }
      const gaveUp = AbortSignal.any([
        releasing,
        AbortSignal.timeout(this.#o.reportTimeoutMs ?? 10_000),
      ]);
      const dataset = encodeEventInformation(result, transferSyntaxUid, this.#o.aeTitle);
      const rsp = await ctx.request(pcId, eventReportCommand(result), dataset, {
        signal: gaveUp,
      });
      const status = rsp.command.status ?? 0xffff;
      if (status !== Status.Success) {
        ctx.logger.log("warn", `commitment report answered 0x${status.toString(16)}`, fields);
      }
      ctx.logger.log("info", "storage commitment reported on the requester's association", {
        ...fields,
        event_type: eventTypeOf(result),
      });
      port.delivered(id);
    } catch (e) {
      ctx.logger.log("info", "commitment report not answered here; a new association", {
        ...fields,
        reason: (e as Error).message,
      });
      port.deferred(id);
    }
  }
}
