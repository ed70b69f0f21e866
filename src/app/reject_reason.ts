// The bounded labels of rejected associations (the `reason` of
// minipacs_associations_rejected_total), read from the negotiation's reason text.

/** Every rejection label, so that each metric series exists from the start. */
export const REJECT_REASONS = [
  "local_limit",
  "protocol_version",
  "application_context",
  "called_ae",
  "calling_ae",
  "other",
] as const;

export type RejectReason = typeof REJECT_REASONS[number];

/** A bounded label for a rejection, from the negotiation's reason text. */
export function rejectReason(why: string): RejectReason {
  if (/too many|limit/i.test(why)) return "local_limit";
  if (/protocol version/i.test(why)) return "protocol_version";
  if (/application context/i.test(why)) return "application_context";
  if (/called AE/i.test(why)) return "called_ae";
  if (/calling AE/i.test(why)) return "calling_ae";
  return "other";
}
