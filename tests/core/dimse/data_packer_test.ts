import assert from "node:assert/strict";
import { concatBytes } from "../../../src/core/dicom/bytes.ts";
import {
  DataPacker,
  fragmentCapacity,
  FramedDataset,
  MAX_PDU_SENT,
  packCommand,
} from "../../../src/core/dimse/data_packer.ts";
import { DimseError } from "../../../src/core/dimse/command.ts";

interface ParsedPdv {
  pcId: number;
  isCommand: boolean;
  isLast: boolean;
  data: Uint8Array;
}

/** Reads one P-DATA-TF PDU by hand (PS3.8 9.3.5): checks framing, returns its PDVs. */
function parsePDataTf(pdu: Uint8Array): { pduLength: number; pdvs: ParsedPdv[] } {
  const dv = new DataView(pdu.buffer, pdu.byteOffset, pdu.byteLength);
  assert.equal(pdu[0], 0x04, "PDU type");
  assert.equal(pdu[1], 0x00, "reserved");
  const pduLength = dv.getUint32(2);
  assert.equal(pduLength, pdu.length - 6, "PDU length excludes the 6-byte header");
  const pdvs: ParsedPdv[] = [];
  let off = 6;
  while (off < pdu.length) {
    const itemLength = dv.getUint32(off);
    assert.ok(itemLength >= 2);
    const control = pdu[off + 5];
    pdvs.push({
      pcId: pdu[off + 4],
      isCommand: (control & 1) !== 0,
      isLast: (control & 2) !== 0,
      data: pdu.subarray(off + 6, off + 4 + itemLength),
    });
    off += 4 + itemLength;
  }
  assert.equal(off, pdu.length, "PDV items fill the PDU exactly");
  return { pduLength, pdvs };
}

/** Deterministic bytes and chunk sizes. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}
function bytes(n: number, seed: number): Uint8Array {
  const r = lcg(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = r() >>> 24;
  return out;
}

/** Splits a block of P-DATA-TF PDUs written back to back into the PDUs. */
function splitPdus(block: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  for (let off = 0; off < block.length;) {
    const n = 6 + dv.getUint32(off + 2);
    out.push(block.subarray(off, off + n));
    off += n;
  }
  return out;
}

/** Checks every PDU of one message part; returns the data joined. */
function checkMessagePart(
  pdus: Uint8Array[],
  maxPduLength: number,
  pcId: number,
  isCommand: boolean,
): Uint8Array {
  const limit = maxPduLength === 0 ? MAX_PDU_SENT : maxPduLength;
  const parts: Uint8Array[] = [];
  pdus.forEach((pdu, i) => {
    const { pduLength, pdvs } = parsePDataTf(pdu);
    assert.ok(pduLength <= limit, `PDU length ${pduLength} over the peer's ${limit}`);
    assert.equal(pdvs.length, 1);
    const [pdv] = pdvs;
    assert.equal(pdv.pcId, pcId);
    assert.equal(pdv.isCommand, isCommand);
    const last = i === pdus.length - 1;
    assert.equal(pdv.isLast, last, `last flag on fragment ${i} of ${pdus.length}`);
    if (!last) assert.equal(pdv.data.length % 2, 0, "non-last fragments are even");
    if (!last) assert.ok(pdv.data.length > 0, "no empty middle fragment");
    parts.push(pdv.data);
  });
  return concatBytes(parts);
}

const MAXIMA = [0, 8, 9, 16, 17, 101, 1000, 16384, 16385, 1 << 20];
const SIZES = [0, 1, 2, 3, 101, 994, 995, 996, 16378, 16379, 3 * 16378 + 1, 300_000];

Deno.test("packCommand() splits a command set within the peer's max and flags the last", () => {
  const cmd = bytes(130, 1);
  for (const max of MAXIMA) {
    const pdus = packCommand(3, cmd, max);
    assert.deepEqual(checkMessagePart(pdus, max, 3, true), cmd, `max ${max}`);
  }
});

Deno.test("packCommand() sends an empty command set as one last fragment", () => {
  const pdus = packCommand(1, new Uint8Array(0), 16384);
  assert.equal(pdus.length, 1);
  assert.equal(checkMessagePart(pdus, 16384, 1, true).length, 0);
});

Deno.test("DataPacker reassembles byte-exact for odd, even and unlimited maxima", () => {
  for (const max of MAXIMA) {
    for (const size of SIZES) {
      if (max < 100 && size > 20_000) continue; // keeps the PDU count sane
      const data = bytes(size, size + max);
      const rand = lcg(max * 31 + size);
      const packer = new DataPacker(5, max);
      const pdus: Uint8Array[] = [];
      let off = 0;
      while (off < size) {
        const n = Math.min(size - off, 1 + (rand() % 40_000));
        pdus.push(...splitPdus(packer.push(data.subarray(off, off + n))));
        off += n;
      }
      pdus.push(packer.end());
      const got = checkMessagePart(pdus, max, 5, false);
      assert.deepEqual(got, data, `max ${max} size ${size}`);
      const cap = fragmentCapacity(max);
      assert.equal(pdus.length, Math.max(1, Math.ceil(size / cap)), `max ${max} size ${size}`);
    }
  }
});

Deno.test("DataPacker returns the PDUs a push completes in one buffer, back to back", () => {
  const packer = new DataPacker(3, 1006); // 1000 data bytes per PDU
  const data = bytes(5500, 7);
  const block = packer.push(data);
  assert.equal(block.length, 5 * 1012, "five whole PDUs, the rest held back");
  const pdus = [...splitPdus(block), packer.end()];
  assert.deepEqual(checkMessagePart(pdus, 1006, 3, false), data);
});

