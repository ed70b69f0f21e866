// Our acceptor and our requestor over an in-memory connection: the acceptor runs from the
// start, the requestor is ready to open(). Only what a test changes is given.
import type { DimseService } from "../../src/core/dimse/service_contract.ts";
import type { Logger } from "../../src/core/ports.ts";
import { AcceptorAssociation } from "../../src/core/ul/acceptor.ts";
import type { AssociationObserver } from "../../src/core/ul/association.ts";
import type { AcceptorPolicy } from "../../src/core/ul/negotiation.ts";
import { RequestorAssociation } from "../../src/core/ul/requestor.ts";
import { memoryConnectionPair } from "./memory_connection.ts";

const quiet: Logger = { log() {} };

/** The acceptor's policy serving these services, as MINIPACS. */
export function servingPolicy(services: readonly DimseService[]): AcceptorPolicy {
  const syntaxes = new Map();
  for (const s of services) for (const x of s.syntaxes()) syntaxes.set(x.abstractSyntax, x);
  return {
    aeTitle: "MINIPACS",
    checkCalledAe: true,
    maxPduLength: 16384,
    implementationClassUid: "1.2.3.4",
    implementationVersionName: "MINIPACS",
    syntaxes,
  };
}

export function associationPair(o: {
  services: readonly DimseService[];
  /** Default: servingPolicy(services). */
  policy?: () => AcceptorPolicy;
  /** Proposed by the requestor, each with Implicit VR LE. */
  abstractSyntaxes: readonly string[];
  observer?: AssociationObserver;
  acceptorLogger?: Logger;
}): { running: Promise<string>; requestor: RequestorAssociation } {
  const [a, b] = memoryConnectionPair();
  const timers = { artimTimeoutMs: 1000, idleTimeoutMs: 0, maxPduLength: 16384 };
  const acceptor = new AcceptorAssociation({
    id: "1",
    connection: a,
    logger: o.acceptorLogger ?? quiet,
    ...timers,
    services: o.services,
    policy: o.policy ?? (() => servingPolicy(o.services)),
    observer: o.observer,
  });
  const running = acceptor.run();
  const requestor = new RequestorAssociation({
    id: "r",
    connection: b,
    logger: quiet,
    ...timers,
    callingAeTitle: "SCU",
    calledAeTitle: "MINIPACS",
    implementationClassUid: "1.2.3",
    implementationVersionName: "TEST",
    presentationContexts: o.abstractSyntaxes.map((abstractSyntax, i) => ({
      id: 2 * i + 1,
      abstractSyntax,
      transferSyntaxes: ["1.2.840.10008.1.2"],
    })),
  });
  return { running, requestor };
}
