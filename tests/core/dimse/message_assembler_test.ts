import assert from "node:assert/strict";
import {
  type Command,
  CommandField,
  DimseError,
  encodeCommand,
  NO_DATASET,
} from "../../../src/core/dimse/command.ts";
import { concatBytes } from "../../../src/core/dicom/bytes.ts";
import { DataPacker, packCommand } from "../../../src/core/dimse/data_packer.ts";
import { type DimseEvent, MessageAssembler } from "../../../src/core/dimse/message_assembler.ts";
import type { Pdv } from "../../../src/core/ul/pdu_types.ts";

const STORE_RQ: Command = {
  commandField: CommandField.CStoreRq,
  commandDataSetType: 0x0000,
  messageId: 11,
  priority: 0,
  affectedSopClassUid: "1.2.840.10008.5.1.4.1.1.2",
  affectedSopInstanceUid: "1.2.826.0.1.3680043.2.1125.1.42",
};
const ECHO_RQ: Command = {
  commandField: CommandField.CEchoRq,
  commandDataSetType: NO_DATASET,
  messageId: 12,
  affectedSopClassUid: "1.2.840.10008.1.1",
};
const DATASET = Uint8Array.from({ length: 24 }, (_, i) => i * 7 + 1);

/** PDV items in one P-DATA-TF PDU, written by hand (PS3.8 9.3.5). */
function pDataTf(pdvs: Pdv[]): Uint8Array {
  const length = pdvs.reduce((n, p) => n + 6 + p.data.length, 0);
  const out = new Uint8Array(6 + length);
  const dv = new DataView(out.buffer);
  out[0] = 0x04;
  dv.setUint32(2, length);
  let off = 6;
  for (const p of pdvs) {
    dv.setUint32(off, 2 + p.data.length);
    out[off + 4] = p.presentationContextId;
    out[off + 5] = (p.isCommand ? 1 : 0) | (p.isLast ? 2 : 0);
    out.set(p.data, off + 6);
    off += 6 + p.data.length;
  }
  return out;
}

/** Reads the PDVs of a P-DATA-TF PDU as views into it, as the PDU decoder does. */
/** The PDVs of one P-DATA-TF PDU, or of several written back to back. */
function pdvsOf(block: Uint8Array): Pdv[] {
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const pdvs: Pdv[] = [];
  for (let start = 0; start < block.length;) {
    const end = start + 6 + dv.getUint32(start + 2);
    for (let off = start + 6; off < end;) {
      const len = dv.getUint32(off);
      pdvs.push({
        presentationContextId: block[off + 4],
        isCommand: (block[off + 5] & 1) !== 0,
        isLast: (block[off + 5] & 2) !== 0,
        data: block.subarray(off + 6, off + 4 + len),
      });
      off += 4 + len;
    }
    start = end;
  }
  return pdvs;
}

/** Cuts bytes at the given offsets into PDVs of one message part. */
function fragments(pc: number, isCommand: boolean, bytes: Uint8Array, cuts: number[]): Pdv[] {
  const edges = [0, ...cuts, bytes.length];
  return edges.slice(1).map((end, i) => ({
    presentationContextId: pc,
    isCommand,
    isLast: i === edges.length - 2,
    data: bytes.subarray(edges[i], end),
  }));
}

/** Cuts into n nearly equal parts. */
function evenCuts(length: number, n: number): number[] {
  return Array.from({ length: n - 1 }, (_, i) => Math.round((length * (i + 1)) / n));
}

/** Groups PDVs into PDUs of `perPdu` items, encodes and decodes them, feeds the assembler. */
function feed(asm: MessageAssembler, pdvs: Pdv[], perPdu: number): DimseEvent[] {
  const events: DimseEvent[] = [];
  for (let i = 0; i < pdvs.length; i += perPdu) {
    for (const pdv of pdvsOf(pDataTf(pdvs.slice(i, i + perPdu)))) {
      events.push(...asm.accept(pdv));
    }
  }
  return events;
}

function checkStoreEvents(events: DimseEvent[], pc: number): void {
  const [first, ...data] = events;
  assert.deepEqual(first, { kind: "command", pcId: pc, command: STORE_RQ, hasDataset: true });
  const chunks: Uint8Array[] = [];
  data.forEach((e, i) => {
    assert.equal(e.kind, "data");
    if (e.kind !== "data") return;
    assert.equal(e.pcId, pc);
    assert.equal(e.isLast, i === data.length - 1);
    chunks.push(e.chunk);
  });
  assert.deepEqual(concatBytes(chunks), DATASET);
}

Deno.test("MessageAssembler gives the same message for every fragmentation", () => {
  const cmd = encodeCommand(STORE_RQ);
  const cmdSplits: number[][] = [];
  for (let cut = 0; cut <= cmd.length; cut++) cmdSplits.push([cut]); // every single cut
  for (let n = 1; n <= cmd.length; n++) cmdSplits.push(evenCuts(cmd.length, n));
  let runs = 0;
  for (const cmdCuts of cmdSplits) {
    for (let n = 1; n <= DATASET.length; n++) {
      const pdvs = [
        ...fragments(3, true, cmd, cmdCuts),
        ...fragments(3, false, DATASET, evenCuts(DATASET.length, n)),
      ];
      for (const perPdu of [1, 2, 3, pdvs.length]) {
        const asm = new MessageAssembler();
        checkStoreEvents(feed(asm, pdvs, perPdu), 3);
        assert.equal(asm.inProgress, false);
        runs++;
      }
    }
  }
  assert.ok(runs > 1000);
});

