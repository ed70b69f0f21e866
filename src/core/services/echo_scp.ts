// Verification SOP Class SCP: C-ECHO answered with Success (PS3.4 Annex A, PS3.7 9.1.5).
import { CommandField, NO_DATASET } from "../dimse/command.ts";
import { Status } from "../dimse/status.ts";
import { EXPLICIT_VR_LE, IMPLICIT_VR_LE } from "../dicom/transfer_syntaxes.ts";
import type { SupportedSyntax } from "../ul/negotiation.ts";
import type { DimseRequest, DimseService, ServiceContext } from "../dimse/service_contract.ts";

export const VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1";

export class VerificationService implements DimseService {
  readonly name = "echo";
  readonly commandFields = [CommandField.CEchoRq];

  *syntaxes(): Iterable<SupportedSyntax> {
    yield {
      abstractSyntax: VERIFICATION_SOP_CLASS,
      acceptsTransferSyntax: (ts) => ts === IMPLICIT_VR_LE || ts === EXPLICIT_VR_LE,
    };
  }

  async handle(req: DimseRequest, ctx: ServiceContext): Promise<void> {
    req.dataset?.cancel();
    await ctx.send({
      commandField: CommandField.CEchoRsp,
      commandDataSetType: NO_DATASET,
      messageIdBeingRespondedTo: req.command.messageId ?? 0,
      affectedSopClassUid: VERIFICATION_SOP_CLASS,
      status: Status.Success,
    });
  }
}
