// The DIMSE channel: our requests and their responses, message ids, and PDVs the peer may
// not send.
import assert from "node:assert/strict";
import {
  type Command,
  CommandField,
  decodeCommand,
  encodeCommand,
  NO_DATASET,
} from "../../../src/core/dimse/command.ts";
import type { DimseResponse } from "../../../src/core/dimse/service_contract.ts";
import { Status } from "../../../src/core/dimse/status.ts";
import { DimseChannel } from "../../../src/core/ul/dimse_channel.ts";
import { decodePdu } from "../../../src/core/ul/pdu_decode.ts";
import { AbortReason, type PduError, PduType, type Pdv } from "../../../src/core/ul/pdu_types.ts";

type ChannelOptions = ConstructorParameters<typeof DimseChannel>[0];

/** A channel on presentation context 1 that writes nowhere, with `over` replacing parts. */
function channelOptions(over: Partial<ChannelOptions>): ChannelOptions {
  return {
    log: { log: () => {} },
    fields: () => ({}),
    canSendData: () => true,
    peerMaxPduLength: () => 16384,
    isAccepted: (pcId) => pcId === 1,
    write: () => Promise.resolve(),
    protocolError: () => Promise.resolve(),
    onRequest: () => {},
    onCancel: () => {},
    onPendingResponse: () => {},
    beginWork: () => {},
    endWork: () => {},
    ...over,
  };
}

function fixture() {
  const written: Uint8Array[] = [];
  const pending: DimseResponse[] = [];
  const errors: PduError[] = [];
  const requests: Command[] = [];
  const channel = new DimseChannel(channelOptions({
    write: (bytes) => (written.push(bytes), Promise.resolve()),
    protocolError: (e) => (errors.push(e), Promise.resolve()),
    onRequest: (_pcId, command) => requests.push(command),
    onPendingResponse: (_id, r) => pending.push(r),
  }));
  return { channel, written, pending, errors, requests };
}

/** The command PDV of a message, as the peer would send it. */
function commandPdv(command: Command, pcId = 1): Pdv {
  return {
    presentationContextId: pcId,
    isCommand: true,
    isLast: true,
    data: encodeCommand(command),
  };
}

/** The command our side wrote in its one P-DATA-TF. */
function sentCommand(bytes: Uint8Array): Command {
  const pdu = decodePdu(bytes);
  assert.equal(pdu.type, PduType.PDataTf);
  return decodeCommand(pdu.pdvs[0].data);
}

const findResponse = (id: number, status: number): Command => ({
  commandField: CommandField.CFindRsp,
  commandDataSetType: NO_DATASET,
  messageIdBeingRespondedTo: id,
  status,
});

Deno.test("request() sends the command and resolves with its final response; pending ones go on", async () => {
  const { channel, written, pending } = fixture();
  const result = channel.request(1, {
    commandField: CommandField.CEchoRq,
    commandDataSetType: NO_DATASET,
    affectedSopClassUid: "1.2.840.10008.1.1",
  });
  await new Promise((r) => setTimeout(r, 0));
  const sent = sentCommand(written[0]);
  assert.equal(sent.commandField, CommandField.CEchoRq);
  assert.equal(sent.messageId, 1);
  assert.ok(channel.awaitingPeer);
  await channel.receive([commandPdv(findResponse(1, Status.Pending))]);
  await channel.receive([commandPdv(findResponse(1, Status.Success))]);
  const final = await result;
  assert.equal(final.command.status, Status.Success);
  assert.deepEqual(pending.map((r) => r.command.status), [Status.Pending]);
  assert.ok(!channel.awaitingPeer);
});

