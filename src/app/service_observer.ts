// Wraps the DIMSE services so that each final response is reported (the status page's events
// and the operation counters); requests, responses and data pass through untouched.
import { type Command, isResponseField } from "../core/dimse/command.ts";
import { statusCategory } from "../core/dimse/status.ts";
import { sopClassName } from "../core/dicom/sop_classes.ts";
import type { AssociationInfo, DimseService } from "../core/dimse/service_contract.ts";

/** One final response sent: `detail` names the SOP class of a C-STORE. */
export type OperationListener = (
  association: AssociationInfo,
  service: string,
  status: number,
  detail: string,
) => void;

/**
 * The services with each final (non-pending, PS3.7 C.1.2) response told to `onFinal`, and
 * each operation, while it runs, counted as work (`work()` returns what ends it).
 */
export function observeServices(
  services: readonly DimseService[],
  onFinal: OperationListener,
  work: () => () => void = () => () => {},
): DimseService[] {
  return services.map((s): DimseService => ({
    name: s.name,
    commandFields: s.commandFields,
    syntaxes: () => s.syntaxes(),
    handle: async (req, ctx) => {
      const end = work();
      try {
        const sent = (command: Command) => {
          const status = command.status ?? 0;
          const isResponse = isResponseField(command.commandField);
          if (isResponse && statusCategory(status) !== "pending") {
            const sop = req.command.affectedSopClassUid;
            const detail = s.name === "store" && sop ? sopClassName(sop.replace(/\0+$/, "")) : "";
            onFinal(ctx.association, s.name, status, detail);
          }
        };
        const sendAll = ctx.sendAll;
        return await s.handle(req, {
          ...ctx,
          send: async (command, dataset) => {
            await ctx.send(command, dataset);
            sent(command);
          },
          sendAll: sendAll && (async (messages) => {
            await sendAll(messages);
            for (const m of messages) sent(m.command);
          }),
        });
      } finally {
        end();
      }
    },
  }));
}
