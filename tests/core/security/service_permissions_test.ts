import assert from "node:assert/strict";
import { permittedServices } from "../../../src/core/security/service_permissions.ts";
import {
  type AcceptorPolicy,
  negotiateAsAcceptor,
  type SupportedSyntax,
} from "../../../src/core/ul/negotiation.ts";
import { type AAssociateRq, PcResult, PduType } from "../../../src/core/ul/pdu_types.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1";
const STUDY_MOVE = "1.2.840.10008.5.1.4.1.2.2.2";
const EXPLICIT = "1.2.840.10008.1.2.1";
const SERVICE: Record<string, string> = {
  [CT]: "store",
  [STUDY_FIND]: "find",
  [STUDY_MOVE]: "move",
};

const syntax = (uid: string): SupportedSyntax => ({
  abstractSyntax: uid,
  acceptsTransferSyntax: () => true,
});

function policyFor(allowed: ReadonlySet<string> | null): AcceptorPolicy {
  return {
    aeTitle: "MINIPACS",
    checkCalledAe: true,
    maxPduLength: 16384,
    implementationClassUid: "1.2.3",
    implementationVersionName: "T",
    syntaxes: new Map([CT, STUDY_FIND, STUDY_MOVE].map((u) => [u, syntax(u)])),
    refusedService: (uid) => allowed && !allowed.has(SERVICE[uid]) ? SERVICE[uid] : undefined,
  };
}

const rq: AAssociateRq = {
  type: PduType.AAssociateRq,
  protocolVersion: 1,
  calledAeTitle: "MINIPACS",
  callingAeTitle: "STRANGER",
  applicationContext: "1.2.840.10008.3.1.1.1",
  presentationContexts: [
    { id: 1, abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
    { id: 3, abstractSyntax: STUDY_FIND, transferSyntaxes: [EXPLICIT] },
    { id: 5, abstractSyntax: STUDY_MOVE, transferSyntaxes: [EXPLICIT] },
  ],
  userInformation: {
    maxLength: 0,
    implementationClassUid: "1.2.3",
    roleSelections: [],
    extendedNegotiations: [],
    commonExtendedNegotiations: [],
    unknown: [],
  },
};

Deno.test("permittedServices(): accept = store lets strangers echo and store only", () => {
  assert.deepEqual([...permittedServices("store", false, undefined)!].sort(), ["echo", "store"]);
  assert.equal(permittedServices("any", false, undefined), null);
  assert.equal(permittedServices("store", true, undefined), null, "a known AE: everything");
  assert.deepEqual([...permittedServices("store", true, ["echo", "find"])!], ["echo", "find"]);
  assert.deepEqual([...permittedServices("any", true, ["store"])!], ["store"]);
});

Deno.test("negotiateAsAcceptor(): a refused service's contexts get result 1 and are named once", () => {
  const out = negotiateAsAcceptor(rq, policyFor(permittedServices("store", false, undefined)));
  assert.ok(out.accepted);
  const results = new Map(out.ac.presentationContexts.map((pc) => [pc.id, pc.result]));
  assert.equal(results.get(1), PcResult.Acceptance);
  assert.equal(results.get(3), PcResult.UserRejection);
  assert.equal(results.get(5), PcResult.UserRejection);
  assert.deepEqual(out.refused, ["find", "move"]);
  assert.deepEqual([...out.contexts.keys()], [1]);

  const all = negotiateAsAcceptor(rq, policyFor(null));
  assert.ok(all.accepted);
  assert.equal(all.refused, undefined);
  assert.equal(all.contexts.size, 3);
});
