// Decoding PDUs (PS3.8 9.3): the hand-made fixtures, padding, unknown items, and every kind of
// malformed input refused with the A-ABORT reason to send.
import assert from "node:assert/strict";
import { decodePdu } from "../../../src/core/ul/pdu_decode.ts";
import {
  type AAssociateAc,
  type AAssociateRq,
  AbortReason,
  type PDataTf,
  PduError,
} from "../../../src/core/ul/pdu_types.ts";
import {
  echoscuAssociateRq,
  fixtures,
  pDataTf,
  richAssociateRq,
  richAssociateRqPdu,
} from "./pdu_fixtures.ts";

const enc = new TextEncoder();

/** Asserts that decoding `bytes` throws a PduError (with `reason` when given). */
function assertRejects(bytes: Uint8Array, reason?: number, message?: RegExp): void {
  assert.throws(() => decodePdu(bytes), (e: unknown) => {
    assert.ok(e instanceof PduError, `expected PduError, got ${e}`);
    if (reason !== undefined) assert.equal(e.reason, reason);
    if (message) assert.match(e.message, message);
    return true;
  });
}

// --- builders for malformed A-ASSOCIATE PDUs (lengths computed, unlike the fixtures) ---

function item(type: number, body: number[] | Uint8Array): number[] {
  const b = [...body];
  return [type, 0, b.length >> 8, b.length & 0xff, ...b];
}

function ascii(s: string): number[] {
  return [...enc.encode(s)];
}

function associate(type: number, ...items: number[][]): Uint8Array {
  const body = [0, 1, 0, 0, ...ascii("CALLED".padEnd(16)), ...ascii("CALLING".padEnd(16))];
  body.push(...new Array<number>(32).fill(0), ...items.flat());
  const n = body.length;
  return new Uint8Array([type, 0, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff, ...body]);
}

const appContext = item(0x10, ascii("1.2.840.10008.3.1.1.1"));
const maxLength = item(0x51, [0, 0, 0x40, 0]);
const userInfoItem = item(0x50, maxLength);
const pcRq = (id: number, ...subs: number[][]) => item(0x20, [id, 0, 0, 0, ...subs.flat()]);
const abstractSyntax = item(0x30, ascii("1.2.840.10008.1.1"));
const transferSyntax = item(0x40, ascii("1.2.840.10008.1.2"));

// --- fixtures ---

for (const f of fixtures) {
  Deno.test(`decodePdu() reads the hand-made ${f.name}`, () => {
    assert.deepStrictEqual(decodePdu(f.bytes), f.pdu);
  });
}

// --- decoding details ---

Deno.test("decodePdu() returns PDV data as views into the PDU bytes", () => {
  const pdu = decodePdu(pDataTf) as PDataTf;
  for (const pdv of pdu.pdvs) assert.equal(pdv.data.buffer, pDataTf.buffer);
  assert.equal(pdu.pdvs[1].data.byteOffset, 6 + 18 + 6);
});

Deno.test("decodePdu() copies the other byte fields, so reusing the input cannot change them", () => {
  const bytes = richAssociateRq.slice();
  const pdu = decodePdu(bytes) as AAssociateRq;
  bytes.fill(0);
  assert.deepStrictEqual(pdu, richAssociateRqPdu);
});

Deno.test("decodePdu() strips the NUL and space padding peers put after UIDs and AE titles", () => {
  const bytes = associate(
    0x01,
    item(0x10, ascii("1.2.840.10008.3.1.1.1\0")),
    pcRq(
      1,
      item(0x30, ascii("1.2.840.10008.1.1\0")),
      item(0x40, ascii("1.2.840.10008.1.2 ")),
    ),
    item(0x50, [...maxLength, ...item(0x52, ascii("1.2.3\0")), ...item(0x55, ascii("V1 "))]),
  );
  bytes.set(ascii("  CALLED\0\0\0\0\0\0\0\0"), 10);
  const pdu = decodePdu(bytes) as AAssociateRq;
  assert.equal(pdu.calledAeTitle, "CALLED");
  assert.equal(pdu.callingAeTitle, "CALLING");
  assert.equal(pdu.applicationContext, "1.2.840.10008.3.1.1.1");
  assert.deepStrictEqual(pdu.presentationContexts, [
    { id: 1, abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: ["1.2.840.10008.1.2"] },
  ]);
  assert.equal(pdu.userInformation.implementationClassUid, "1.2.3");
  assert.equal(pdu.userInformation.implementationVersionName, "V1");
});

