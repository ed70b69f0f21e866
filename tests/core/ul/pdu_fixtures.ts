// Hand-made PDU byte fixtures, laid out field by field from PS3.8 Tables 9-11..9-26 and
// PS3.7 D.3.3, with the structures they decode to. Lengths are counted by hand.

import {
  type AAbort,
  type AAssociateAc,
  type AAssociateRj,
  type AAssociateRq,
  type AReleaseRp,
  type AReleaseRq,
  type PDataTf,
  PduType,
} from "../../../src/core/ul/pdu_types.ts";

/** The bytes of an ASCII string. */
function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0));
}

/** A 16-byte AE title field: the title, space padded (PS3.8 9.3.2). */
function ae(s: string): number[] {
  return ascii(s.padEnd(16, " "));
}

/** The 32 reserved bytes before the variable items of A-ASSOCIATE-RQ/AC. */
const reserved32 = new Array<number>(32).fill(0);

const VERIFICATION = "1.2.840.10008.1.1";
const IMPLICIT_LE = "1.2.840.10008.1.2";
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2";
const ENHANCED_CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1";
const STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1";
const STORAGE_SERVICE_CLASS = "1.2.840.10008.4.2";
const DCMTK_CLASS_UID = "1.2.276.0.7230010.3.0.3.6.7";

/** A-ASSOCIATE-RQ as DCMTK 3.6.7 echoscu sends it (PS3.8 Table 9-11). */
// deno-fmt-ignore
export const echoscuAssociateRq = new Uint8Array([
  0x01, 0x00, // PDU type 01, reserved
  0x00, 0x00, 0x00, 0xcd, // PDU length 205 = 68 + 25 + 50 + 62
  0x00, 0x01, // protocol version, bit 0
  0x00, 0x00, // reserved
  ...ae("ANY-SCP"), // called AE title
  ...ae("ECHOSCU"), // calling AE title
  ...reserved32,
  // Application Context item (Table 9-12)
  0x10, 0x00, 0x00, 0x15, // type 10, reserved, length 21
  ...ascii("1.2.840.10008.3.1.1.1"),
  // Presentation Context item (Table 9-13)
  0x20, 0x00, 0x00, 0x2e, // type 20, reserved, length 46 = 4 + 21 + 21
  0x01, 0x00, 0x00, 0x00, // context id 1, three reserved bytes
  0x30, 0x00, 0x00, 0x11, // Abstract Syntax sub-item (Table 9-14), length 17
  ...ascii(VERIFICATION),
  0x40, 0x00, 0x00, 0x11, // Transfer Syntax sub-item (Table 9-15), length 17
  ...ascii(IMPLICIT_LE),
  // User Information item (Table 9-16)
  0x50, 0x00, 0x00, 0x3a, // type 50, reserved, length 58 = 8 + 31 + 19
  0x51, 0x00, 0x00, 0x04, // Maximum Length sub-item (PS3.8 D.1), length 4
  0x00, 0x00, 0x40, 0x00, // 16384
  0x52, 0x00, 0x00, 0x1b, // Implementation Class UID (PS3.7 D.3.3.2), length 27
  ...ascii(DCMTK_CLASS_UID),
  0x55, 0x00, 0x00, 0x0f, // Implementation Version Name (PS3.7 D.3.3.2), length 15
  ...ascii("OFFIS_DCMTK_367"),
]);

export const echoscuAssociateRqPdu: AAssociateRq = {
  type: PduType.AAssociateRq,
  protocolVersion: 1,
  calledAeTitle: "ANY-SCP",
  callingAeTitle: "ECHOSCU",
  applicationContext: "1.2.840.10008.3.1.1.1",
  presentationContexts: [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] }],
  userInformation: {
    maxLength: 16384,
    implementationClassUid: DCMTK_CLASS_UID,
    implementationVersionName: "OFFIS_DCMTK_367",
    roleSelections: [],
    extendedNegotiations: [],
    commonExtendedNegotiations: [],
    unknown: [],
  },
};

