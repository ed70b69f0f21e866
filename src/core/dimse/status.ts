// DIMSE status codes (PS3.7 Annex C; service-specific ones from PS3.4 B.2.3, C.4).

export const Status = {
  // General (PS3.7 C.1-C.5)
  Success: 0x0000,
  Cancel: 0xfe00,
  Pending: 0xff00,
  /** C-FIND: pending, optional keys not supported (PS3.4 C.4.1.1.4). */
  PendingWarning: 0xff01,
  /** Warning: requested optional attributes are not supported (PS3.7 C.4.1). */
  AttributeNotSupported: 0x0001,
  AttributeListError: 0x0107,
  AttributeValueOutOfRange: 0x0116,
  NoSuchAttribute: 0x0105,
  InvalidAttributeValue: 0x0106,
  ProcessingFailure: 0x0110,
  DuplicateSopInstance: 0x0111,
  NoSuchSopInstance: 0x0112,
  NoSuchEventType: 0x0113,
  NoSuchArgument: 0x0114,
  InvalidArgumentValue: 0x0115,
  InvalidObjectInstance: 0x0117,
  NoSuchSopClass: 0x0118,
  ClassInstanceConflict: 0x0119,
  MissingAttribute: 0x0120,
  MissingAttributeValue: 0x0121,
  SopClassNotSupported: 0x0122,
  NoSuchActionType: 0x0123,
  NotAuthorized: 0x0124,
  DuplicateInvocation: 0x0210,
  UnrecognizedOperation: 0x0211,
  MistypedArgument: 0x0212,
  ResourceLimitation: 0x0213,

  // Storage (PS3.4 B.2.3)
  RefusedOutOfResources: 0xa700,
  DataSetDoesNotMatchSopClass: 0xa900,
  CannotUnderstand: 0xc000,
  /** Warning: data elements were coerced. */
  CoercionOfDataElements: 0xb000,
  ElementsDiscarded: 0xb006,
  DataSetDoesNotMatchSopClassWarning: 0xb007,

  // Query/Retrieve (PS3.4 C.4.1-C.4.3)
  OutOfResourcesMatches: 0xa701,
  OutOfResourcesSubOps: 0xa702,
  RefusedMoveDestinationUnknown: 0xa801,
  IdentifierDoesNotMatchSopClass: 0xa900,
  UnableToProcess: 0xc001,
  /** Warning: sub-operations complete, one or more failures or warnings. */
  SubOpsCompleteWithFailures: 0xb000,
} as const;

export type StatusCategory = "success" | "pending" | "cancel" | "warning" | "failure";

/** Category of a status code (PS3.7 C.1). */
export function statusCategory(s: number): StatusCategory {
  if (s === Status.Success) return "success";
  if (s === Status.Pending || s === Status.PendingWarning) return "pending";
  if (s === Status.Cancel) return "cancel";
  if (
    s === Status.AttributeNotSupported || s === Status.AttributeListError ||
    s === Status.AttributeValueOutOfRange || (s >= 0xb000 && s <= 0xbfff)
  ) return "warning";
  return "failure";
}

/** "0xA700 failure", for logs. */
export function statusText(s: number): string {
  return `0x${s.toString(16).toUpperCase().padStart(4, "0")} ${statusCategory(s)}`;
}
