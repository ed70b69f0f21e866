// The requestor's own calls: pending responses to a callback, C-CANCEL reaching the running
// request, and release.
import assert from "node:assert/strict";
import { type Command, CommandField, NO_DATASET } from "../../../src/core/dimse/command.ts";
import type { DimseResponse, DimseService } from "../../../src/core/dimse/service_contract.ts";
import { Status } from "../../../src/core/dimse/status.ts";
import { associationPair } from "../../helpers/association_pair.ts";

const FIND = "1.2.840.10008.5.1.4.1.2.2.1";
const IMPLICIT = "1.2.840.10008.1.2";

/** Answers each C-FIND with two pending responses, then Success, or Cancel once cancelled. */
const finder: DimseService = {
  name: "find",
  commandFields: [CommandField.CFindRq],
  *syntaxes() {
    yield { abstractSyntax: FIND, acceptsTransferSyntax: (ts) => ts === IMPLICIT };
  },
  async handle(req, ctx) {
    const answer = (status: number) =>
      ctx.send({
        commandField: CommandField.CFindRsp,
        commandDataSetType: NO_DATASET,
        messageIdBeingRespondedTo: req.command.messageId,
        affectedSopClassUid: FIND,
        status,
      });
    await answer(Status.Pending);
    await answer(Status.Pending);
    if (req.command.priority === 1) { // the test's "wait for C-CANCEL" request
      await new Promise((r) => ctx.cancelled.addEventListener("abort", r, { once: true }));
      return answer(Status.Cancel);
    }
    return answer(Status.Success);
  },
};

const setup = () => associationPair({ services: [finder], abstractSyntaxes: [FIND] });

const findRq = (priority = 0): Command => ({
  commandField: CommandField.CFindRq,
  commandDataSetType: NO_DATASET,
  affectedSopClassUid: FIND,
  priority,
});

Deno.test("requestWithPending() hands each pending response to the callback, then the final", async () => {
  const { running, requestor } = setup();
  await requestor.open();
  const pending: DimseResponse[] = [];
  const final = await requestor.requestWithPending(1, findRq(), undefined, (r) => pending.push(r));
  assert.deepEqual(pending.map((r) => r.command.status), [Status.Pending, Status.Pending]);
  assert.equal(final.command.status, Status.Success);
  await requestor.release();
  assert.equal(await running, "released");
});

Deno.test("cancel() sends C-CANCEL for the running request, which ends with status Cancel", async () => {
  const { running, requestor } = setup();
  await requestor.open();
  const messageId = requestor.newMessageId();
  let seen = 0;
  let cancelled: Promise<void> | undefined;
  const final = await requestor.requestWithPending(
    1,
    { ...findRq(1), messageId },
    undefined,
    () => {
      if (++seen === 2) cancelled = requestor.cancel(1, messageId);
    },
  );
  await cancelled;
  assert.equal(final.command.status, Status.Cancel);
  assert.equal(final.command.messageIdBeingRespondedTo, messageId);
  await requestor.release();
  assert.equal(await running, "released");
});