/** The A-ASSOCIATE-AC an SCP answers it with (PS3.8 Table 9-17). */
// deno-fmt-ignore
export const echoscuAssociateAc = new Uint8Array([
  0x02, 0x00, // PDU type 02, reserved
  0x00, 0x00, 0x00, 0xb8, // PDU length 184 = 68 + 25 + 29 + 62
  0x00, 0x01, // protocol version
  0x00, 0x00, // reserved
  ...ae("ANY-SCP"), // reserved, sent back as received in the RQ
  ...ae("ECHOSCU"), // reserved, sent back as received in the RQ
  ...reserved32,
  0x10, 0x00, 0x00, 0x15, // Application Context item, length 21
  ...ascii("1.2.840.10008.3.1.1.1"),
  // Presentation Context item (Table 9-18)
  0x21, 0x00, 0x00, 0x19, // type 21, reserved, length 25 = 4 + 21
  0x01, 0x00, 0x00, 0x00, // context id 1, reserved, result 0 acceptance, reserved
  0x40, 0x00, 0x00, 0x11, // Transfer Syntax sub-item (Table 9-19), length 17
  ...ascii(IMPLICIT_LE),
  0x50, 0x00, 0x00, 0x3a, // User Information item, length 58
  0x51, 0x00, 0x00, 0x04, // Maximum Length 16384
  0x00, 0x00, 0x40, 0x00,
  0x52, 0x00, 0x00, 0x1b, // Implementation Class UID, length 27
  ...ascii(DCMTK_CLASS_UID),
  0x55, 0x00, 0x00, 0x0f, // Implementation Version Name, length 15
  ...ascii("OFFIS_DCMTK_367"),
]);

export const echoscuAssociateAcPdu: AAssociateAc = {
  type: PduType.AAssociateAc,
  protocolVersion: 1,
  calledAeTitle: "ANY-SCP",
  callingAeTitle: "ECHOSCU",
  applicationContext: "1.2.840.10008.3.1.1.1",
  presentationContexts: [{ id: 1, result: 0, transferSyntax: IMPLICIT_LE }],
  userInformation: {
    maxLength: 16384,
    implementationClassUid: DCMTK_CLASS_UID,
    implementationVersionName: "OFFIS_DCMTK_367",
    roleSelections: [],
    extendedNegotiations: [],
    commonExtendedNegotiations: [],
    unknown: [],
  },
};

