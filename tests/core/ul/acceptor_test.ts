// The acceptor's own answers: a negotiation that fails inside is a transient rejection with a
// label, and a command no service takes gets "unrecognized operation".
import assert from "node:assert/strict";
import { CommandField, NO_DATASET, RESPONSE_BIT } from "../../../src/core/dimse/command.ts";
import { Status } from "../../../src/core/dimse/status.ts";
import { VerificationService } from "../../../src/core/services/echo_scp.ts";
import type { AcceptorPolicy, RejectLabel } from "../../../src/core/ul/negotiation.ts";
import { RejectReason, RejectResult, RejectSource } from "../../../src/core/ul/pdu_types.ts";
import { AssociationRejectedError } from "../../../src/core/ul/requestor.ts";
import { associationPair, servingPolicy } from "../../helpers/association_pair.ts";

const VERIFICATION = "1.2.840.10008.1.1";

function setup(policy: () => AcceptorPolicy) {
  const labels: RejectLabel[] = [];
  const lines: string[] = [];
  const { running, requestor } = associationPair({
    services: [new VerificationService()],
    policy,
    abstractSyntaxes: [VERIFICATION],
    observer: { rejected: (_info, label) => labels.push(label) },
    acceptorLogger: { log: (level, msg) => lines.push(`${level} ${msg}`) },
  });
  return { running, requestor, labels, lines };
}

const policy = () => servingPolicy([new VerificationService()]);

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
