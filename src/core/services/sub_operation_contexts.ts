// The presentation contexts of C-STORE sub-operations (PS3.4 C.4.2.3, C.4.3.3; PS3.8 9.3.2.2):
// what a C-MOVE sub-association proposes, which accepted context carries each stored object
// (as stored, or re-encoded into an uncompressed syntax), and why none does.
import { canTranscode } from "../dicom/transcode.ts";
import { sopClassName } from "../dicom/sop_classes.ts";
import {
  EXPLICIT_VR_BE,
  EXPLICIT_VR_LE,
  IMPLICIT_VR_LE,
  TRANSFER_SYNTAXES,
} from "../dicom/transfer_syntaxes.ts";
import type { AcceptedContext } from "../ul/negotiation.ts";

/** Presentation context ids are odd, 1..255: at most 128 per association (PS3.8 9.3.2.2). */
export const MAX_CONTEXTS = 128;
/** What a sub-operation needs to know of an instance. */
export interface SubOperationTarget {
  sopInstanceUid: string;
  sopClassUid: string;
  /** As received (and indexed); the stored file may be compressed at rest. */
  transferSyntaxUid: string;
}

export interface PresentationContextProposal {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

/**
 * The presentation contexts a sub-association proposes for these instances (PS3.8 9.3.2.2):
 * for every SOP class and stored transfer syntax one context proposing that syntax alone, so
 * that a destination preferring another syntax cannot pick it there; then, per SOP class, one
 * context with Explicit VR LE and Implicit VR LE, the fallback an object is re-encoded into
 * when its own syntax was refused. Past 128 contexts the stored-syntax contexts come first
 * (the most used pairs first), then the fallbacks of the most used classes; the rest are left
 * out (see README, Retrieve).
 */
export function proposeContexts(
  instances: Iterable<SubOperationTarget>,
): PresentationContextProposal[] {
  const pairs = new Map<string, { sopClassUid: string; ts: string; n: number }>();
  const classes = new Map<string, number>();
  for (const i of instances) {
    const key = `${i.sopClassUid} ${i.transferSyntaxUid}`;
    const entry = pairs.get(key);
    if (entry) entry.n++;
    else pairs.set(key, { sopClassUid: i.sopClassUid, ts: i.transferSyntaxUid, n: 1 });
    classes.set(i.sopClassUid, (classes.get(i.sopClassUid) ?? 0) + 1);
  }
  const stored = [...pairs.values()].sort((a, b) => b.n - a.n).map((p) => ({
    abstractSyntax: p.sopClassUid,
    transferSyntaxes: [p.ts],
  }));
  const fallbacks = [...classes.entries()].sort((a, b) => b[1] - a[1]).map(([uid]) => ({
    abstractSyntax: uid,
    transferSyntaxes: [...FALLBACK_TRANSFER_SYNTAXES],
  }));
  return [...stored, ...fallbacks].slice(0, MAX_CONTEXTS).map((p, k) => ({ id: 2 * k + 1, ...p }));
}

/** The uncompressed syntaxes every sub-association offers per class, Explicit VR LE first. */
export const FALLBACK_TRANSFER_SYNTAXES: readonly string[] = [EXPLICIT_VR_LE, IMPLICIT_VR_LE];

/**
 * C-GET: a transfer syntax any uncompressed stored image can be sent in, as stored or re-encoded
 * by canTranscode()'s rules (today Explicit and Implicit VR LE, not Big Endian).
 */
export function producesTransferSyntax(uid: string): boolean {
  return [IMPLICIT_VR_LE, EXPLICIT_VR_LE, EXPLICIT_VR_BE].some((from) => canTranscode(from, uid));
}

export interface ContextChoice {
  context: AcceptedContext;
  /** The dataset must be re-encoded into the context's transfer syntax. */
  transcode: boolean;
}

/**
 * The context to send an instance on: one accepted in the syntax it was received in if any
 * (the object goes as stored, or decoded back when it was compressed at rest), else one it
 * can be re-encoded into (canTranscode(); Explicit VR LE preferred, then Implicit VR LE), else
 * one in the stored file's syntax. Null when there is none: noContextReason() says why.
 */
export function chooseContext(
  contexts: Iterable<AcceptedContext>,
  sopClassUid: string,
  storedTransferSyntax: string,
  receivedTransferSyntax = storedTransferSyntax,
): ContextChoice | null {
  let best: { context: AcceptedContext; rank: number } | undefined;
  const rank = (ts: string) => {
    if (ts === receivedTransferSyntax) return -1;
    const i = FALLBACK_TRANSFER_SYNTAXES.indexOf(ts);
    if (i >= 0) return i;
    return ts === storedTransferSyntax
      ? FALLBACK_TRANSFER_SYNTAXES.length + 1
      : FALLBACK_TRANSFER_SYNTAXES.length;
  };
  for (const c of contexts) {
    if (c.abstractSyntax !== sopClassUid) continue;
    const ts = c.transferSyntax;
    if (ts === storedTransferSyntax && ts === receivedTransferSyntax) {
      return { context: c, transcode: false };
    }
    if (ts !== storedTransferSyntax && !canTranscode(storedTransferSyntax, ts)) continue;
    if (!best || rank(ts) < best.rank) best = { context: c, rank: rank(ts) };
  }
  if (!best) return null;
  return { context: best.context, transcode: best.context.transferSyntax !== storedTransferSyntax };
}

/** Why chooseContext() found no context, in words for the log. */
export function noContextReason(
  contexts: Iterable<AcceptedContext>,
  sopClassUid: string,
  storedTransferSyntax: string,
): string {
  const accepted = new Set<string>();
  for (const c of contexts) if (c.abstractSyntax === sopClassUid) accepted.add(c.transferSyntax);
  const className = sopClassName(sopClassUid);
  const storedName = transferSyntaxName(storedTransferSyntax);
  if (accepted.size === 0) {
    return `no presentation context for ${className} was accepted (object stored as ${storedName})`;
  }
  const names = [...accepted].map(transferSyntaxName).join(", ");
  const compressed = TRANSFER_SYNTAXES.get(storedTransferSyntax);
  const cannot = compressed?.encapsulated || compressed?.deflated
    ? `no decoder for ${storedName}`
    : `no conversion from ${storedName} to ${accepted.size === 1 ? "it" : "them"}`;
  return `the destination accepted only ${names} for ${className}; ${cannot}`;
}

function transferSyntaxName(uid: string): string {
  return TRANSFER_SYNTAXES.get(uid)?.name ?? uid;
}