/** An A-ASSOCIATE-RQ carrying every user information sub-item of PS3.7 D.3.3. */
// deno-fmt-ignore
export const richAssociateRq = new Uint8Array([
  0x01, 0x00, // PDU type 01, reserved
  0x00, 0x00, 0x01, 0xc3, // PDU length 451 = 68 + 25 + 81 + 50 + 227
  0x00, 0x01, // protocol version
  0x00, 0x00, // reserved
  ...ae("MINIPACS"), // called AE title
  ...ae("MODALITY"), // calling AE title
  ...reserved32,
  0x10, 0x00, 0x00, 0x15, // Application Context item, length 21
  ...ascii("1.2.840.10008.3.1.1.1"),
  0x20, 0x00, 0x00, 0x4d, // Presentation Context item, length 77 = 4 + 29 + 23 + 21
  0x01, 0x00, 0x00, 0x00, // context id 1
  0x30, 0x00, 0x00, 0x19, // Abstract Syntax, length 25
  ...ascii(CT_IMAGE_STORAGE),
  0x40, 0x00, 0x00, 0x13, // Transfer Syntax, length 19
  ...ascii(EXPLICIT_LE),
  0x40, 0x00, 0x00, 0x11, // Transfer Syntax, length 17
  ...ascii(IMPLICIT_LE),
  0x20, 0x00, 0x00, 0x2e, // Presentation Context item, length 46
  0x03, 0x00, 0x00, 0x00, // context id 3
  0x30, 0x00, 0x00, 0x11, // Abstract Syntax, length 17
  ...ascii(VERIFICATION),
  0x40, 0x00, 0x00, 0x11, // Transfer Syntax, length 17
  ...ascii(IMPLICIT_LE),
  // User Information item, length 223 = 8 + 15 + 8 + 33 + 14 + 37 + 81 + 21 + 6
  0x50, 0x00, 0x00, 0xdf,
  0x51, 0x00, 0x00, 0x04, // Maximum Length 65536
  0x00, 0x01, 0x00, 0x00,
  0x52, 0x00, 0x00, 0x0b, // Implementation Class UID, length 11
  ...ascii("1.2.3.4.5.6"),
  0x53, 0x00, 0x00, 0x04, // Asynchronous Operations Window (PS3.7 D.3.3.3)
  0x00, 0x01, // maximum number of operations invoked 1
  0x00, 0x01, // maximum number of operations performed 1
  0x54, 0x00, 0x00, 0x1d, // SCP/SCU Role Selection (PS3.7 D.3.3.4), length 29 = 2 + 25 + 2
  0x00, 0x19, // SOP class UID length 25
  ...ascii(CT_IMAGE_STORAGE),
  0x00, // SCU role: no
  0x01, // SCP role: yes
  0x55, 0x00, 0x00, 0x0a, // Implementation Version Name, length 10
  ...ascii("MINIPACS_2"),
  0x56, 0x00, 0x00, 0x21, // SOP Class Extended Negotiation (D.3.3.5), length 33 = 2 + 27 + 4
  0x00, 0x1b, // SOP class UID length 27
  ...ascii(STUDY_ROOT_FIND),
  0x01, 0x00, 0x01, 0x00, // service class application information (PS3.4 C.5.1.1)
  // SOP Class Common Extended Negotiation (D.3.3.6), length 77 = 29 + 19 + 2 + 27
  0x57, 0x00, 0x00, 0x4d, // type 57, sub-item version 0, length
  0x00, 0x1b, // SOP class UID length 27
  ...ascii(ENHANCED_CT_STORAGE),
  0x00, 0x11, // service class UID length 17
  ...ascii(STORAGE_SERVICE_CLASS),
  0x00, 0x1b, // related general SOP class identification length 27
  0x00, 0x19, // related general SOP class UID length 25 (Table D.3-13)
  ...ascii(CT_IMAGE_STORAGE),
  0x58, 0x00, 0x00, 0x11, // User Identity (D.3.3.7.1), length 17 = 2 + 2 + 5 + 2 + 6
  0x02, // user identity type 2: username and passcode
  0x01, // positive response requested
  0x00, 0x05, // primary field length 5
  ...ascii("alice"),
  0x00, 0x06, // secondary field length 6
  ...ascii("secret"),
  0xee, 0x00, 0x00, 0x02, // a sub-item type no standard defines, length 2
  0xca, 0xfe,
]);

const enc = new TextEncoder();

export const richAssociateRqPdu: AAssociateRq = {
  type: PduType.AAssociateRq,
  protocolVersion: 1,
  calledAeTitle: "MINIPACS",
  callingAeTitle: "MODALITY",
  applicationContext: "1.2.840.10008.3.1.1.1",
  presentationContexts: [
    { id: 1, abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [EXPLICIT_LE, IMPLICIT_LE] },
    { id: 3, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] },
  ],
  userInformation: {
    maxLength: 65536,
    implementationClassUid: "1.2.3.4.5.6",
    implementationVersionName: "MINIPACS_2",
    asyncOpsWindow: { maxInvoked: 1, maxPerformed: 1 },
    roleSelections: [{ sopClassUid: CT_IMAGE_STORAGE, scuRole: false, scpRole: true }],
    extendedNegotiations: [
      { sopClassUid: STUDY_ROOT_FIND, info: new Uint8Array([1, 0, 1, 0]) },
    ],
    commonExtendedNegotiations: [{
      sopClassUid: ENHANCED_CT_STORAGE,
      serviceClassUid: STORAGE_SERVICE_CLASS,
      relatedGeneralSopClassUids: [CT_IMAGE_STORAGE],
    }],
    userIdentityRq: {
      type: 2,
      positiveResponseRequested: true,
      primaryField: enc.encode("alice"),
      secondaryField: enc.encode("secret"),
    },
    unknown: [{ type: 0xee, data: new Uint8Array([0xca, 0xfe]) }],
  },
};

