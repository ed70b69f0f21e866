// negotiateAsAcceptor(): the association policies of the conformance statement (3.1.2,
// 3.1.3) as a pure function of the A-ASSOCIATE-RQ.
import assert from "node:assert/strict";
import type { ObjectStore } from "../../../src/core/ports.ts";
import { findExtendedNegotiationReply } from "../../../src/core/services/find_scp.ts";
import { StorageService } from "../../../src/core/services/store_scp.ts";
import { producesTransferSyntax } from "../../../src/core/services/sub_operation_contexts.ts";
import {
  type AcceptorPolicy,
  negotiateAsAcceptor,
  REJECT_LABELS,
  type SupportedSyntax,
} from "../../../src/core/ul/negotiation.ts";
import { type AAssociateRq, PduType } from "../../../src/core/ul/pdu_types.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1";
const IMPLICIT = "1.2.840.10008.1.2";
const EXPLICIT = "1.2.840.10008.1.2.1";
const JPEG_LS = "1.2.840.10008.1.2.4.80";
const BIG_ENDIAN = "1.2.840.10008.1.2.2";

const syntaxes = new Map<string, SupportedSyntax>([
  [CT, { abstractSyntax: CT, acceptsTransferSyntax: () => true, acceptsScpRole: true }],
  [STUDY_FIND, {
    abstractSyntax: STUDY_FIND,
    acceptsTransferSyntax: (ts) => ts === IMPLICIT || ts === EXPLICIT,
    extendedNegotiation: findExtendedNegotiationReply,
  }],
]);

const policy: AcceptorPolicy = {
  aeTitle: "MINIPACS",
  checkCalledAe: true,
  maxPduLength: 16384,
  implementationClassUid: "1.2.276.0.7230010.3.0.3.6.4",
  implementationVersionName: "MINIPACS_2_0",
  syntaxes,
};

function rq(
  over: Partial<AAssociateRq> = {},
  ui: Partial<AAssociateRq["userInformation"]> = {},
): AAssociateRq {
  return {
    type: PduType.AAssociateRq,
    protocolVersion: 1,
    calledAeTitle: "MINIPACS",
    callingAeTitle: "MODALITY",
    applicationContext: "1.2.840.10008.3.1.1.1",
    presentationContexts: [
      { id: 1, abstractSyntax: CT, transferSyntaxes: [JPEG_LS, EXPLICIT] },
      { id: 3, abstractSyntax: STUDY_FIND, transferSyntaxes: [JPEG_LS] },
      { id: 5, abstractSyntax: "1.2.3.4", transferSyntaxes: [IMPLICIT] },
    ],
    userInformation: {
      maxLength: 32768,
      implementationClassUid: "1.2.3",
      roleSelections: [],
      extendedNegotiations: [],
      commonExtendedNegotiations: [],
      unknown: [],
      ...ui,
    },
    ...over,
  };
}

Deno.test("negotiateAsAcceptor() accepts the first proposed syntax it supports, per context", () => {
  const o = negotiateAsAcceptor(rq(), policy);
  assert.ok(o.accepted);
  assert.deepEqual(
    o.ac.presentationContexts.map((p) => [p.id, p.result, p.transferSyntax]),
    [[1, 0, JPEG_LS], [3, 4, ""], [5, 3, ""]],
  );
  assert.equal(o.peerMaxPduLength, 32768);
  assert.equal(o.ac.userInformation.maxLength, 16384);
  assert.equal(o.ac.userInformation.implementationVersionName, "MINIPACS_2_0");
});

Deno.test("negotiateAsAcceptor() answers an offered asynchronous window with 1/1", () => {
  const o = negotiateAsAcceptor(
    rq({}, { asyncOpsWindow: { maxInvoked: 8, maxPerformed: 8 } }),
    policy,
  );
  assert.ok(o.accepted);
  assert.deepEqual(o.ac.userInformation.asyncOpsWindow, { maxInvoked: 1, maxPerformed: 1 });
  const none = negotiateAsAcceptor(rq(), policy);
  assert.ok(none.accepted);
  assert.equal(none.ac.userInformation.asyncOpsWindow, undefined);
});

Deno.test("negotiateAsAcceptor() rejects: wrong called AE, unknown calling AE, over the limit", () => {
  const wrong = negotiateAsAcceptor(rq({ calledAeTitle: "OTHER" }), policy);
  assert.ok(!wrong.accepted);
  assert.deepEqual([wrong.rj.result, wrong.rj.source, wrong.rj.reason], [1, 1, 7]);
  const unknown = negotiateAsAcceptor(rq(), {
    ...policy,
    knownCallingAeTitles: new Set(["VIEWER"]),
  });
  assert.ok(!unknown.accepted);
  assert.deepEqual([unknown.rj.result, unknown.rj.source, unknown.rj.reason], [1, 1, 3]);
  const known = negotiateAsAcceptor(rq({ callingAeTitle: "VIEWER  " }), {
    ...policy,
    knownCallingAeTitles: new Set(["VIEWER"]),
  });
  assert.ok(known.accepted, "trailing spaces in AE titles are not significant");
  const full = negotiateAsAcceptor(rq(), { ...policy, overLimit: true });
  assert.ok(!full.accepted);
  assert.deepEqual([full.rj.result, full.rj.source, full.rj.reason], [2, 3, 2]);
  // Each rejection carries its fixed label, the rejection counter's `reason`.
  assert.deepEqual([wrong.label, unknown.label, full.label], [
    "called_ae",
    "calling_ae",
    "local_limit",
  ]);
});

