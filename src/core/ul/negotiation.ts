// Association negotiation as the acceptor: a pure function of the request and our policy
// (PS3.8 7.1.1, 9.3.3; PS3.7 D.3.3).
import {
  AAssociateAc,
  AAssociateRj,
  AAssociateRq,
  DICOM_APPLICATION_CONTEXT,
  PcResult,
  PduType,
  PresentationContextAc,
  RejectReason,
  RejectResult,
  RejectSource,
  ScpScuRoleSelection,
  SopClassExtendedNegotiation,
} from "./pdu_types.ts";

/** One abstract syntax we serve, with the transfer syntaxes we take for it. */
export interface SupportedSyntax {
  abstractSyntax: string;
  /** Transfer syntaxes accepted for this abstract syntax. */
  acceptsTransferSyntax(uid: string): boolean;
  /** True when we accept the SCP role the requestor proposes for this class (C-GET storage). */
  acceptsScpRole?: boolean;
  /**
   * When the requestor takes the SCP role (we send, C-GET): true for a transfer syntax we can
   * produce from any stored object of the class, as stored or re-encoded. The first proposed
   * one wins; a context proposing none of them gets its first supported syntax.
   */
  producesTransferSyntax?(uid: string): boolean;
  /**
   * Our reply to the requestor's SOP Class Extended Negotiation for this class (PS3.7 D.3.3.5);
   * absent: the item is not answered, which declines every option.
   */
  extendedNegotiation?(info: Uint8Array): Uint8Array;
}

export interface AcceptorPolicy {
  aeTitle: string;
  checkCalledAe: boolean;
  /** When set, only these calling AE titles may associate. */
  knownCallingAeTitles?: ReadonlySet<string>;
  maxPduLength: number;
  implementationClassUid: string;
  implementationVersionName: string;
  /** The one table of what we serve: abstract syntax UID -> support. */
  syntaxes: ReadonlyMap<string, SupportedSyntax>;
  /** Set when the server already has its maximum number of associations. */
  overLimit?: boolean;
  /**
   * Set when the calling AE already has this many associations open with us, its own limit
   * ([[known_ae]] max_incoming): the request is rejected as transient, like overLimit.
   */
  callingAeLimit?: number;
  /**
   * Set when the calling AE title may not be used from this connection (a [[known_ae]]
   * tls_name or hosts not met): rejected as calling AE not recognized, with a warning.
   */
  callerRefused?: string;
  /**
   * The name of the service an abstract syntax belongs to when this caller may not use it
   * (accept policy, [[known_ae]] allow); undefined when it may. Such a context is rejected
   * (result 1, user rejection) and named in the outcome's `refused`.
   */
  refusedService?(abstractSyntax: string): string | undefined;
}

/** An accepted presentation context, as both sides now use it. */
export interface AcceptedContext {
  id: number;
  abstractSyntax: string;
  transferSyntax: string;
  /** Roles after SCP/SCU role selection (PS3.7 D.3.3.4); default: requestor SCU, we SCP. */
  requestorIsScu: boolean;
  requestorIsScp: boolean;
  /** The service-class application information we answered with, when negotiated. */
  extendedNegotiation?: Uint8Array;
}

/**
 * Why an association was rejected, in a few fixed words (the `reason` label of the rejection
 * counter): each rejection below gives one, so nothing has to read the reason text.
 */
export const REJECT_LABELS = [
  "local_limit",
  "protocol_version",
  "application_context",
  "called_ae",
  "calling_ae",
  "other",
] as const;
export type RejectLabel = typeof REJECT_LABELS[number];

export type NegotiationOutcome =
  /** `warn`: worth a warning in the log (a peer held back by its own limit). */
  | { accepted: false; rj: AAssociateRj; label: RejectLabel; why: string; warn?: boolean }
  | {
    accepted: true;
    ac: AAssociateAc;
    contexts: Map<number, AcceptedContext>;
    /** The peer's Maximum Length Received: we never send a PDU larger (0 = no limit). */
    peerMaxPduLength: number;
    /** Services refused to this caller, each once (for a warning). */
    refused?: string[];
  };

function reject(
  source: number,
  reason: number,
  result: number,
  label: RejectLabel,
  why: string,
  warn = false,
): NegotiationOutcome {
  const rj: AAssociateRj = { type: PduType.AAssociateRj, result, source, reason };
  return warn ? { accepted: false, rj, label, why, warn } : { accepted: false, rj, label, why };
}

