// Storage Commitment SCP in process: our requestor sends N-ACTION-RQs over an in-memory
// connection; a fake port stands for storage and says where each report went.
import assert from "node:assert/strict";
import {
  type Command,
  CommandField,
  decodeCommand,
  encodeCommand,
  NO_DATASET,
} from "../../../src/core/dimse/command.ts";
import { encodeDataset, encodingOf } from "../../../src/core/dicom/dataset.ts";
import {
  type CommitmentPort,
  type CommitmentRequest,
  type CommitmentResult,
  decodeActionInformation,
  decodeEventInformation,
  encodeEventInformation,
  STORAGE_COMMITMENT_INSTANCE,
  STORAGE_COMMITMENT_PUSH_MODEL,
  StorageCommitmentService,
} from "../../../src/core/services/commitment.ts";
import type { DimseService } from "../../../src/core/dimse/service_contract.ts";
import { AcceptorAssociation } from "../../../src/core/ul/acceptor.ts";
import { RequestorAssociation } from "../../../src/core/ul/requestor.ts";
import { memoryConnectionPair } from "../../helpers/memory_connection.ts";
import { quietLogger } from "../../helpers/scu.ts";

const ILE = "1.2.840.10008.1.2";
const ELE = "1.2.840.10008.1.2.1";
const CT = "1.2.840.10008.5.1.4.1.1.2";
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

const RESULT: CommitmentResult = {
  transactionUid: "2.25.77",
  committed: [{ sopClassUid: CT, sopInstanceUid: "1.2.3.1" }],
  failed: [{ sopClassUid: CT, sopInstanceUid: "1.2.3.2", reason: 0x0112 }],
};

Deno.test("Event Information round-trips in Implicit and Explicit VR LE, with its sequences", () => {
  for (const ts of [ILE, ELE]) {
    const bytes = encodeEventInformation(RESULT, ts, "MINIPACS");
    assert.deepEqual(decodeEventInformation(bytes, ts), RESULT, ts);
  }
});

Deno.test("Action Information: Transaction UID and references read; missing ones refused", () => {
  const ui = (tag: number, s: string) => ({ tag, vr: "UI", value: new TextEncoder().encode(s) });
  const seq = (items: ReturnType<typeof ui>[][]) => ({
    tag: 0x00081199,
    vr: "SQ",
    value: new Uint8Array(0),
    items,
  });
  const good = encodeDataset([
    ui(0x00081195, "2.25.5"),
    seq([[ui(0x00081150, CT), ui(0x00081155, "1.2.9")]]),
  ], encodingOf(ILE));
  assert.deepEqual(decodeActionInformation(good, ILE), {
    transactionUid: "2.25.5",
    refs: [{ sopClassUid: CT, sopInstanceUid: "1.2.9" }],
  });
  const noTx = encodeDataset([seq([])], encodingOf(ILE));
  assert.throws(() => decodeActionInformation(noTx, ILE), /Transaction UID/);
  const noUid = encodeDataset(
    [ui(0x00081195, "2.25.5"), seq([[ui(0x00081150, CT)]])],
    encodingOf(ILE),
  );
  assert.throws(() => decodeActionInformation(noUid, ILE), /lacks/);
});

Deno.test("Action Type ID and Event Type ID encode and decode in the command set", () => {
  const cmd: Command = {
    commandField: CommandField.NEventReportRq,
    commandDataSetType: 0,
    messageId: 3,
    affectedSopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
    affectedSopInstanceUid: STORAGE_COMMITMENT_INSTANCE,
    eventTypeId: 2,
    actionTypeId: 1,
  };
  const back = decodeCommand(encodeCommand(cmd).subarray(12));
  assert.equal(back.eventTypeId, 2);
  assert.equal(back.actionTypeId, 1);
  assert.equal(back.other, undefined, "modelled, not kept raw");
});

/** A port that checks nothing (every reference committed) and records the outcome. */
class FakePort implements CommitmentPort {
  requests: CommitmentRequest[] = [];
  outcome = new Map<number, "delivered" | "deferred">();
  accept(request: CommitmentRequest) {
    this.requests.push(request);
    const id = this.requests.length;
    return Promise.resolve({
      id,
      result: { transactionUid: request.transactionUid, committed: request.refs, failed: [] },
    });
  }
  delivered(id: number) {
    this.outcome.set(id, "delivered");
  }
  deferred(id: number) {
    this.outcome.set(id, "deferred");
  }
}

/** An N-EVENT-REPORT receiver that answers, or stays silent when `silent`. */
function receiver(silent: boolean): DimseService & { got: number[] } {
  const got: number[] = [];
  return {
    name: "report",
    commandFields: [CommandField.NEventReportRq],
    syntaxes: () => [],
    got,
    async handle(req, ctx) {
      await req.dataset?.collect(1 << 20);
      got.push(req.command.eventTypeId ?? 0);
      if (silent) return;
      await ctx.send({
        commandField: CommandField.NEventReportRsp,
        commandDataSetType: NO_DATASET,
        messageIdBeingRespondedTo: req.command.messageId ?? 0,
        status: 0,
      });
    },
  };
}

