// Helpers shared by the DIMSE services: log fields naming the peer, and the responder that
// answers one request. The contract between services and association is
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