/** The A-ASSOCIATE-AC to it: context 1 accepted, 3 refused, identity confirmed. */
// deno-fmt-ignore
export const richAssociateAc = new Uint8Array([
  0x02, 0x00, // PDU type 02, reserved
  0x00, 0x00, 0x00, 0xe5, // PDU length 229 = 68 + 25 + 31 + 12 + 93
  0x00, 0x01, // protocol version
  0x00, 0x00, // reserved
  ...ae("MINIPACS"),
  ...ae("MODALITY"),
  ...reserved32,
  0x10, 0x00, 0x00, 0x15, // Application Context item, length 21
  ...ascii("1.2.840.10008.3.1.1.1"),
  0x21, 0x00, 0x00, 0x1b, // Presentation Context item, length 27 = 4 + 23
  0x01, 0x00, 0x00, 0x00, // context id 1, result 0 acceptance
  0x40, 0x00, 0x00, 0x13, // Transfer Syntax, length 19
  ...ascii(EXPLICIT_LE),
  0x21, 0x00, 0x00, 0x08, // Presentation Context item, length 8 = 4 + 4
  0x03, 0x00, 0x04, 0x00, // context id 3, result 4 transfer syntaxes not supported
  0x40, 0x00, 0x00, 0x00, // Transfer Syntax, empty: not significant when refused
  // User Information item, length 89 = 8 + 15 + 8 + 33 + 14 + 11
  0x50, 0x00, 0x00, 0x59,
  0x51, 0x00, 0x00, 0x04, // Maximum Length 16384
  0x00, 0x00, 0x40, 0x00,
  0x52, 0x00, 0x00, 0x0b, // Implementation Class UID, length 11
  ...ascii("1.2.3.4.5.6"),
  0x53, 0x00, 0x00, 0x04, // Asynchronous Operations Window 1/1
  0x00, 0x01, 0x00, 0x01,
  0x54, 0x00, 0x00, 0x1d, // SCP/SCU Role Selection, length 29
  0x00, 0x19,
  ...ascii(CT_IMAGE_STORAGE),
  0x00, 0x01, // SCU role no, SCP role yes
  0x55, 0x00, 0x00, 0x0a, // Implementation Version Name, length 10
  ...ascii("MINIPACS_2"),
  0x59, 0x00, 0x00, 0x07, // User Identity AC (D.3.3.7.2), length 7 = 2 + 5
  0x00, 0x05, // server response length 5
  ...ascii("token"),
]);

export const richAssociateAcPdu: AAssociateAc = {
  type: PduType.AAssociateAc,
  protocolVersion: 1,
  calledAeTitle: "MINIPACS",
  callingAeTitle: "MODALITY",
  applicationContext: "1.2.840.10008.3.1.1.1",
  presentationContexts: [
    { id: 1, result: 0, transferSyntax: EXPLICIT_LE },
    { id: 3, result: 4, transferSyntax: "" },
  ],
  userInformation: {
    maxLength: 16384,
    implementationClassUid: "1.2.3.4.5.6",
    implementationVersionName: "MINIPACS_2",
    asyncOpsWindow: { maxInvoked: 1, maxPerformed: 1 },
    roleSelections: [{ sopClassUid: CT_IMAGE_STORAGE, scuRole: false, scpRole: true }],
    extendedNegotiations: [],
    commonExtendedNegotiations: [],
    userIdentityAc: enc.encode("token"),
    unknown: [],
  },
};

/** A-ASSOCIATE-RJ (Table 9-21): permanent, by the service user, called AE not recognized. */
// deno-fmt-ignore
export const associateRj = new Uint8Array([
  0x03, 0x00, // PDU type 03, reserved
  0x00, 0x00, 0x00, 0x04, // PDU length 4
  0x00, // reserved
  0x01, // result 1 rejected-permanent
  0x01, // source 1 DICOM UL service-user
  0x07, // reason 7 called-AE-title-not-recognized
]);

export const associateRjPdu: AAssociateRj = {
  type: PduType.AAssociateRj,
  result: 1,
  source: 1,
  reason: 7,
};

