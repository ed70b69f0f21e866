// Query/Retrieve GET SCP, Patient Root and Study Root (PS3.4 C.4.3; PS3.7 9.1.3): the selected
// instances go back on the caller's own association, as C-STORE sub-operations on the storage
// contexts where it took the SCP role (PS3.7 D.3.3.4), interleaved with the Pending responses.
import { CommandField } from "../dimse/command.ts";
import type { ObjectDecoder, ObjectReader, QueryIndex } from "../ports.ts";
import type { AuditTrail } from "../audit.ts";
import { QR_SOP_CLASSES } from "../query/keys.ts";
import type { AcceptedContext, SupportedSyntax } from "../ul/negotiation.ts";
import { retrieveSyntaxes, runRetrieve } from "./retrieve.ts";
import type { DimseRequest, DimseService, ServiceContext } from "../dimse/service_contract.ts";
import { StoreScu } from "./store_scu.ts";

export interface GetServiceOptions {
  index: QueryIndex;
  objects: ObjectReader;
  /** Decodes compressed objects the caller does not take (other threads). */
  decoder?: ObjectDecoder;
  caseInsensitivePn: boolean;
  /** Each C-GET as an audit record. */
  audit?: AuditTrail;
}

const GET_SOP_CLASSES = [QR_SOP_CLASSES.PatientRootGet, QR_SOP_CLASSES.StudyRootGet];

/**
 * Contexts a C-GET may send C-STORE-RQs on: those where the peer took the SCP role (only
 * storage classes offer it, see StorageService.syntaxes()).
 */
export function storeContexts(contexts: Iterable<AcceptedContext>): AcceptedContext[] {
  return [...contexts].filter((c) => c.requestorIsScp);
}

export class GetService implements DimseService {
  readonly name = "get";
  readonly commandFields = [CommandField.CGetRq];
  readonly #options: GetServiceOptions;

  constructor(options: GetServiceOptions) {
    this.#options = options;
  }

  syntaxes(): Iterable<SupportedSyntax> {
    return retrieveSyntaxes(GET_SOP_CLASSES);
  }

  async handle(req: DimseRequest, ctx: ServiceContext): Promise<void> {
    await runRetrieve(req, ctx, {
      name: "get",
      responseField: CommandField.CGetRsp,
      // C-GET sends back to the caller, on its own association.
      logFields: { destination: ctx.association.callingAeTitle },
      index: this.#options.index,
      caseInsensitivePn: this.#options.caseInsensitivePn,
      audit: this.#options.audit,
      open: () => {
        const contexts = storeContexts(ctx.contexts());
        if (contexts.length === 0) {
          return Promise.resolve(
            "no storage presentation context with the SCP role was negotiated",
          );
        }
        const scu = new StoreScu({
          objects: this.#options.objects,
          contexts: () => contexts,
          request: (pcId, command, dataset, onSent) =>
            ctx.request(pcId, command, dataset, { onSent }),
          peerMaxPduLength: ctx.peerMaxPduLength,
          decoder: this.#options.decoder,
        });
        return Promise.resolve({
          store: (target, upcoming) => scu.store(target, upcoming),
          close: () => Promise.resolve(scu.close()),
        });
      },
    });
  }
}
