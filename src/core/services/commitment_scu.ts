// Storage Commitment Push Model as SCU (PS3.4 J.3): the N-ACTION-RQ asking a peer to commit
// objects we sent it (its Action Information: encodeActionInformation in commitment.ts), and
// the receiver of its answer, the N-EVENT-REPORT-RQ, which comes on
// the association of the request or on a new one the peer opens to us with the SCP role
// (J.3.3.3, role selection PS3.7 D.3.3.4).
import { type Command, CommandField, NO_DATASET } from "../dimse/command.ts";
import { Status } from "../dimse/status.ts";
import { EXPLICIT_VR_LE, IMPLICIT_VR_LE } from "../dicom/transfer_syntaxes.ts";
import type { SupportedSyntax } from "../ul/negotiation.ts";
import type {
  AssociationInfo,
  DimseRequest,
  DimseService,
  ServiceContext,
} from "../dimse/service_contract.ts";
import {
  type CommitmentResult,
  decodeEventInformation,
  STORAGE_COMMITMENT_INSTANCE,
  STORAGE_COMMITMENT_PUSH_MODEL,
} from "./commitment.ts";

/** The largest Event Information read. */
const MAX_EVENT_BYTES = 16 * 1024 * 1024;

/** The N-ACTION-RQ command: Action Type 1, Request Storage Commitment (PS3.4 J.3.2). */
export function actionCommand(): Command {
  return {
    commandField: CommandField.NActionRq,
    commandDataSetType: 0x0000,
    requestedSopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
    requestedSopInstanceUid: STORAGE_COMMITMENT_INSTANCE,
    actionTypeId: 1,
  };
}

/**
 * Told of every report received; `peer` is the AE title of the other end. Resolves false when
 * the Transaction UID is none we asked for (answered 0x0110, processing failure).
 */
export type ReportHandler = (result: CommitmentResult, peer: string) => Promise<boolean>;

/**
 * Receives N-EVENT-REPORT-RQs of the Storage Commitment Push Model and answers them: on our own
 * requestor associations (`peerOf` picks the called AE) and on the acceptor side, where
 * the Storage Commitment SCP service hands them over (the calling AE).
 */
export class CommitmentReportReceiver implements DimseService {
  readonly name = "commitment-report";
  readonly commandFields = [CommandField.NEventReportRq];
  readonly #onReport: ReportHandler;
  readonly #peerOf: (a: AssociationInfo) => string;

  constructor(onReport: ReportHandler, peerOf: (a: AssociationInfo) => string) {
    this.#onReport = onReport;
    this.#peerOf = peerOf;
  }

  *syntaxes(): Iterable<SupportedSyntax> {
    yield {
      abstractSyntax: STORAGE_COMMITMENT_PUSH_MODEL,
      acceptsTransferSyntax: (ts) => ts === EXPLICIT_VR_LE || ts === IMPLICIT_VR_LE,
      // The peer reports with the SCP role on an association it opens (PS3.4 J.3.3.3).
      acceptsScpRole: true,
    };
  }

  async handle(req: DimseRequest, ctx: ServiceContext): Promise<void> {
    const cmd = req.command;
    const peer = this.#peerOf(ctx.association).trim();
    const fields = { assoc: ctx.association.id, peer };
    let status: number = Status.Success;
    let comment: string | undefined;
    try {
      if (cmd.eventTypeId !== 1 && cmd.eventTypeId !== 2) {
        status = Status.NoSuchEventType;
        comment = `Event Type ${cmd.eventTypeId}`;
      } else if (!req.dataset) {
        status = Status.MissingAttribute;
        comment = "no Event Information";
      } else {
        const bytes = await req.dataset.collect(MAX_EVENT_BYTES);
        const result = decodeEventInformation(bytes, req.context.transferSyntax);
        if (!result.transactionUid) {
          status = Status.MissingAttribute;
          comment = "Transaction UID (0008,1195) missing";
        } else if (!(await this.#onReport(result, peer))) {
          status = Status.ProcessingFailure;
          comment = `Transaction UID ${result.transactionUid} is none we asked for`;
        }
      }
    } catch (e) {
      req.dataset?.cancel();
      status = Status.ProcessingFailure;
      comment = `Event Information unreadable: ${(e as Error).message}`;
    }
    if (status !== Status.Success) {
      ctx.logger.log("warn", `storage commitment report refused: ${comment}`, fields);
    }
    await ctx.send({
      commandField: CommandField.NEventReportRsp,
      commandDataSetType: NO_DATASET,
      messageIdBeingRespondedTo: cmd.messageId ?? 0,
      affectedSopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
      affectedSopInstanceUid: cmd.affectedSopInstanceUid ?? STORAGE_COMMITMENT_INSTANCE,
      eventTypeId: cmd.eventTypeId,
      status,
      errorComment: comment,
    });
  }
}