async function pair(port: FakePort, peer: DimseService, reportTimeoutMs = 2000) {
  const [a, b] = memoryConnectionPair();
  const service = new StorageCommitmentService({
    port,
    aeTitle: "MINIPACS",
    releaseWatchMs: 20,
    reportTimeoutMs,
  });
  const scp = new AcceptorAssociation({
    id: "scp",
    connection: b,
    logger: quietLogger,
    artimTimeoutMs: 5000,
    idleTimeoutMs: 0,
    maxPduLength: 16384,
    services: [service],
    policy: () => ({
      aeTitle: "MINIPACS",
      checkCalledAe: false,
      maxPduLength: 16384,
      implementationClassUid: "1.2.3",
      implementationVersionName: "T",
      syntaxes: new Map([...service.syntaxes()].map((s) => [s.abstractSyntax, s])),
    }),
  });
  const running = scp.run();
  const scu = new RequestorAssociation({
    id: "scu",
    connection: a,
    logger: quietLogger,
    artimTimeoutMs: 5000,
    idleTimeoutMs: 0,
    maxPduLength: 16384,
    callingAeTitle: "MODALITY",
    calledAeTitle: "MINIPACS",
    implementationClassUid: "1.2.4",
    implementationVersionName: "M",
    presentationContexts: [{
      id: 1,
      abstractSyntax: STORAGE_COMMITMENT_PUSH_MODEL,
      transferSyntaxes: [ILE],
    }],
    services: [peer],
  });
  await scu.open();
  return { scu, running };
}

function nAction(scu: RequestorAssociation, tx: string) {
  const ui = (tag: number, s: string) => ({ tag, vr: "UI", value: new TextEncoder().encode(s) });
  const info = encodeDataset([
    ui(0x00081195, tx),
    {
      tag: 0x00081199,
      vr: "SQ",
      value: new Uint8Array(0),
      items: [[ui(0x00081150, CT), ui(0x00081155, "1.2.3.1")]],
    },
  ], encodingOf(ILE));
  return scu.request(1, {
    commandField: CommandField.NActionRq,
    commandDataSetType: 0,
    requestedSopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
    requestedSopInstanceUid: STORAGE_COMMITMENT_INSTANCE,
    actionTypeId: 1,
  }, info);
}

Deno.test("a requester still waiting gets the report on its association (Event Type 1)", async () => {
  const port = new FakePort();
  const peer = receiver(false);
  const { scu, running } = await pair(port, peer);
  const rsp = await nAction(scu, "2.25.1");
  assert.equal(rsp.command.status, 0);
  assert.equal(rsp.command.commandField, CommandField.NActionRsp);
  assert.equal(rsp.command.affectedSopInstanceUid, STORAGE_COMMITMENT_INSTANCE);
  for (let i = 0; i < 100 && !port.outcome.has(1); i++) await delay(10);
  assert.deepEqual(peer.got, [1]);
  assert.equal(port.outcome.get(1), "delivered");
  assert.equal(port.requests[0].callingAeTitle, "MODALITY");
  await scu.release();
  await running;
});

Deno.test("a requester that releases right after the N-ACTION-RSP: the report is handed on", async () => {
  const port = new FakePort();
  const peer = receiver(false);
  const { scu, running } = await pair(port, peer);
  await nAction(scu, "2.25.2");
  await scu.release();
  await running;
  for (let i = 0; i < 100 && !port.outcome.has(1); i++) await delay(10);
  assert.equal(port.outcome.get(1), "deferred");
  assert.deepEqual(peer.got, [], "nothing sent on a released association");
});

Deno.test("a requester that never answers the N-EVENT-REPORT: handed on, and its release is not held up", async () => {
  const port = new FakePort();
  const peer = receiver(true);
  const { scu, running } = await pair(port, peer, 10_000);
  await nAction(scu, "2.25.3");
  for (let i = 0; i < 100 && peer.got.length === 0; i++) await delay(10);
  assert.deepEqual(peer.got, [1]);
  const t0 = performance.now();
  await scu.release();
  await running;
  assert.ok(performance.now() - t0 < 2000, "release answered without waiting for the report");
  for (let i = 0; i < 100 && !port.outcome.has(1); i++) await delay(10);
  assert.equal(port.outcome.get(1), "deferred");
});

Deno.test("an N-ACTION-RQ with unreadable Action Information is refused with a status, the association lives on", async () => {
  const port = new FakePort();
  const peer = receiver(false);
  const { scu, running } = await pair(port, peer);
  const garbage = new Uint8Array([0x08, 0x00, 0x95, 0x11, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]);
  const rsp = await scu.request(1, {
    commandField: CommandField.NActionRq,
    commandDataSetType: 0,
    requestedSopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
    requestedSopInstanceUid: STORAGE_COMMITMENT_INSTANCE,
    actionTypeId: 1,
  }, garbage);
  assert.equal(rsp.command.status, 0x0110);
  assert.match(rsp.command.errorComment ?? "", /unreadable/);
  const wrongInstance = await scu.request(1, {
    commandField: CommandField.NActionRq,
    commandDataSetType: 0,
    requestedSopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
    requestedSopInstanceUid: "1.2.3",
    actionTypeId: 1,
  }, garbage);
  assert.equal(wrongInstance.command.status, 0x0112);
  assert.equal(port.requests.length, 0, "nothing recorded");
  // Still usable: a good request goes through.
  assert.equal((await nAction(scu, "2.25.9")).command.status, 0);
  await scu.release();
  await running;
});
