// The acceptor's own answers: a negotiation that fails inside is a transient rejection with a
// label, and a command no service takes gets "unrecognized operation".
import assert from "node:assert/strict";
import { CommandField, NO_DATASET, RESPONSE_BIT } from "../../../src/core/dimse/command.ts";
import { Status } from "../../../src/core/dimse/status.ts";
import { VerificationService } from "../../../src/core/services/echo_scp.ts";
import { AcceptorAssociation } from "../../../src/core/ul/acceptor.ts";
import type { AcceptorPolicy, RejectLabel } from "../../../src/core/ul/negotiation.ts";
import { RejectReason, RejectResult, RejectSource } from "../../../src/core/ul/pdu_types.ts";
import { AssociationRejectedError, RequestorAssociation } from "../../../src/core/ul/requestor.ts";
import { memoryConnectionPair } from "../../helpers/memory_connection.ts";

const VERIFICATION = "1.2.840.10008.1.1";
const IMPLICIT = "1.2.840.10008.1.2";

function setup(policy: () => AcceptorPolicy) {
  const [a, b] = memoryConnectionPair();
  const labels: RejectLabel[] = [];
  const lines: string[] = [];
  const acceptor = new AcceptorAssociation({
    id: "1",
    connection: a,
    logger: { log: (level, msg) => lines.push(`${level} ${msg}`) },
    artimTimeoutMs: 1000,
    idleTimeoutMs: 0,
    maxPduLength: 16384,
    services: [new VerificationService()],
    policy,
    observer: { rejected: (_info, label) => labels.push(label) },
  });
  const running = acceptor.run();
  const requestor = new RequestorAssociation({
    id: "r",
    connection: b,
    logger: { log() {} },
    artimTimeoutMs: 1000,
    idleTimeoutMs: 0,
    maxPduLength: 16384,
    callingAeTitle: "SCU",
    calledAeTitle: "MINIPACS",
    implementationClassUid: "1.2.3",
    implementationVersionName: "TEST",
    presentationContexts: [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }],
  });
  return { running, requestor, labels, lines };
}

const verification = new VerificationService();
const policy = (): AcceptorPolicy => ({
  aeTitle: "MINIPACS",
  checkCalledAe: true,
  maxPduLength: 16384,
  implementationClassUid: "1.2.3.4",
  implementationVersionName: "MINIPACS",
  syntaxes: new Map([...verification.syntaxes()].map((s) => [s.abstractSyntax, s])),
});

Deno.test("a negotiation that fails inside is rejected as transient, ACSE, no reason given", async () => {
  const { running, requestor, labels, lines } = setup(() => {
    throw new Error("policy unavailable");
  });
  const e = await requestor.open().then(() => null, (e) => e);
  assert.ok(e instanceof AssociationRejectedError, String(e));
  assert.deepEqual(
    [e.rj.result, e.rj.source, e.rj.reason],
    [RejectResult.Transient, RejectSource.ServiceProviderAcse, RejectReason.AcseNoReasonGiven],
  );
  assert.equal(await running, "rejected");
  assert.deepEqual(labels, ["other"]);
  assert.ok(lines.some((l) => /^error negotiation failed: policy unavailable/.test(l)));
});

Deno.test("the observer hears the negotiation's label for a wrong called AE title", async () => {
  const { running, requestor, labels } = setup(() => ({ ...policy(), aeTitle: "OTHER" }));
  await assert.rejects(requestor.open(), AssociationRejectedError);
  assert.equal(await running, "rejected");
  assert.deepEqual(labels, ["called_ae"]);
});

Deno.test("a command no service takes is answered 0x0211 unrecognized operation", async () => {
  const { running, requestor } = setup(policy);
  await requestor.open();
  const rsp = await requestor.request(1, {
    commandField: CommandField.CFindRq,
    commandDataSetType: NO_DATASET,
    affectedSopClassUid: VERIFICATION,
  });
  assert.equal(rsp.command.commandField, CommandField.CFindRq | RESPONSE_BIT);
  assert.equal(rsp.command.status, Status.UnrecognizedOperation);
  await requestor.release();
  assert.equal(await running, "released");
});
