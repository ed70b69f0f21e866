// The C-STORE SCU of C-MOVE and C-GET sub-operations: what the request carries, the dataset
// as stored (or re-encoded where the peer took only another syntax), and failures that send
// nothing.
import assert from "node:assert/strict";
import { type Command, CommandField } from "../../../src/core/dimse/command.ts";
import type { FramedDataset } from "../../../src/core/dimse/data_packer.ts";
import { Status } from "../../../src/core/dimse/status.ts";
import { decodeDataset, encodingOf } from "../../../src/core/dicom/dataset.ts";
import { StoreScu } from "../../../src/core/services/store_scu.ts";
import type { AcceptedContext } from "../../../src/core/ul/negotiation.ts";
import { CT, ELE, ILE, JPEG, makeStored, MemoryObjects, MR } from "./retrieve_fixtures.ts";

type Body = Uint8Array | AsyncIterable<Uint8Array> | FramedDataset;

async function bytesOf(body: Body): Promise<Uint8Array> {
  if (body instanceof Uint8Array) return body.slice();
  const parts: Uint8Array[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) parts.push(c.slice());
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

const context = (id: number, abstractSyntax: string, transferSyntax: string): AcceptedContext => ({
  id,
  abstractSyntax,
  transferSyntax,
  requestorIsScu: true,
  requestorIsScp: false,
});

function scu(stored: ReturnType<typeof makeStored>[], contexts: AcceptedContext[]) {
  const sent: { pcId: number; command: Command; dataset: Uint8Array }[] = [];
  const store = new StoreScu({
    objects: new MemoryObjects(stored),
    contexts: () => contexts,
    request: async (pcId, command, dataset) => {
      sent.push({ pcId, command, dataset: await bytesOf(dataset) });
      return {
        command: { commandField: CommandField.CStoreRsp, commandDataSetType: 0x0101, status: 0 },
        dataset: null,
      };
    },
    moveOriginator: { aeTitle: "VIEWER", messageId: 9 },
  });
  return { store, sent };
}

const target = (s: ReturnType<typeof makeStored>) => ({
  sopInstanceUid: s.uid,
  sopClassUid: s.sopClassUid,
  transferSyntaxUid: s.ts,
});

Deno.test("store() sends the dataset as stored, with the instance and the move originator", async () => {
  const s = makeStored({ study: "1.2.3", ts: ELE });
  const { store, sent } = scu([s], [context(1, CT, ELE)]);
  const r = await store.store(target(s));
  store.close();
  assert.equal(r.outcome, "completed");
  assert.equal(r.status, Status.Success);
  assert.equal(sent.length, 1);
  const { pcId, command, dataset } = sent[0];
  assert.equal(pcId, 1);
  assert.equal(command.commandField, CommandField.CStoreRq);
  assert.equal(command.affectedSopInstanceUid, s.uid);
  assert.equal(command.affectedSopClassUid, CT);
  assert.equal(command.moveOriginatorAeTitle, "VIEWER");
  assert.equal(command.moveOriginatorMessageId, 9);
  assert.deepEqual(dataset, s.dataset, "the stored dataset, byte for byte, without file meta");
});

Deno.test("store() re-encodes into Implicit VR LE when that is all the peer took", async () => {
  const s = makeStored({ study: "1.2.3", ts: ELE });
  const { store, sent } = scu([s], [context(3, CT, ILE)]);
  const r = await store.store(target(s));
  store.close();
  assert.equal(r.outcome, "completed");
  const values = (b: Uint8Array, ts: string) =>
    decodeDataset(b, encodingOf(ts)).map((e) => [e.tag, e.value.length]);
  assert.deepEqual(values(sent[0].dataset, ILE), values(s.dataset, ELE));
});

Deno.test("store() fails without sending when no context fits, or the object is gone", async () => {
  const jpeg = makeStored({ study: "1.2.3", ts: JPEG });
  const mr = makeStored({ study: "1.2.3", ts: ELE, sopClassUid: MR });
  const { store, sent } = scu([jpeg, mr], [context(1, CT, ILE)]);
  // The JPEG fixture has no Image Pixel Module: it cannot be decoded for the Implicit context.
  const a = await store.store(target(jpeg));
  assert.equal(a.outcome, "failed");
  assert.match(
    a.reason ?? "",
    /cannot decode 1\.2\.840\.10008\.1\.2\.4\.50.*\(0028,0010\) is missing/,
  );
  assert.equal(sent.length, 0, "nothing was sent");
  const b = await store.store(target(mr));
  assert.equal(b.outcome, "failed");
  assert.match(b.reason ?? "", /no presentation context for MR Image Storage/);
  const c = await store.store({
    sopInstanceUid: "1.2.3.404",
    sopClassUid: CT,
    transferSyntaxUid: ILE,
  });
  assert.equal(c.outcome, "failed");
  store.close();
  assert.equal(sent.length, 0);
});

Deno.test("store() has the decoder's threads decode the next objects while one is sent", async () => {
  const objects = [1, 2, 3, 4, 5].map(() => makeStored({ study: "1.2.3", ts: JPEG }));
  let decoding = 0; // decodes under way at once
  let most = 0;
  let decodes = 0;
  const sent: string[] = [];
  const store = new StoreScu({
    objects: new MemoryObjects(objects),
    contexts: () => [context(1, CT, ILE)],
    request: async (_pcId, command, dataset) => {
      await bytesOf(dataset);
      sent.push(command.affectedSopInstanceUid ?? "");
      return {
        command: { commandField: CommandField.CStoreRsp, commandDataSetType: 0x0101, status: 0 },
        dataset: null,
      };
    },
    decoder: {
      async decode(_dataset, _from, to) {
        decodes++;
        most = Math.max(most, ++decoding);
        await new Promise((resolve) => setTimeout(resolve, 20));
        decoding--;
        return makeStored({ study: "1.2.3", ts: to }).dataset;
      },
    },
  });
  for (const [i, o] of objects.entries()) {
    const upcoming = objects.slice(i + 1, i + 4).map(target);
    assert.equal((await store.store(target(o), upcoming)).outcome, "completed");
  }
  store.close();
  assert.deepEqual(sent, objects.map((o) => o.uid), "every object, in order");
  assert.equal(decodes, 5, "each object decoded once");
  assert.equal(most, 3, "three objects were being decoded at once, ahead of the one sent");
});

Deno.test("store() reads the next object once the message is handed on, not while it is still going out", async () => {
  const [a, b] = [1, 2].map(() => makeStored({ study: "1.2.3", ts: ELE }));
  const objects = new MemoryObjects([a, b]);
  const opened: string[] = [];
  const readObject = objects.readObject.bind(objects);
  objects.readObject = (uid) => (opened.push(uid), readObject(uid));
  const events: string[] = [];
  const store = new StoreScu({
    objects,
    contexts: () => [context(1, CT, ELE)],
    // With the peer's maximum known, a small object goes out as one framed message.
    peerMaxPduLength: 16384,
    request: async (_pcId, command, _dataset, onSent) => {
      // The transport takes a while with the bytes (a TLS connection encrypting them).
      await new Promise((r) => setTimeout(r, 10));
      events.push(`${command.affectedSopInstanceUid} written, next opened: ${opened.length > 1}`);
      onSent?.();
      await new Promise((r) => setTimeout(r, 10));
      events.push(`${command.affectedSopInstanceUid} answered, next opened: ${opened.length > 1}`);
      return {
        command: { commandField: CommandField.CStoreRsp, commandDataSetType: 0x0101, status: 0 },
        dataset: null,
      };
    },
  });
  assert.equal((await store.store(target(a), [target(b)])).outcome, "completed");
  assert.equal((await store.store(target(b))).outcome, "completed");
  store.close();
  assert.deepEqual(events.slice(0, 2), [
    `${a.uid} written, next opened: false`,
    `${a.uid} answered, next opened: true`,
  ]);
  assert.deepEqual(opened, [a.uid, b.uid], "each object opened once");
});