export function negotiateAsAcceptor(rq: AAssociateRq, policy: AcceptorPolicy): NegotiationOutcome {
  const called = rq.calledAeTitle.trim();
  const calling = rq.callingAeTitle.trim();
  if (policy.overLimit) {
    return reject(
      RejectSource.ServiceProviderPresentation,
      RejectReason.LocalLimitExceeded,
      RejectResult.Transient,
      "local_limit",
      "too many associations (local limit exceeded)",
    );
  }
  if ((rq.protocolVersion & 1) === 0) {
    return reject(
      RejectSource.ServiceProviderAcse,
      RejectReason.ProtocolVersionNotSupported,
      RejectResult.Permanent,
      "protocol_version",
      `protocol version ${rq.protocolVersion} not supported`,
    );
  }
  if (rq.applicationContext !== DICOM_APPLICATION_CONTEXT) {
    return reject(
      RejectSource.ServiceUser,
      RejectReason.ApplicationContextNotSupported,
      RejectResult.Permanent,
      "application_context",
      `application context ${rq.applicationContext} not supported`,
    );
  }
  if (policy.checkCalledAe && called !== policy.aeTitle.trim()) {
    return reject(
      RejectSource.ServiceUser,
      RejectReason.CalledAeNotRecognized,
      RejectResult.Permanent,
      "called_ae",
      `called AE title "${called}" is not ours`,
    );
  }
  if (policy.knownCallingAeTitles && !policy.knownCallingAeTitles.has(calling)) {
    return reject(
      RejectSource.ServiceUser,
      RejectReason.CallingAeNotRecognized,
      RejectResult.Permanent,
      "calling_ae",
      `calling AE title "${calling}" is not a known AE`,
    );
  }
  if (policy.callerRefused !== undefined) {
    return reject(
      RejectSource.ServiceUser,
      RejectReason.CallingAeNotRecognized,
      RejectResult.Permanent,
      "calling_ae",
      policy.callerRefused,
      true,
    );
  }
  // Checked once the peer is identified: the same transient rejection as the global limit
  // (PS3.8 9.3.4: rejected-transient, service-provider presentation, local-limit-exceeded).
  if (policy.callingAeLimit !== undefined) {
    return reject(
      RejectSource.ServiceProviderPresentation,
      RejectReason.LocalLimitExceeded,
      RejectResult.Transient,
      "local_limit",
      `calling AE title "${calling}" already has its max_incoming = ${policy.callingAeLimit} ` +
        `associations open (local limit exceeded)`,
      true,
    );
  }

  const roles = new Map<string, ScpScuRoleSelection>();
  for (const r of rq.userInformation.roleSelections) roles.set(r.sopClassUid, r);
  const roleReplies: ScpScuRoleSelection[] = [];
  const contexts = new Map<number, AcceptedContext>();
  const results: PresentationContextAc[] = [];
  const refused = new Set<string>();
  for (const pc of rq.presentationContexts) {
    const support = policy.syntaxes.get(pc.abstractSyntax);
    if (!support) {
      results.push({ id: pc.id, result: PcResult.AbstractSyntaxNotSupported, transferSyntax: "" });
      continue;
    }
    const service = policy.refusedService?.(pc.abstractSyntax);
    if (service !== undefined) {
      refused.add(service);
      results.push({ id: pc.id, result: PcResult.UserRejection, transferSyntax: "" });
      continue;
    }
    let requestorIsScu = true;
    let requestorIsScp = false;
    const role = roles.get(pc.abstractSyntax);
    if (role) {
      // PS3.7 D.3.3.4: we may accept a proposed role or answer 0 for it.
      requestorIsScp = role.scpRole && !!support.acceptsScpRole;
      requestorIsScu = role.scuRole;
    }
    const supported = pc.transferSyntaxes.filter((t) => support.acceptsTransferSyntax(t));
    // The first proposed transfer syntax that we support wins: objects are stored as sent.
    // Where we are the sender (C-GET), the first proposed one we can produce from any object
    // (not a compressed one, which only objects stored in it could go in).
    const ts = requestorIsScp
      ? supported.find((t) => support.producesTransferSyntax?.(t)) ?? supported[0]
      : supported[0];
    if (!ts) {
      results.push({
        id: pc.id,
        result: PcResult.TransferSyntaxesNotSupported,
        transferSyntax: "",
      });
      continue;
    }
    results.push({ id: pc.id, result: PcResult.Acceptance, transferSyntax: ts });
    contexts.set(pc.id, {
      id: pc.id,
      abstractSyntax: pc.abstractSyntax,
      transferSyntax: ts,
      requestorIsScu,
      requestorIsScp,
    });
  }
  for (const role of roles.values()) {
    const support = policy.syntaxes.get(role.sopClassUid);
    roleReplies.push({
      sopClassUid: role.sopClassUid,
      scuRole: role.scuRole,
      scpRole: role.scpRole && !!support?.acceptsScpRole,
    });
  }

  // SOP Class Extended Negotiation: answered by the service for classes we accepted.
  const extendedReplies: SopClassExtendedNegotiation[] = [];
  for (const item of rq.userInformation.extendedNegotiations) {
    const reply = policy.syntaxes.get(item.sopClassUid)?.extendedNegotiation?.(item.info);
    const contextsOfClass = [...contexts.values()].filter((c) =>
      c.abstractSyntax === item.sopClassUid
    );
    if (!reply || contextsOfClass.length === 0) continue;
    extendedReplies.push({ sopClassUid: item.sopClassUid, info: reply });
    for (const c of contextsOfClass) c.extendedNegotiation = reply;
  }

  const ac: AAssociateAc = {
    type: PduType.AAssociateAc,
    protocolVersion: 1,
    calledAeTitle: rq.calledAeTitle,
    callingAeTitle: rq.callingAeTitle,
    applicationContext: DICOM_APPLICATION_CONTEXT,
    presentationContexts: results,
    userInformation: {
      maxLength: policy.maxPduLength,
      implementationClassUid: policy.implementationClassUid,
      implementationVersionName: policy.implementationVersionName,
      // We perform one operation at a time (statement 3.1.2): an offered window gets 1/1.
      asyncOpsWindow: rq.userInformation.asyncOpsWindow
        ? { maxInvoked: 1, maxPerformed: 1 }
        : undefined,
      roleSelections: roleReplies,
      extendedNegotiations: extendedReplies,
      commonExtendedNegotiations: [],
      unknown: [],
    },
  };
  return {
    accepted: true,
    ac,
    contexts,
    peerMaxPduLength: rq.userInformation.maxLength,
    refused: refused.size ? [...refused] : undefined,
  };
}