Deno.test("DataPacker copies pushed bytes, so the caller may reuse its buffer", () => {
  const packer = new DataPacker(1, 16384);
  const buf = new Uint8Array([1, 2, 3, 4]);
  packer.push(buf);
  buf.fill(9);
  const pdu = packer.end();
  assert.deepEqual(parsePDataTf(pdu).pdvs[0].data, new Uint8Array([1, 2, 3, 4]));
});

Deno.test("DataPacker holds a full PDU back until it knows whether it is the last", () => {
  const max = 106; // 100 data bytes per PDU
  const packer = new DataPacker(7, max);
  assert.equal(packer.push(bytes(100, 1)).length, 0);
  const out = splitPdus(packer.push(new Uint8Array([0xaa])));
  assert.equal(out.length, 1);
  assert.equal(parsePDataTf(out[0]).pdvs[0].isLast, false);
  assert.equal(out[0].length, max + 6);
  const last = packer.end();
  assert.deepEqual(parsePDataTf(last).pdvs[0], {
    pcId: 7,
    isCommand: false,
    isLast: true,
    data: new Uint8Array([0xaa]),
  });
});

Deno.test("DataPacker.end() with no data sends one empty last fragment", () => {
  const packer = new DataPacker(9, 0);
  assert.equal(packer.push(new Uint8Array(0)).length, 0);
  const pdus = splitPdus(packer.end());
  assert.equal(pdus.length, 1);
  assert.deepEqual(parsePDataTf(pdus[0]).pdvs, [{
    pcId: 9,
    isCommand: false,
    isLast: true,
    data: new Uint8Array(0),
  }]);
});

Deno.test("DataPacker can pack a second message after end()", () => {
  const packer = new DataPacker(1, 64);
  for (const seed of [1, 2]) {
    const data = bytes(200, seed);
    const pdus = [...splitPdus(packer.push(data)), packer.end()];
    assert.deepEqual(checkMessagePart(pdus, 64, 1, false), data);
  }
});

Deno.test("DataPacker never sends more than 256 KiB per PDU, even if the peer allows more", () => {
  const packer = new DataPacker(1, 0x7fffffff);
  const pdus = [...splitPdus(packer.push(new Uint8Array(600_000))), packer.end()];
  assert.equal(pdus.length, 3);
  for (const pdu of pdus) assert.ok(pdu.length <= MAX_PDU_SENT + 6);
});

Deno.test("fragmentCapacity() keeps fragments even and refuses a maximum with no room", () => {
  assert.equal(fragmentCapacity(16384), 16378);
  assert.equal(fragmentCapacity(16385), 16378);
  assert.equal(fragmentCapacity(0), MAX_PDU_SENT - 6);
  assert.equal(fragmentCapacity(8), 2);
  assert.throws(() => fragmentCapacity(7), DimseError);
  assert.throws(() => new DataPacker(1, 4), DimseError);
});

Deno.test("concatBytes() joins PDUs in order for a single write", () => {
  const command = packCommand(1, bytes(10, 3), 0);
  const packer = new DataPacker(1, 0);
  assert.equal(packer.push(bytes(6, 4)).length, 0);
  const data = [packer.end()];
  const joined = concatBytes([...command, ...data]);
  assert.equal(joined.length, command[0].length + data[0].length);
  assert.deepEqual(joined.subarray(0, command[0].length), command[0]);
  assert.deepEqual(concatBytes([]), new Uint8Array(0));
});

Deno.test("DataPacker.packWhole() puts the command and every data PDU in one buffer", () => {
  for (const max of [0, 9, 1006, 16384]) {
    for (const size of [0, 1, 999, 1000, 1001, 5500]) {
      const command = packCommand(3, bytes(40, size), max);
      const data = bytes(size, size + 1);
      const block = new DataPacker(3, max).packWhole(command, data);
      const pdus = splitPdus(block);
      const commandLength = command.reduce((n, p) => n + p.length, 0);
      assert.deepEqual(block.subarray(0, commandLength), concatBytes(command));
      const dataPdus = pdus.slice(command.length);
      assert.deepEqual(checkMessagePart(dataPdus, max, 3, false), data, `max ${max} size ${size}`);
    }
  }
});

Deno.test("FramedDataset sends the same bytes as packWhole(), command and data in one buffer", () => {
  for (const max of [0, 1006, 16384]) {
    for (const size of [0, 1, 1001, 300_000]) {
      const data = bytes(size, size + 7);
      const framed = new FramedDataset(5, max, data);
      data.fill(0); // framed ahead: the caller's buffer may be reused
      const original = bytes(size, size + 7);
      for (const commandSize of [40, 200]) {
        const command = packCommand(5, bytes(commandSize, size), max);
        const expected = new DataPacker(5, max).packWhole(command, original);
        assert.deepEqual(framed.withCommand(command), expected, `max ${max} size ${size}`);
      }
      assert.deepEqual(checkMessagePart(splitPdus(framed.pdus), max, 5, false), original);
    }
  }
});

Deno.test("FramedDataset leaves a command too long for its room to a separate write", () => {
  const framed = new FramedDataset(1, 16384, bytes(5000, 1));
  assert.equal(framed.withCommand(packCommand(1, bytes(4000, 2), 16384)), null);
  assert.deepEqual(checkMessagePart(splitPdus(framed.pdus), 16384, 1, false), bytes(5000, 1));
});
