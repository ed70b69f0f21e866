// One handler type per DIMSE service; the association dispatches requests to them.
import { type Command, DATASET_PRESENT, NO_DATASET } from "../dimse/command.ts";
import type { FramedDataset } from "../dimse/data_packer.ts";
import type { DatasetStream } from "../dimse/dataset_stream.ts";
import type { Logger } from "../ports.ts";
import type { AcceptedContext, SupportedSyntax } from "../ul/negotiation.ts";

/** Who is on the other end, for handlers and log lines. */
export interface AssociationInfo {
  id: string;
  callingAeTitle: string;
  calledAeTitle: string;
  remote: string;
}

/** A DIMSE request as it reaches a service. */
export interface DimseRequest {
  context: AcceptedContext;
  command: Command;
  /** The dataset that follows the command, streamed; null when there is none. */
  dataset: DatasetStream | null;
}

/** A response (or sub-operation response) received from the peer. */
export interface DimseResponse {
  command: Command;
  dataset: Uint8Array | null;
}

/** What a handler can do on the association it runs on. */
export interface ServiceContext {
  association: AssociationInfo;
  logger: Logger;
  /** Sends a message on the request's presentation context (a response, usually). */
  send(command: Command, dataset?: Uint8Array): Promise<void>;
  /** Aborted when the peer sends C-CANCEL for this request. */
  cancelled: AbortSignal;
  /** Accepted presentation contexts (C-GET looks for storage contexts with the SCP role). */
  contexts(): Iterable<AcceptedContext>;
  /**
   * Sends a request on another context and waits for its final response (C-GET
   * sub-operations); rejects once `signal` aborts (the answer is no longer awaited).
   */
  request(
    pcId: number,
    command: Command,
    dataset?: Uint8Array | AsyncIterable<Uint8Array> | FramedDataset,
    signal?: AbortSignal,
  ): Promise<DimseResponse>;
  /** Aborted once the peer asked for release or the association ended. */
  peerReleasing?: AbortSignal;
  /** The peer's Maximum Length Received, for datasets framed ahead (FramedDataset). */
  peerMaxPduLength?: number;
}

export interface DimseService {
  /** A short name for logs and metrics ("echo", "store"...). */
  readonly name: string;
  /** The request command fields it answers. */
  readonly commandFields: readonly number[];
  /** The abstract syntaxes it serves, with the transfer syntaxes it takes. */
  syntaxes(): Iterable<SupportedSyntax>;
  handle(request: DimseRequest, ctx: ServiceContext): Promise<void>;
}

/** Log fields naming the association and its peer (AE@address). */
export function peerFields(ctx: ServiceContext): Record<string, unknown> {
  return {
    assoc: ctx.association.id,
    peer: `${ctx.association.callingAeTitle}@${ctx.association.remote}`,
  };
}

/** Sends the responses to one request: a status, more command fields, an identifier. */
export function responder(
  req: DimseRequest,
  ctx: ServiceContext,
  responseField: number,
): (status: number, extra?: Partial<Command>, dataset?: Uint8Array) => Promise<void> {
  return (status, extra = {}, dataset) =>
    ctx.send({
      commandField: responseField,
      commandDataSetType: dataset ? DATASET_PRESENT : NO_DATASET,
      messageIdBeingRespondedTo: req.command.messageId ?? 0,
      affectedSopClassUid: req.context.abstractSyntax,
      status,
      ...extra,
    }, dataset);
}