Deno.test("request() calls onSent once its message is written, before the response, and not for a failed write", async () => {
  const events: string[] = [];
  let finishWrite!: () => void;
  const channel = new DimseChannel(channelOptions({
    write: () => {
      events.push("write started");
      return new Promise<void>((r) => (finishWrite = () => (events.push("write done"), r())));
    },
  }));
  const echo = { commandField: CommandField.CEchoRq, commandDataSetType: NO_DATASET };
  const result = channel.request(1, echo, undefined, { onSent: () => events.push("sent") });
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(events, ["write started"], "not told while the bytes are still going out");
  finishWrite();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(events, ["write started", "write done", "sent"]);
  await channel.receive([
    commandPdv({ ...findResponse(1, Status.Success), commandField: CommandField.CEchoRsp }),
  ]);
  assert.equal((await result).command.status, Status.Success);

  let told = false;
  const broken = new DimseChannel(channelOptions({
    write: () => Promise.reject(new Error("association closed")),
  }));
  await assert.rejects(broken.request(1, echo, undefined, { onSent: () => (told = true) }));
  assert.equal(told, false, "a message that never went out is not reported sent");
});

Deno.test("message ids count up from 1 and wrap after 0xFFFF, never to 0", () => {
  const { channel } = fixture();
  const ids = Array.from({ length: 0x10001 }, () => channel.newMessageId());
  assert.equal(ids[0], 1);
  assert.equal(ids[0xfffe], 0xffff);
  assert.equal(ids[0xffff], 1);
  assert.ok(!ids.includes(0));
});

Deno.test("a PDV on a context that was not accepted is a protocol error, not a request", async () => {
  const { channel, errors, requests } = fixture();
  await channel.receive([
    commandPdv({ commandField: CommandField.CEchoRq, commandDataSetType: NO_DATASET }, 3),
  ]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].reason, AbortReason.InvalidPduParameterValue);
  assert.equal(requests.length, 0);
  await channel.receive([
    commandPdv({
      commandField: CommandField.CEchoRq,
      commandDataSetType: NO_DATASET,
      messageId: 7,
    }),
  ]);
  assert.deepEqual(requests.map((c) => c.messageId), [7]);
});

Deno.test("close() fails the requests still waiting for the peer", async () => {
  const { channel } = fixture();
  const result = channel.request(1, {
    commandField: CommandField.CEchoRq,
    commandDataSetType: NO_DATASET,
  });
  await new Promise((r) => setTimeout(r, 0));
  channel.close(new Error("association closed"));
  await assert.rejects(result, /association closed/);
});

/** A channel whose requests' datasets go to `consume` through DatasetStream.forEach(). */
function storeFixture(consume: (chunk: Uint8Array) => void | Promise<void>) {
  const ended: Promise<void>[] = [];
  const channel = new DimseChannel(channelOptions({
    onRequest: (_pcId, _command, stream) => void ended.push(stream!.forEach(consume)),
  }));
  return { channel, ended };
}

const storeCommand = commandPdv({
  commandField: CommandField.CStoreRq,
  commandDataSetType: 0x0000, // a dataset follows
  messageId: 1,
});
const dataPdv = (bytes: number[], isLast = false): Pdv => ({
  presentationContextId: 1,
  isCommand: false,
  isLast,
  data: Uint8Array.from(bytes),
});

Deno.test("receive() hands a P-DATA-TF's fragments to a consumer that takes them at once without a promise", async () => {
  const got: number[] = [];
  const { channel, ended } = storeFixture((chunk) => void got.push(...chunk));
  // The command's PDU first: the service starts reading its dataset before the data arrives.
  await channel.receive([storeCommand]);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(channel.receive([dataPdv([1, 2]), dataPdv([3]), dataPdv([4], true)]), undefined);
  assert.deepEqual(got, [1, 2, 3, 4]);
  await ended[0]; // the dataset's last fragment ended it
});

Deno.test("receive() waits for a consumer that holds a fragment before handing it the next", async () => {
  const got: number[] = [];
  let release!: () => void;
  const { channel, ended } = storeFixture((chunk) => {
    got.push(...chunk);
    if (chunk[0] === 2) return new Promise<void>((r) => (release = r));
  });
  await channel.receive([storeCommand]);
  await new Promise((r) => setTimeout(r, 0));
  const receiving = channel.receive([dataPdv([1]), dataPdv([2]), dataPdv([3], true)]);
  assert.ok(receiving instanceof Promise);
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(got, [1, 2]); // the third waits for the second
  release();
  await receiving;
  assert.deepEqual(got, [1, 2, 3]);
  await ended[0];
});
