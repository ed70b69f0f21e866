// Our own requestor (SCU) over real TCP, for tests that need precise control of timing.
import { CommandField, NO_DATASET } from "../../src/core/dimse/command.ts";
import type { Connector, Logger } from "../../src/core/ports.ts";
import { RequestorAssociation } from "../../src/core/ul/requestor.ts";
import { tcpConnector } from "../../src/net/tcp.ts";

export const quietLogger: Logger = { log() {} };

export const VERIFICATION = "1.2.840.10008.1.1";
export const IMPLICIT_LE = "1.2.840.10008.1.2";
export const EXPLICIT_LE = "1.2.840.10008.1.2.1";

export interface OpenOptions {
  calling?: string;
  called?: string;
  contexts?: { id: number; abstractSyntax: string; transferSyntaxes: string[] }[];
  maxPduLength?: number;
  /** Default: plain TCP. */
  connector?: Connector;
}

export async function openAssociation(
  port: number,
  o: OpenOptions = {},
): Promise<RequestorAssociation> {
  const connection = await (o.connector ?? tcpConnector).connect("127.0.0.1", port, 5000);
  const assoc = new RequestorAssociation({
    id: "test",
    connection,
    logger: quietLogger,
    artimTimeoutMs: 5000,
    idleTimeoutMs: 0,
    maxPduLength: o.maxPduLength ?? 16384,
    callingAeTitle: o.calling ?? "TESTSCU",
    calledAeTitle: o.called ?? "MINIPACS",
    implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.1",
    implementationVersionName: "TESTSCU",
    presentationContexts: o.contexts ??
      [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] }],
  });
  return await assoc.open();
}

/** Sends one C-ECHO and returns its status. */
export async function echo(assoc: RequestorAssociation): Promise<number> {
  const pc = assoc.contextFor(VERIFICATION);
  if (!pc) throw new Error("no verification context accepted");
  const rsp = await assoc.request(pc.id, {
    commandField: CommandField.CEchoRq,
    commandDataSetType: NO_DATASET,
    affectedSopClassUid: VERIFICATION,
  });
  return rsp.command.status ?? -1;
}