/** The C-ECHO-RQ command set (Implicit VR Little Endian, PS3.7 9.3.5), 68 bytes. */
// deno-fmt-ignore
const cEchoRqCommand = [
  // (0000,0000) Command Group Length, UL, 4 bytes: 56
  0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00,
  // (0000,0002) Affected SOP Class UID, 18 bytes: Verification, NUL padded
  0x00, 0x00, 0x02, 0x00, 0x12, 0x00, 0x00, 0x00, ...ascii(VERIFICATION), 0x00,
  // (0000,0100) Command Field, US: 0x0030 C-ECHO-RQ
  0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x30, 0x00,
  // (0000,0110) Message ID, US: 1
  0x00, 0x00, 0x10, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00,
  // (0000,0800) Command Data Set Type, US: 0x0101 no data set
  0x00, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01,
];

/** P-DATA-TF (Table 9-22) with two PDVs (9.3.5.1, Annex E.2): a command in two fragments. */
// deno-fmt-ignore
export const pDataTf = new Uint8Array([
  0x04, 0x00, // PDU type 04, reserved
  0x00, 0x00, 0x00, 0x50, // PDU length 80 = 18 + 62
  0x00, 0x00, 0x00, 0x0e, // PDV item length 14 = 2 + 12
  0x01, // presentation context id 1
  0x01, // message control header: command, not last
  ...cEchoRqCommand.slice(0, 12),
  0x00, 0x00, 0x00, 0x3a, // PDV item length 58 = 2 + 56
  0x01, // presentation context id 1
  0x03, // message control header: command, last fragment
  ...cEchoRqCommand.slice(12),
]);

export const pDataTfPdu: PDataTf = {
  type: PduType.PDataTf,
  pdvs: [
    {
      presentationContextId: 1,
      isCommand: true,
      isLast: false,
      data: new Uint8Array(cEchoRqCommand.slice(0, 12)),
    },
    {
      presentationContextId: 1,
      isCommand: true,
      isLast: true,
      data: new Uint8Array(cEchoRqCommand.slice(12)),
    },
  ],
};

/** A-RELEASE-RQ (Table 9-24): four reserved bytes. */
export const releaseRq = new Uint8Array([0x05, 0x00, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 0]);
export const releaseRqPdu: AReleaseRq = { type: PduType.AReleaseRq };

/** A-RELEASE-RP (Table 9-25): four reserved bytes. */
export const releaseRp = new Uint8Array([0x06, 0x00, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 0]);
export const releaseRpPdu: AReleaseRp = { type: PduType.AReleaseRp };

/** A-ABORT (Table 9-26): by the service provider, unrecognized PDU. */
// deno-fmt-ignore
export const abort = new Uint8Array([
  0x07, 0x00, // PDU type 07, reserved
  0x00, 0x00, 0x00, 0x04, // PDU length 4
  0x00, 0x00, // reserved, reserved
  0x02, // source 2 DICOM UL service-provider
  0x01, // reason 1 unrecognized-PDU
]);
export const abortPdu: AAbort = { type: PduType.AAbort, source: 2, reason: 1 };

/** Every fixture with its decoded structure. */
export const fixtures = [
  { name: "echoscu A-ASSOCIATE-RQ", bytes: echoscuAssociateRq, pdu: echoscuAssociateRqPdu },
  { name: "echoscu A-ASSOCIATE-AC", bytes: echoscuAssociateAc, pdu: echoscuAssociateAcPdu },
  { name: "A-ASSOCIATE-RQ with every sub-item", bytes: richAssociateRq, pdu: richAssociateRqPdu },
  { name: "A-ASSOCIATE-AC with every sub-item", bytes: richAssociateAc, pdu: richAssociateAcPdu },
  { name: "A-ASSOCIATE-RJ", bytes: associateRj, pdu: associateRjPdu },
  { name: "P-DATA-TF with two PDVs", bytes: pDataTf, pdu: pDataTfPdu },
  { name: "A-RELEASE-RQ", bytes: releaseRq, pdu: releaseRqPdu },
  { name: "A-RELEASE-RP", bytes: releaseRp, pdu: releaseRpPdu },
  { name: "A-ABORT", bytes: abort, pdu: abortPdu },
];
