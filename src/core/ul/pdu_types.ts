// Upper layer PDU structures (PS3.8 9.3). Plain data; the codec is pdu_encode.ts and
// pdu_decode.ts.

/** PDU type byte (PS3.8 Table 9-11 ff.). */
export const PduType = {
  AAssociateRq: 0x01,
  AAssociateAc: 0x02,
  AAssociateRj: 0x03,
  PDataTf: 0x04,
  AReleaseRq: 0x05,
  AReleaseRp: 0x06,
  AAbort: 0x07,
} as const;
export type PduType = typeof PduType[keyof typeof PduType];

/** PDU type (1) + reserved (1) + PDU length (4). */
export const PDU_HEADER_LENGTH = 6;
/** Fixed part of an A-ASSOCIATE-RQ/AC body before its variable items (PS3.8 Table 9-11). */
export const ASSOCIATE_FIXED_LENGTH = 68;
/** PDV item length (4) + presentation context id (1) + message control header (1). */
export const PDV_HEADER_LENGTH = 6;
/** Called and Calling AE Title fields of the A-ASSOCIATE-RQ/AC (PS3.8 Table 9-11). */
export const AE_TITLE_LENGTH = 16;

/** Item type bytes of the variable items (PS3.8 9.3.2, Annex D, PS3.7 D.3.3). */
export const ItemType = {
  ApplicationContext: 0x10,
  PresentationContextRq: 0x20,
  PresentationContextAc: 0x21,
  AbstractSyntax: 0x30,
  TransferSyntax: 0x40,
  UserInformation: 0x50,
  MaximumLength: 0x51,
  ImplementationClassUid: 0x52,
  AsynchronousOperationsWindow: 0x53,
  ScpScuRoleSelection: 0x54,
  ImplementationVersionName: 0x55,
  SopClassExtendedNegotiation: 0x56,
  SopClassCommonExtendedNegotiation: 0x57,
  UserIdentityRq: 0x58,
  UserIdentityAc: 0x59,
} as const;

/** The DICOM application context name (PS3.7 A.2.1). */
export const DICOM_APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1";

export interface PresentationContextRq {
  /** Odd, 1..255. */
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

/** Presentation context result/reason (PS3.8 Table 9-18). */
export const PcResult = {
  Acceptance: 0,
  UserRejection: 1,
  NoReason: 2,
  AbstractSyntaxNotSupported: 3,
  TransferSyntaxesNotSupported: 4,
} as const;
export type PcResult = typeof PcResult[keyof typeof PcResult];

export interface PresentationContextAc {
  id: number;
  result: PcResult;
  /** Only meaningful when result is Acceptance; otherwise sent as given (may be ""). */
  transferSyntax: string;
}

export interface ScpScuRoleSelection {
  sopClassUid: string;
  scuRole: boolean;
  scpRole: boolean;
}

export interface SopClassExtendedNegotiation {
  sopClassUid: string;
  info: Uint8Array;
}

export interface SopClassCommonExtendedNegotiation {
  sopClassUid: string;
  serviceClassUid: string;
  relatedGeneralSopClassUids: string[];
}

export interface UserIdentityRq {
  /** 1 username, 2 username+passcode, 3 Kerberos, 4 SAML, 5 JWT. */
  type: number;
  positiveResponseRequested: boolean;
  primaryField: Uint8Array;
  secondaryField: Uint8Array;
}

export interface UnknownItem {
  type: number;
  data: Uint8Array;
}

/** User Information item (PS3.8 9.3.2.3, PS3.7 Annex D.3.3). */
export interface UserInformation {
  /** Maximum Length Received; 0 = no limit. */
  maxLength: number;
  implementationClassUid: string;
  implementationVersionName?: string;
  asyncOpsWindow?: { maxInvoked: number; maxPerformed: number };
  roleSelections: ScpScuRoleSelection[];
  extendedNegotiations: SopClassExtendedNegotiation[];
  commonExtendedNegotiations: SopClassCommonExtendedNegotiation[];
  userIdentityRq?: UserIdentityRq;
  /** Server response of a user identity negotiation (A-ASSOCIATE-AC only). */
  userIdentityAc?: Uint8Array;
  /** Sub-items we do not know: kept so a round trip gives them back. */
  unknown: UnknownItem[];
}

export interface AAssociateRq {
  type: typeof PduType.AAssociateRq;
  protocolVersion: number;
  calledAeTitle: string;
  callingAeTitle: string;
  applicationContext: string;
  presentationContexts: PresentationContextRq[];
  userInformation: UserInformation;
}

export interface AAssociateAc {
  type: typeof PduType.AAssociateAc;
  protocolVersion: number;
  /** Returned as received in the RQ (not tested by the receiver). */
  calledAeTitle: string;
  callingAeTitle: string;
  applicationContext: string;
  presentationContexts: PresentationContextAc[];
  userInformation: UserInformation;
}

/** A-ASSOCIATE-RJ result/source/reason (PS3.8 9.3.4). */
export const RejectResult = { Permanent: 1, Transient: 2 } as const;
export const RejectSource = {
  ServiceUser: 1,
  ServiceProviderAcse: 2,
  ServiceProviderPresentation: 3,
} as const;
export const RejectReason = {
  // source 1 (service user)
  NoReasonGiven: 1,
  ApplicationContextNotSupported: 2,
  CallingAeNotRecognized: 3,
  CalledAeNotRecognized: 7,
  // source 2 (ACSE)
  AcseNoReasonGiven: 1,
  ProtocolVersionNotSupported: 2,
  // source 3 (presentation): 1 temporary congestion, 2 local limit exceeded
  TemporaryCongestion: 1,
  LocalLimitExceeded: 2,
} as const;

export interface AAssociateRj {
  type: typeof PduType.AAssociateRj;
  result: number;
  source: number;
  reason: number;
}

/** One Presentation Data Value item (PS3.8 9.3.5.1, Annex E.2). */
export interface Pdv {
  presentationContextId: number;
  /** Message control header bit 0. */
  isCommand: boolean;
  /** Message control header bit 1. */
  isLast: boolean;
  /** A view into the received bytes; not copied. */
  data: Uint8Array;
}

export interface PDataTf {
  type: typeof PduType.PDataTf;
  pdvs: Pdv[];
}

export interface AReleaseRq {
  type: typeof PduType.AReleaseRq;
}

export interface AReleaseRp {
  type: typeof PduType.AReleaseRp;
}

/** A-ABORT source (PS3.8 9.3.8): 0 service user, 2 service provider. */
export const AbortSource = { ServiceUser: 0, ServiceProvider: 2 } as const;
/** A-ABORT reason when the source is the service provider. */
export const AbortReason = {
  NotSpecified: 0,
  UnrecognizedPdu: 1,
  UnexpectedPdu: 2,
  UnrecognizedPduParameter: 4,
  UnexpectedPduParameter: 5,
  InvalidPduParameterValue: 6,
} as const;

export interface AAbort {
  type: typeof PduType.AAbort;
  source: number;
  reason: number;
}

export type Pdu =
  | AAssociateRq
  | AAssociateAc
  | AAssociateRj
  | PDataTf
  | AReleaseRq
  | AReleaseRp
  | AAbort;

/** A malformed or unacceptable PDU; `reason` is the A-ABORT reason to send. */
export class PduError extends Error {
  constructor(message: string, readonly reason: number = AbortReason.InvalidPduParameterValue) {
    super(message);
    this.name = "PduError";
  }
}
