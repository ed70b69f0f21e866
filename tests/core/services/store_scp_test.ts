// The storage SCP's refusals before anything is written, and the classes it serves.
import assert from "node:assert/strict";
import { type Command, CommandField, NO_DATASET } from "../../../src/core/dimse/command.ts";
import { DatasetStream } from "../../../src/core/dimse/dataset_stream.ts";
import type { ServiceContext } from "../../../src/core/dimse/service_contract.ts";
import { Status } from "../../../src/core/dimse/status.ts";
import type { ObjectStore } from "../../../src/core/ports.ts";
import { StorageService } from "../../../src/core/services/store_scp.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const MR = "1.2.840.10008.5.1.4.1.1.4";
const ELE = "1.2.840.10008.1.2.1";

function run(o: { free: number; commandClass?: string; dataset?: boolean }) {
  let begun = 0;
  const store: ObjectStore = {
    freeBytes: () => Promise.resolve(o.free),
    begin: () => {
      begun++;
      return Promise.reject(new Error("not in this test"));
    },
    endAssociation: () => Promise.resolve(),
  };
  const stored: number[] = [];
  const service = new StorageService({
    store,
    sopClasses: "all",
    minFreeBytes: 1000,
    onStored: (i) => stored.push(i.status),
  });
  const sent: Command[] = [];
  const lines: string[] = [];
  const ctx = {
    association: { id: "1", callingAeTitle: "CT1", calledAeTitle: "MINIPACS", remote: "x" },
    logger: { log: (_l: string, m: string) => lines.push(m) },
    send: (c: Command) => (sent.push(c), Promise.resolve()),
  } as unknown as ServiceContext;
  const stream = o.dataset === false ? null : new DatasetStream();
  const done = service.handle({
    context: {
      id: 1,
      abstractSyntax: CT,
      transferSyntax: ELE,
      requestorIsScu: true,
      requestorIsScp: false,
    },
    command: {
      commandField: CommandField.CStoreRq,
      commandDataSetType: o.dataset === false ? NO_DATASET : 1,
      messageId: 5,
      affectedSopClassUid: o.commandClass ?? CT,
      affectedSopInstanceUid: "1.2.3.4",
    },
    dataset: stream,
  }, ctx);
  /** The peer sends the rest of its dataset; the answer comes once all of it is in. */
  const finish = async () => {
    await new Promise((r) => setTimeout(r, 10));
    const early = sent.length;
    if (stream) {
      await stream.push(new Uint8Array(100));
      stream.end();
    }
    await done;
    return early;
  };
  return { finish, sent, stored, lines, begun: () => begun };
}

Deno.test("below min_free the store is refused 0xA700 before anything is begun", async () => {
  const r = run({ free: 10 });
  assert.equal(await r.finish(), 0, "no answer before the whole dataset is in");
  assert.equal(r.sent.length, 1);
  assert.equal(r.sent[0].commandField, CommandField.CStoreRsp);
  assert.equal(r.sent[0].messageIdBeingRespondedTo, 5);
  assert.equal(r.sent[0].status, Status.RefusedOutOfResources);
  assert.match(r.sent[0].errorComment ?? "", /below min_free_mb/);
  assert.equal(r.begun(), 0);
  assert.deepEqual(r.stored, [Status.RefusedOutOfResources]);
});

Deno.test("a SOP class other than the context's, or no dataset, cannot be understood (0xC000)", async () => {
  const other = run({ free: 1e9, commandClass: MR });
  await other.finish();
  assert.equal(other.sent[0].status, Status.CannotUnderstand);
  assert.match(other.sent[0].errorComment ?? "", /differs from the presentation context/);
  const none = run({ free: 1e9, dataset: false });
  await none.finish();
  assert.equal(none.sent[0].status, Status.CannotUnderstand);
  assert.equal(other.begun() + none.begun(), 0);
});

Deno.test("a journal that cannot be begun is a refusal for lack of resources, not a crash", async () => {
  const r = run({ free: 1e9 });
  await r.finish();
  assert.equal(r.begun(), 1);
  assert.equal(r.sent[0].status, Status.RefusedOutOfResources);
  assert.match(r.sent[0].errorComment ?? "", /journal not writable/);
});

Deno.test("StorageService serves patient storage classes, not the non-patient ones", () => {
  const all = new StorageService({
    store: {} as ObjectStore,
    sopClasses: "all",
    minFreeBytes: 0,
  });
  const uids = [...all.syntaxes()].map((s) => s.abstractSyntax);
  assert.ok(uids.includes(CT) && uids.includes(MR));
  assert.ok(!uids.includes("1.2.840.10008.5.1.4.38.1"), "no Hanging Protocol Storage");
  const some = new StorageService({ store: {} as ObjectStore, sopClasses: [CT], minFreeBytes: 0 });
  assert.deepEqual([...some.syntaxes()].map((s) => s.abstractSyntax), [CT]);
});
