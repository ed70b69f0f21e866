// The Verification SCP (PS3.4 A.4, PS3.7 9.1.5): C-ECHO answered Success in Implicit or
// Explicit VR Little Endian; other transfer syntaxes refused at negotiation.
import assert from "node:assert/strict";
import { VerificationService } from "../../../src/core/services/echo_scp.ts";
import { associationPair } from "../../helpers/association_pair.ts";
import { echo, VERIFICATION } from "../../helpers/scu.ts";

Deno.test("C-ECHO is answered Success and the association releases cleanly", async () => {
  const { running, requestor } = associationPair({
    services: [new VerificationService()],
    abstractSyntaxes: [VERIFICATION],
  });
  const assoc = await requestor.open();
  assert.equal(await echo(assoc), 0x0000);
  assert.equal(await echo(assoc), 0x0000, "a second echo on the same association");
  await assoc.release();
  assert.equal(await running, "released");
});

Deno.test("the Verification context accepts Implicit and Explicit VR LE, not Big Endian", () => {
  const [syntax] = [...new VerificationService().syntaxes()];
  assert.equal(syntax.abstractSyntax, VERIFICATION);
  assert.ok(syntax.acceptsTransferSyntax("1.2.840.10008.1.2"));
  assert.ok(syntax.acceptsTransferSyntax("1.2.840.10008.1.2.1"));
  assert.ok(!syntax.acceptsTransferSyntax("1.2.840.10008.1.2.2"));
});