Deno.test("negotiateAsAcceptor() labels protocol version and application context rejections", () => {
  const version = negotiateAsAcceptor(rq({ protocolVersion: 2 }), policy);
  assert.ok(!version.accepted);
  assert.equal(version.label, "protocol_version");
  const context = negotiateAsAcceptor(rq({ applicationContext: "1.2.3" }), policy);
  assert.ok(!context.accepted);
  assert.equal(context.label, "application_context");
  for (const o of [version, context]) assert.ok(REJECT_LABELS.includes(o.label));
});

Deno.test("negotiateAsAcceptor() rejects a calling AE at its own limit as transient, after identity", () => {
  const held = negotiateAsAcceptor(rq(), { ...policy, callingAeLimit: 2 });
  assert.ok(!held.accepted);
  // PS3.8 9.3.4: rejected-transient, service-provider (presentation), local-limit-exceeded.
  assert.deepEqual([held.rj.result, held.rj.source, held.rj.reason], [2, 3, 2]);
  assert.match(held.why, /"MODALITY" already has its max_incoming = 2 associations open/);
  assert.equal(held.warn, true, "logged as a warning");
  assert.equal(held.label, "local_limit");
  // A wrong called AE is still a permanent rejection, whatever the caller's count.
  const wrong = negotiateAsAcceptor(rq({ calledAeTitle: "OTHER" }), {
    ...policy,
    callingAeLimit: 2,
  });
  assert.ok(!wrong.accepted);
  assert.deepEqual([wrong.rj.result, wrong.rj.source, wrong.rj.reason], [1, 1, 7]);
  assert.equal(wrong.warn, undefined);
});

Deno.test("negotiateAsAcceptor() grants the SCP role only where the class allows it (C-GET)", () => {
  const o = negotiateAsAcceptor(
    rq({}, {
      roleSelections: [
        { sopClassUid: CT, scuRole: true, scpRole: true },
        { sopClassUid: STUDY_FIND, scuRole: true, scpRole: true },
      ],
    }),
    policy,
  );
  assert.ok(o.accepted);
  assert.deepEqual(o.ac.userInformation.roleSelections, [
    { sopClassUid: CT, scuRole: true, scpRole: true },
    { sopClassUid: STUDY_FIND, scuRole: true, scpRole: false },
  ]);
  assert.equal(o.contexts.get(1)?.requestorIsScp, true);
});

Deno.test("negotiateAsAcceptor() answers C-FIND extended negotiation: relational no, combined date-time yes", () => {
  const r = rq({
    presentationContexts: [{ id: 1, abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT] }],
  }, {
    extendedNegotiations: [{ sopClassUid: STUDY_FIND, info: new Uint8Array([1, 1, 1]) }],
  });
  const o = negotiateAsAcceptor(r, policy);
  assert.ok(o.accepted);
  assert.deepEqual(o.ac.userInformation.extendedNegotiations, [
    { sopClassUid: STUDY_FIND, info: new Uint8Array([0, 1, 0]) },
  ]);
  assert.deepEqual(o.contexts.get(1)?.extendedNegotiation, new Uint8Array([0, 1, 0]));
});

Deno.test("negotiateAsAcceptor() takes the first proposed syntax it can produce where it sends (C-GET)", () => {
  // The real storage service's table: what it can produce is its own business.
  const storage = new StorageService({
    store: {} as ObjectStore,
    sopClasses: [CT],
    minFreeBytes: 0,
    producesTransferSyntax,
  });
  const table = new Map([...storage.syntaxes()].map((x) => [x.abstractSyntax, x]));
  const get = (proposal: string[]) => {
    const o = negotiateAsAcceptor(
      rq({ presentationContexts: [{ id: 1, abstractSyntax: CT, transferSyntaxes: proposal }] }, {
        roleSelections: [{ sopClassUid: CT, scuRole: false, scpRole: true }],
      }),
      { ...policy, syntaxes: table },
    );
    assert.ok(o.accepted);
    return o.contexts.get(1)?.transferSyntax;
  };
  assert.equal(get([IMPLICIT, EXPLICIT]), IMPLICIT, "the sender's first choice, not ours");
  assert.equal(get([EXPLICIT, IMPLICIT]), EXPLICIT);
  assert.equal(get([JPEG_LS, IMPLICIT, EXPLICIT]), IMPLICIT, "a compressed syntax only fits some");
  assert.equal(get([BIG_ENDIAN, EXPLICIT, IMPLICIT]), EXPLICIT, "Big Endian is not produced");
  assert.equal(get([JPEG_LS]), JPEG_LS, "alone: for the objects stored in it");
  const store = negotiateAsAcceptor(
    rq({
      presentationContexts: [{
        id: 1,
        abstractSyntax: CT,
        transferSyntaxes: [JPEG_LS, IMPLICIT, EXPLICIT],
      }],
    }),
    { ...policy, syntaxes: table },
  );
  assert.ok(store.accepted);
  assert.equal(store.contexts.get(1)?.transferSyntax, JPEG_LS, "a sender's first choice is kept");
});
