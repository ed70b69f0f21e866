// Helpers shared by the DIMSE services: log fields naming the peer, and the response command and
// responder that answer one request. The contract between services and association is
// dimse/service_contract.ts.
import { type Command, DATASET_PRESENT, NO_DATASET } from "../dimse/command.ts";
import type { DimseRequest, ServiceContext } from "../dimse/service_contract.ts";

// server.ts still names the service interface through this module.
export type { DimseService } from "../dimse/service_contract.ts";

/** Log fields naming the association and its peer (AE@address). */
export function peerFields(ctx: ServiceContext): Record<string, unknown> {
  return {
    assoc: ctx.association.id,
    peer: `${ctx.association.callingAeTitle}@${ctx.association.remote}`,
  };
}

/** The response to one request: a status, more command fields, whether an identifier follows. */
export function responseCommand(
  req: DimseRequest,
  responseField: number,
  status: number,
  extra: Partial<Command>,
  hasDataset: boolean,
): Command {
  return {
    commandField: responseField,
    commandDataSetType: hasDataset ? DATASET_PRESENT : NO_DATASET,
    messageIdBeingRespondedTo: req.command.messageId ?? 0,
    affectedSopClassUid: req.context.abstractSyntax,
    status,
    ...extra,
  };
}

/** Sends the responses to one request: a status, more command fields, an identifier. */
export function responder(
  req: DimseRequest,
  ctx: ServiceContext,
  responseField: number,
): (status: number, extra?: Partial<Command>, dataset?: Uint8Array) => Promise<void> {
  return (status, extra = {}, dataset) =>
    ctx.send(responseCommand(req, responseField, status, extra, !!dataset), dataset);
}
