// Encoding PDUs (PS3.8 9.3): the hand-made fixtures byte for byte, round trips through the
// decoder, and values that do not fit their fields.
import assert from "node:assert/strict";
import { decodePdu } from "../../../src/core/ul/pdu_decode.ts";
import { encodePdu } from "../../../src/core/ul/pdu_encode.ts";
import {
  type AAssociateAc,
  type AAssociateRq,
  type PDataTf,
  type Pdu,
  PduError,
  PduType,
  type UserInformation,
} from "../../../src/core/ul/pdu_types.ts";
import {
  echoscuAssociateRqPdu,
  fixtures,
  richAssociateAcPdu,
  richAssociateRqPdu,
} from "./pdu_fixtures.ts";

const enc = new TextEncoder();

function roundTrip(pdu: Pdu): void {
  assert.deepStrictEqual(decodePdu(encodePdu(pdu)), pdu);
}

function userInfo(extra: Partial<UserInformation> = {}): UserInformation {
  return {
    maxLength: 16384,
    implementationClassUid: "1.2.3.4",
    roleSelections: [],
    extendedNegotiations: [],
    commonExtendedNegotiations: [],
    unknown: [],
    ...extra,
  };
}

function rq(extra: Partial<AAssociateRq> = {}): AAssociateRq {
  return {
    type: PduType.AAssociateRq,
    protocolVersion: 1,
    calledAeTitle: "MINIPACS",
    callingAeTitle: "MODALITY",
    applicationContext: "1.2.840.10008.3.1.1.1",
    presentationContexts: [
      { id: 1, abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: ["1.2.840.10008.1.2"] },
    ],
    userInformation: userInfo(),
    ...extra,
  };
}

// --- fixtures ---

for (const f of fixtures) {
  Deno.test(`encodePdu() writes the ${f.name} byte for byte`, () => {
    assert.deepStrictEqual(encodePdu(f.pdu), f.bytes);
  });
}

// --- round trips ---

Deno.test("encodePdu() then decodePdu() gives back every user information sub-item", () => {
  roundTrip(richAssociateRqPdu);
  roundTrip(richAssociateAcPdu);
  roundTrip(rq({
    userInformation: userInfo({
      maxLength: 0,
      implementationVersionName: "",
      asyncOpsWindow: { maxInvoked: 0, maxPerformed: 65535 },
      roleSelections: [
        { sopClassUid: "1.2.840.10008.5.1.4.1.1.2", scuRole: true, scpRole: false },
        { sopClassUid: "1.2.840.10008.5.1.4.1.1.4", scuRole: true, scpRole: true },
        { sopClassUid: "1.2.840.10008.5.1.4.1.1.7", scuRole: false, scpRole: false },
      ],
      extendedNegotiations: [
        { sopClassUid: "1.2.840.10008.5.1.4.1.2.2.1", info: new Uint8Array([1, 1, 1, 1, 0, 1]) },
        { sopClassUid: "1.2.840.10008.5.1.4.1.1.2", info: new Uint8Array(0) },
      ],
      commonExtendedNegotiations: [
        {
          sopClassUid: "1.2.3.4.5",
          serviceClassUid: "1.2.840.10008.4.2",
          relatedGeneralSopClassUids: [],
        },
        {
          sopClassUid: "1.2.840.10008.5.1.4.1.1.88.22",
          serviceClassUid: "1.2.840.10008.4.2",
          relatedGeneralSopClassUids: [
            "1.2.840.10008.5.1.4.1.1.88.11",
            "1.2.840.10008.5.1.4.1.1.88.33",
          ],
        },
      ],
      userIdentityRq: {
        type: 1,
        positiveResponseRequested: false,
        primaryField: enc.encode("bob"),
        secondaryField: new Uint8Array(0),
      },
      unknown: [
        { type: 0x5a, data: new Uint8Array([1, 2, 3]) },
        { type: 0xff, data: new Uint8Array(0) },
      ],
    }),
  }));
});

Deno.test("encodePdu() then decodePdu() gives back presentation contexts of every result", () => {
  const ac: AAssociateAc = {
    ...richAssociateAcPdu,
    calledAeTitle: "ANY-SCP-16-CHARS",
    callingAeTitle: "",
    presentationContexts: [0, 1, 2, 3, 4].map((result, i) => ({
      id: 2 * i + 1,
      result: result as 0 | 1 | 2 | 3 | 4,
      transferSyntax: result === 0 ? "1.2.840.10008.1.2.4.50" : "",
    })),
  };
  roundTrip(ac);
  roundTrip(rq({
    protocolVersion: 3,
    presentationContexts: [
      { id: 255, abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: ["1.2.840.10008.1.2"] },
      {
        id: 1,
        abstractSyntax: "1.2.840.10008.5.1.4.1.1.2",
        transferSyntaxes: ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.90"],
      },
    ],
  }));
  roundTrip(rq({ presentationContexts: [] }));
});

Deno.test("encodePdu() then decodePdu() gives back PDVs of every kind and size", () => {
  const big = new Uint8Array(70000).map((_, i) => i & 0xff);
  const pdu: PDataTf = {
    type: PduType.PDataTf,
    pdvs: [
      { presentationContextId: 1, isCommand: true, isLast: true, data: new Uint8Array([1, 2]) },
      { presentationContextId: 3, isCommand: false, isLast: false, data: big },
      { presentationContextId: 255, isCommand: false, isLast: true, data: new Uint8Array(0) },
      { presentationContextId: 5, isCommand: true, isLast: false, data: new Uint8Array([9]) },
    ],
  };
  roundTrip(pdu);
});

Deno.test("encodePdu() then decodePdu() gives back RJ, release and abort fields", () => {
  roundTrip({ type: PduType.AAssociateRj, result: 2, source: 3, reason: 2 });
  roundTrip({ type: PduType.AAssociateRj, result: 1, source: 2, reason: 2 });
  roundTrip({ type: PduType.AReleaseRq });
  roundTrip({ type: PduType.AReleaseRp });
  roundTrip({ type: PduType.AAbort, source: 0, reason: 0 });
  roundTrip({ type: PduType.AAbort, source: 2, reason: 6 });
});

// --- encoding errors ---

Deno.test("encodePdu() refuses values that do not fit their fields", () => {
  const fails = (pdu: Pdu) => assert.throws(() => encodePdu(pdu), PduError);
  fails(rq({ calledAeTitle: "SEVENTEEN-CHARS-X" }));
  fails(rq({
    presentationContexts: [{ id: 2, abstractSyntax: "1.2", transferSyntaxes: ["1.2"] }],
  }));
  fails(rq({ applicationContext: "x".repeat(65536) }));
  fails(rq({ callingAeTitle: "Ünïcode→" }));
  fails(rq({ userInformation: userInfo({ maxLength: -1 }) }));
  fails({
    type: PduType.PDataTf,
    pdvs: [{ presentationContextId: 0, isCommand: true, isLast: true, data: new Uint8Array(1) }],
  });
  fails({ type: PduType.PDataTf, pdvs: [] });
  fails({ type: PduType.AAbort, source: 256, reason: 0 });
});

Deno.test("encodePdu() pads AE titles with spaces to 16 bytes and UIDs not at all", () => {
  const bytes = encodePdu(echoscuAssociateRqPdu);
  assert.deepStrictEqual(bytes.subarray(10, 26), enc.encode("ANY-SCP         "));
  assert.deepStrictEqual(bytes.subarray(74, 78), new Uint8Array([0x10, 0, 0, 21]));
});
