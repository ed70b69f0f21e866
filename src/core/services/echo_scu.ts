// Verification SOP Class SCU: one C-ECHO to a peer on an association of its own, with the
// set-up and round-trip times (PS3.4 Annex A, PS3.7 9.1.5). The echo SCP is echo_scp.ts.
import { CommandField, NO_DATASET } from "../dimse/command.ts";
import { Status, statusText } from "../dimse/status.ts";
import { IMPLICIT_VR_LE } from "../dicom/transfer_syntaxes.ts";
import { VERIFICATION_SOP_CLASS } from "./echo_scp.ts";
import {
  openScuAssociation,
  peerName,
  releaseOrAbort,
  type ScuAssociationOptions,
  withTimeout,
} from "./scu_association.ts";

export interface EchoResult {
  aeTitle: string;
  host: string;
  port: number;
  /** The peer answered Success. */
  ok: boolean;
  /** The C-ECHO-RSP status (-1 when it carried none); null when none came back. */
  status: number | null;
  /** "0x0000 success"... or why it failed. */
  message: string;
  /** C-ECHO request to response, ms. */
  roundTripMs: number | null;
  /** Connection and association set-up, ms. */
  setupMs: number | null;
}

/** Runs one C-ECHO on an association of its own; never throws. */
export async function echoScu(
  o: Omit<ScuAssociationOptions, "presentationContexts">,
): Promise<EchoResult> {
  const base = { aeTitle: o.peer.aeTitle, host: o.peer.host, port: o.peer.port };
  const failed = (message: string, setupMs: number | null = null): EchoResult => ({
    ...base,
    ok: false,
    status: null,
    message,
    roundTripMs: null,
    setupMs,
  });
  const t0 = performance.now();
  let assoc;
  try {
    assoc = await openScuAssociation({
      ...o,
      presentationContexts: [
        { id: 1, abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [IMPLICIT_VR_LE] },
      ],
    });
  } catch (e) {
    return failed((e as Error).message);
  }
  const t1 = performance.now();
  try {
    const pc = assoc.contextFor(VERIFICATION_SOP_CLASS);
    if (!pc) {
      return failed(`${peerName(o.peer)} does not accept the Verification SOP Class`, t1 - t0);
    }
    const rsp = await withTimeout(
      assoc.request(pc.id, {
        commandField: CommandField.CEchoRq,
        commandDataSetType: NO_DATASET,
        affectedSopClassUid: VERIFICATION_SOP_CLASS,
      }),
      o.timeoutMs,
      "C-ECHO",
    );
    const t2 = performance.now();
    const status = rsp.command.status ?? -1;
    return {
      ...base,
      ok: status === Status.Success,
      status,
      message: statusText(status),
      roundTripMs: t2 - t1,
      setupMs: t1 - t0,
    };
  } catch (e) {
    return failed((e as Error).message, t1 - t0);
  } finally {
    await releaseOrAbort(assoc, o.timeoutMs);
  }
}
