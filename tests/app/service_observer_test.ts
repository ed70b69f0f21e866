// The services as the server runs them: every response still goes out, and each final one
// (not a pending) is reported once with its service, status and, for C-STORE, the SOP class.
import assert from "node:assert/strict";
import { observeServices } from "../../src/app/service_observer.ts";
import { CommandField, DATASET_PRESENT, NO_DATASET } from "../../src/core/dimse/command.ts";
import { Status } from "../../src/core/dimse/status.ts";
import type { DimseService, ServiceContext } from "../../src/core/dimse/service_contract.ts";

const CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2";
const association = { id: "1", callingAeTitle: "CT1", calledAeTitle: "PACS", remote: "x:1" };

function run(service: DimseService, request: Record<string, unknown>) {
  const sent: number[] = [];
  const reported: [string, number, string][] = [];
  const [wrapped] = observeServices([service], (info, name, status, detail) => {
    assert.equal(info.id, "1");
    reported.push([name, status, detail]);
  });
  const ctx = {
    association,
    send: (cmd: { status?: number }) => {
      sent.push(cmd.status ?? -1);
      return Promise.resolve();
    },
  } as unknown as ServiceContext;
  return {
    wrapped,
    done: wrapped.handle({ command: request } as never, ctx).then(() => ({ sent, reported })),
  };
}

Deno.test("observeServices() reports final responses only, and passes every one on", async () => {
  const find: DimseService = {
    name: "find",
    commandFields: [CommandField.CFindRq],
    *syntaxes() {},
    async handle(_req, ctx) {
      const rsp = { commandField: CommandField.CFindRsp, commandDataSetType: DATASET_PRESENT };
      await ctx.send({ ...rsp, status: Status.Pending });
      await ctx.send({ ...rsp, status: Status.PendingWarning });
      await ctx.send({ ...rsp, commandDataSetType: NO_DATASET, status: Status.Success });
    },
  };
  const { wrapped, done } = run(find, { commandField: CommandField.CFindRq });
  assert.equal(wrapped.name, "find");
  assert.deepEqual(wrapped.commandFields, [CommandField.CFindRq]);
  const { sent, reported } = await done;
  assert.deepEqual(sent, [Status.Pending, Status.PendingWarning, Status.Success]);
  assert.deepEqual(reported, [["find", Status.Success, ""]]);
});

Deno.test("observeServices() names the SOP class of a C-STORE and ignores requests sent", async () => {
  const store: DimseService = {
    name: "store",
    commandFields: [CommandField.CStoreRq],
    *syntaxes() {},
    async handle(_req, ctx) {
      // A request this service sends itself (a sub-operation) is no final response.
      await ctx.send({ commandField: CommandField.CStoreRq, commandDataSetType: DATASET_PRESENT });
      await ctx.send({
        commandField: CommandField.CStoreRsp,
        commandDataSetType: NO_DATASET,
        status: Status.Success,
      });
    },
  };
  const { done } = run(store, {
    commandField: CommandField.CStoreRq,
    affectedSopClassUid: `${CT_IMAGE}\0`,
  });
  const { sent, reported } = await done;
  assert.equal(sent.length, 2);
  assert.equal(reported.length, 1);
  assert.equal(reported[0][0], "store");
  assert.match(reported[0][2], /CT Image Storage/);
});