Deno.test("MessageAssembler reports inProgress until the last dataset fragment", () => {
  const asm = new MessageAssembler();
  const pdvs = [
    ...fragments(1, true, encodeCommand(STORE_RQ), [10]),
    ...fragments(1, false, DATASET, [8, 16]),
  ];
  const seen = pdvs.map((pdv) => {
    asm.accept(pdv);
    return asm.inProgress;
  });
  assert.deepEqual(seen, [true, true, true, true, false]);
});

Deno.test("MessageAssembler passes dataset fragments on as views, not copies", () => {
  const pdu = pDataTf([
    ...fragments(1, true, encodeCommand(STORE_RQ), []),
    ...fragments(1, false, DATASET, []),
  ]);
  const asm = new MessageAssembler();
  const [cmdPdv, dataPdv] = pdvsOf(pdu);
  asm.accept(cmdPdv);
  const [data] = asm.accept(dataPdv);
  assert.equal(data.kind, "data");
  if (data.kind === "data") assert.equal(data.chunk.buffer, pdu.buffer);
});

Deno.test("MessageAssembler reads messages back to back on different contexts", () => {
  const asm = new MessageAssembler();
  const pdvs = [
    ...fragments(1, true, encodeCommand(ECHO_RQ), []),
    ...fragments(5, true, encodeCommand(STORE_RQ), [7]),
    ...fragments(5, false, DATASET, [12]),
    ...fragments(1, true, encodeCommand({ ...ECHO_RQ, messageId: 13 }), [2]),
  ];
  const events = feed(asm, pdvs, 4);
  assert.deepEqual(events[0], { kind: "command", pcId: 1, command: ECHO_RQ, hasDataset: false });
  checkStoreEvents(events.slice(1, 4), 5);
  assert.deepEqual(events[4], {
    kind: "command",
    pcId: 1,
    command: { ...ECHO_RQ, messageId: 13 },
    hasDataset: false,
  });
  assert.equal(events.length, 5);
});

Deno.test("MessageAssembler reads what packCommand() and DataPacker send", () => {
  for (const max of [0, 9, 64, 16384]) {
    const packer = new DataPacker(7, max);
    const pdus = [
      ...packCommand(7, encodeCommand(STORE_RQ), max),
      packer.push(DATASET.subarray(0, 5)),
      packer.push(DATASET.subarray(5)),
      packer.end(),
    ];
    const asm = new MessageAssembler();
    const events = pdus.flatMap((pdu) => pdvsOf(pdu).flatMap((pdv) => asm.accept(pdv)));
    checkStoreEvents(events, 7);
  }
});

function pdv(
  pc: number,
  isCommand: boolean,
  isLast: boolean,
  data: Uint8Array = new Uint8Array(2),
): Pdv {
  return { presentationContextId: pc, isCommand, isLast, data };
}

function rejects(asm: MessageAssembler, p: Pdv, pattern: RegExp): void {
  assert.throws(
    () => asm.accept(p),
    (e: unknown) => e instanceof DimseError && pattern.test(e.message),
  );
}

Deno.test("MessageAssembler rejects a data PDV with no command before it", () => {
  rejects(new MessageAssembler(), pdv(1, false, true), /no command before it/);
});

Deno.test("MessageAssembler rejects a data PDV after the dataset was complete", () => {
  const asm = new MessageAssembler();
  feed(asm, [
    ...fragments(1, true, encodeCommand(STORE_RQ), []),
    ...fragments(1, false, DATASET, []),
  ], 1);
  rejects(asm, pdv(1, false, true), /no command before it/);
});

Deno.test("MessageAssembler rejects data on another context than its command", () => {
  const asm = new MessageAssembler();
  asm.accept(fragments(3, true, encodeCommand(STORE_RQ), [])[0]);
  rejects(asm, pdv(5, false, false), /context 5 for C-STORE-RQ sent on context 3/);
});

Deno.test("MessageAssembler rejects a command PDV while a dataset is expected", () => {
  const asm = new MessageAssembler();
  asm.accept(fragments(3, true, encodeCommand(STORE_RQ), [])[0]);
  asm.accept(pdv(3, false, false));
  rejects(asm, fragments(3, true, encodeCommand(ECHO_RQ), [])[0], /dataset of C-STORE-RQ/);
});

Deno.test("MessageAssembler rejects data after a command that has no dataset", () => {
  const asm = new MessageAssembler();
  const [event] = asm.accept(fragments(1, true, encodeCommand(ECHO_RQ), [])[0]);
  assert.equal(event.kind === "command" && event.hasDataset, false);
  assert.equal(asm.inProgress, false);
  rejects(asm, pdv(1, false, true), /after C-ECHO-RQ, which has no dataset/);
});

Deno.test("MessageAssembler rejects a command fragment on another context mid-command", () => {
  const asm = new MessageAssembler();
  const [head] = fragments(1, true, encodeCommand(ECHO_RQ), [10]);
  assert.deepEqual(asm.accept(head), []);
  rejects(asm, pdv(3, true, true), /command on context 1 is incomplete/);
});

Deno.test("MessageAssembler rejects a data PDV before the command set is complete", () => {
  const asm = new MessageAssembler();
  asm.accept(fragments(1, true, encodeCommand(STORE_RQ), [10])[0]);
  rejects(asm, pdv(1, false, true), /before the command set was complete/);
});

Deno.test("MessageAssembler rejects a command set over its byte limit", () => {
  const asm = new MessageAssembler(100);
  const cmd = new Uint8Array(101);
  asm.accept(pdv(1, true, false, cmd.subarray(0, 60)));
  rejects(asm, pdv(1, true, false, cmd.subarray(60)), /exceeds 100 bytes/);
});

Deno.test("MessageAssembler rejects a malformed command set", () => {
  const asm = new MessageAssembler();
  const cmd = encodeCommand(ECHO_RQ);
  assert.throws(() => asm.accept(pdv(1, true, true, cmd.subarray(0, cmd.length - 3))), DimseError);
});