Deno.test("decodePdu() skips unknown variable items and unknown presentation context sub-items", () => {
  const pdu = decodePdu(associate(
    0x01,
    item(0x7e, [1, 2, 3]),
    appContext,
    pcRq(1, item(0x33, [4]), abstractSyntax, transferSyntax),
    item(0x21, [3, 0, 0, 0]), // an AC's item inside an RQ
    userInfoItem,
  )) as AAssociateRq;
  assert.equal(pdu.presentationContexts.length, 1);
  assert.deepStrictEqual(pdu.presentationContexts[0].transferSyntaxes, ["1.2.840.10008.1.2"]);
});

Deno.test("decodePdu() accepts an AC context without its transfer syntax sub-item when refused", () => {
  const pdu = decodePdu(
    associate(0x02, appContext, item(0x21, [3, 0, 3, 0]), userInfoItem),
  ) as AAssociateAc;
  assert.deepStrictEqual(pdu.presentationContexts, [{ id: 3, result: 3, transferSyntax: "" }]);
});

Deno.test("decodePdu() reads a user information without implementation class UID as empty", () => {
  const pdu = decodePdu(associate(0x01, appContext, userInfoItem)) as AAssociateRq;
  assert.equal(pdu.userInformation.implementationClassUid, "");
  assert.equal(pdu.userInformation.maxLength, 16384);
});

// --- decoding errors ---

Deno.test("decodePdu() rejects an unknown PDU type as an unrecognized PDU", () => {
  assertRejects(new Uint8Array([0x08, 0, 0, 0, 0, 4, 0, 0, 0, 0]), AbortReason.UnrecognizedPdu);
  assertRejects(new Uint8Array([0x00, 0, 0, 0, 0, 0]), AbortReason.UnrecognizedPdu);
});

Deno.test("decodePdu() rejects input shorter than the PDU header", () => {
  assertRejects(new Uint8Array([]));
  assertRejects(new Uint8Array([0x05, 0, 0, 0, 0]));
});

Deno.test("decodePdu() rejects a PDU length that does not match the bytes given", () => {
  assertRejects(new Uint8Array([0x05, 0, 0, 0, 0, 4, 0, 0, 0]), undefined, /length/);
  assertRejects(new Uint8Array([0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0]), undefined, /length/);
  const longer = new Uint8Array([...echoscuAssociateRq, 0]);
  assertRejects(longer, undefined, /length/);
});

Deno.test("decodePdu() rejects a 10-byte input whose length says 4 GB, at once", () => {
  const start = performance.now();
  assertRejects(new Uint8Array([0x04, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 6]));
  assertRejects(new Uint8Array([0x01, 0, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0]));
  assert.ok(performance.now() - start < 1000);
});

Deno.test("decodePdu() rejects RJ, release and abort PDUs whose length is not 4", () => {
  for (const type of [0x03, 0x05, 0x06, 0x07]) {
    assertRejects(new Uint8Array([type, 0, 0, 0, 0, 3, 0, 0, 0]), undefined, /length 4/);
    assertRejects(new Uint8Array([type, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0]), undefined, /length 4/);
  }
});

Deno.test("decodePdu() rejects a PDV that runs past its PDU", () => {
  const bytes = pDataTf.slice();
  bytes[6 + 18 + 3] = 0x3b; // second PDV claims 59 bytes, 58 are there
  assertRejects(bytes, undefined, /runs past/);
  const huge = new Uint8Array([0x04, 0, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, 1, 3, 0]);
  assertRejects(huge, undefined, /runs past/);
});

Deno.test("decodePdu() rejects a PDV item header cut by the end of the PDU", () => {
  assertRejects(new Uint8Array([0x04, 0, 0, 0, 0, 9, 0, 0, 0, 3, 1, 3, 0, 0, 0]));
});

Deno.test("decodePdu() rejects a PDV item length below 2", () => {
  assertRejects(new Uint8Array([0x04, 0, 0, 0, 0, 5, 0, 0, 0, 1, 1]), undefined, /less than 2/);
  assertRejects(new Uint8Array([0x04, 0, 0, 0, 0, 4, 0, 0, 0, 0]), undefined, /less than 2/);
});

Deno.test("decodePdu() rejects a PDV whose presentation context id is even or 0", () => {
  assertRejects(new Uint8Array([0x04, 0, 0, 0, 0, 6, 0, 0, 0, 2, 0, 3]), undefined, /not odd/);
  assertRejects(new Uint8Array([0x04, 0, 0, 0, 0, 6, 0, 0, 0, 2, 2, 3]), undefined, /not odd/);
});

