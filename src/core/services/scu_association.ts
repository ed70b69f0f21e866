// Opening an association as an SCU (PS3.8 7.1.1): connect through the Connector port, send the
// A-ASSOCIATE-RQ and wait for the answer within a deadline of our own, since no ARTIM runs
// while a requestor waits for the A-ASSOCIATE-AC (PS3.8 9.2). Used by the echo SCU, the SCU
// commands (echo, store, find), the Peers page and C-MOVE's sub-associations.
import type { Connector, Logger } from "../ports.ts";
import { RejectReason, RejectResult, RejectSource } from "../ul/pdu_types.ts";
import {
  AssociationRejectedError,
  RequestorAssociation,
  type RequestorOptions,
} from "../ul/requestor.ts";

/** A peer to call: its AE title and where it listens. */
export interface ScuPeer {
  aeTitle: string;
  host: string;
  port: number;
}

/**
 * How a known AE is reached: over TLS when it has tls = true (PS3.15 B.9), else plain TCP. With
 * TLS off here such a peer gets a connector that refuses with the reason, so the caller's own
 * handling of an unreachable peer reports it.
 */
export function connectorFor(
  peer: { tls?: boolean },
  plain: Connector,
  tls: Connector | null | undefined,
): Connector {
  if (!peer.tls) return plain;
  return tls ?? {
    connect: () =>
      Promise.reject(new Error("needs TLS (tls = true): DICOM over TLS is not enabled here")),
  };
}

/** What we say about ourselves in the A-ASSOCIATE-RQ (the `[server]` section has them). */
export interface ScuIdentity {
  maxPduLength: number;
  implementationClassUid: string;
  implementationVersionName: string;
}

export interface ScuAssociationOptions {
  connector: Connector;
  peer: ScuPeer;
  callingAeTitle: string;
  identity: ScuIdentity;
  presentationContexts: { id: number; abstractSyntax: string; transferSyntaxes: string[] }[];
  /** SCP/SCU role selection (PS3.7 D.3.3.4): C-GET's storage classes. */
  roleSelections?: RequestorOptions["roleSelections"];
  /** Handlers for requests the peer sends us (C-GET's C-STORE sub-operations). */
  services?: RequestorOptions["services"];
  /** Connection and association set-up, and each wait for the peer. */
  timeoutMs: number;
  logger: Logger;
  /** The association's id in log lines; default "scu". */
  id?: string;
  /** PS3.8 ARTIM timer once open; default timeoutMs. */
  artimTimeoutMs?: number;
  /** A peer silent this long while we wait for it aborts the association; default 0 (none). */
  idleTimeoutMs?: number;
}

/**
 * An association that could not be opened: the peer could not be reached, rejected it
 * (A-ASSOCIATE-RJ), or did not accept it (no answer in time, an abort, a broken connection).
 * `detail` is what went wrong, without the peer's name.
 */
export class ScuAssociationError extends Error {
  constructor(
    message: string,
    readonly kind: "unreachable" | "rejected" | "not-accepted",
    readonly detail: string,
  ) {
    super(message);
    this.name = "ScuAssociationError";
  }
}

/** `AET@host:port`, as messages name a peer. */
export const peerName = (p: ScuPeer) => `${p.aeTitle}@${p.host}:${p.port}`;

/** Opens an association; failures are ScuAssociationErrors with readable messages. */
export async function openScuAssociation(o: ScuAssociationOptions): Promise<RequestorAssociation> {
  const where = peerName(o.peer);
  let connection;
  try {
    connection = await o.connector.connect(o.peer.host, o.peer.port, o.timeoutMs);
  } catch (e) {
    const detail = (e as Error).message;
    throw new ScuAssociationError(`cannot connect to ${where}: ${detail}`, "unreachable", detail);
  }
  const assoc = new RequestorAssociation({
    id: o.id ?? "scu",
    connection,
    logger: o.logger,
    artimTimeoutMs: o.artimTimeoutMs ?? o.timeoutMs,
    idleTimeoutMs: o.idleTimeoutMs ?? 0,
    maxPduLength: o.identity.maxPduLength,
    callingAeTitle: o.callingAeTitle,
    calledAeTitle: o.peer.aeTitle,
    implementationClassUid: o.identity.implementationClassUid,
    implementationVersionName: o.identity.implementationVersionName,
    presentationContexts: o.presentationContexts,
    roleSelections: o.roleSelections,
    services: o.services,
  });
  try {
    return await withTimeout(assoc.open(), o.timeoutMs, `association with ${where}`);
  } catch (e) {
    await assoc.abort().catch(() => {});
    if (e instanceof AssociationRejectedError) {
      const detail = describeRejection(e);
      throw new ScuAssociationError(
        `${where} rejected the association: ${detail}`,
        "rejected",
        detail,
      );
    }
    const detail = (e as Error).message;
    throw new ScuAssociationError(detail, "not-accepted", detail);
  }
}

/** Releases the association, or aborts it when the peer does not answer the A-RELEASE-RQ. */
export async function releaseOrAbort(assoc: RequestorAssociation, timeoutMs: number) {
  await withTimeout(assoc.release(), timeoutMs, "A-RELEASE").catch(() => assoc.abort());
}

/** A-ASSOCIATE-RJ in words (PS3.8 9.3.4). */
export function describeRejection(e: AssociationRejectedError): string {
  const { result, source, reason } = e.rj;
  const kind = result === RejectResult.Transient ? "transient" : "permanent";
  let why = `reason ${reason}`;
  if (source === RejectSource.ServiceUser) {
    why = reason === RejectReason.CallingAeNotRecognized
      ? "calling AE title not recognized"
      : reason === RejectReason.CalledAeNotRecognized
      ? "called AE title not recognized"
      : reason === RejectReason.ApplicationContextNotSupported
      ? "application context not supported"
      : "no reason given";
  } else if (source === RejectSource.ServiceProviderPresentation) {
    why = reason === RejectReason.LocalLimitExceeded
      ? "local limit exceeded (too many associations)"
      : "temporary congestion";
  } else if (
    source === RejectSource.ServiceProviderAcse &&
    reason === RejectReason.ProtocolVersionNotSupported
  ) {
    why = "protocol version not supported";
  }
  return `${why} (${kind})`;
}

/** Runs `step` with a deadline: a peer that never answers ends in an Error, not a hang. */
export async function withTimeout<T>(step: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      step,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