Deno.test("decodePdu() rejects a P-DATA-TF without PDVs", () => {
  assertRejects(new Uint8Array([0x04, 0, 0, 0, 0, 0]));
});

Deno.test("decodePdu() rejects an A-ASSOCIATE-RQ shorter than its fixed fields", () => {
  assertRejects(echoscuAssociateRq.slice(0, 70).map((b, i) => i === 5 ? 64 : b));
});

Deno.test("decodePdu() rejects an item that runs past its parent", () => {
  // application context says 22 bytes but the PDU ends after 21
  const bytes = associate(0x01, userInfoItem, appContext);
  bytes[bytes.length - 22] = 22;
  assertRejects(bytes, undefined, /runs past/);
  // abstract syntax sub-item longer than its presentation context item
  const pc = pcRq(1, abstractSyntax, transferSyntax);
  pc[11] += 30;
  assertRejects(associate(0x01, appContext, pc, userInfoItem), undefined, /runs past/);
  // maximum length sub-item of 6 bytes inside a user information item of 8
  const ui = item(0x50, maxLength);
  ui[7] = 6;
  assertRejects(associate(0x01, appContext, ui), undefined, /runs past/);
  // an item header cut by the end of the PDU
  assertRejects(associate(0x01, appContext, userInfoItem, [0x20, 0]), undefined, /truncated/);
});

Deno.test("decodePdu() rejects an A-ASSOCIATE without application context or user information", () => {
  assertRejects(associate(0x01, userInfoItem), undefined, /application context/);
  assertRejects(associate(0x02, appContext), undefined, /user information/);
  assertRejects(associate(0x01, appContext, userInfoItem, appContext), undefined, /duplicate/);
  assertRejects(associate(0x01, appContext, userInfoItem, userInfoItem), undefined, /duplicate/);
});

Deno.test("decodePdu() rejects user information without its maximum length sub-item", () => {
  const ui = item(0x50, item(0x52, ascii("1.2.3")));
  assertRejects(associate(0x01, appContext, ui), undefined, /maximum length/);
});

Deno.test("decodePdu() rejects a presentation context id that is even or 0", () => {
  for (const id of [0, 2, 254]) {
    const rqBytes = associate(0x01, appContext, pcRq(id, abstractSyntax, transferSyntax));
    assertRejects(rqBytes, undefined, /not odd/);
    const acBytes = associate(0x02, appContext, item(0x21, [id, 0, 0, 0, ...transferSyntax]));
    assertRejects(acBytes, undefined, /not odd/);
  }
});

Deno.test("decodePdu() rejects a presentation context without abstract or transfer syntax", () => {
  const noAbstract = associate(0x01, appContext, pcRq(1, transferSyntax), userInfoItem);
  assertRejects(noAbstract, undefined, /abstract syntax/);
  const noTs = associate(0x01, appContext, pcRq(1, abstractSyntax), userInfoItem);
  assertRejects(noTs, undefined, /transfer syntax/);
  const twoAbstract = associate(
    0x01,
    appContext,
    pcRq(1, abstractSyntax, abstractSyntax, transferSyntax),
    userInfoItem,
  );
  assertRejects(twoAbstract, undefined, /two abstract/);
});

Deno.test("decodePdu() rejects an AC presentation context result above 4", () => {
  const bytes = associate(0x02, appContext, item(0x21, [1, 0, 5, 0, ...transferSyntax]));
  assertRejects(bytes, undefined, /result 5/);
});

Deno.test("decodePdu() rejects truncated role selection, extended negotiation and identity items", () => {
  const uis = [
    item(0x53, [0, 1]), // async window of 2 bytes
    item(0x54, [0, 9, ...ascii("1.2.3"), 1, 1]), // UID length past the item
    item(0x54, [0, 5, ...ascii("1.2.3"), 1]), // SCP role byte missing
    item(0x56, [0, 6, ...ascii("1.2.3")]),
    item(0x57, [0, 5, ...ascii("1.2.3"), 0, 3, ...ascii("1.2"), 0, 4, 0, 3, ...ascii("1")]),
    item(0x58, [1, 0, 0, 3, ...ascii("bob")]), // secondary field length missing
    item(0x59, [0, 9, 1]),
  ];
  // a sub-item follows, so a read past the item's end would find bytes rather than the end
  const next = item(0x52, ascii("1.2.3.4.5.6.7.8.9"));
  for (const sub of uis) {
    const bytes = associate(0x01, appContext, item(0x50, [...maxLength, ...sub, ...next]));
    assertRejects(bytes, undefined, /truncated/);
  }
});
