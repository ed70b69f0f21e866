// Mutation fuzzing of decodePdu() and PduReader: every input ends in PDUs or a PduError.
// FUZZ_ITERATIONS and FUZZ_SEED override the defaults; the seed is printed to replay a run.

import assert from "node:assert/strict";
import { decodePdu } from "../../../src/core/ul/pdu_decode.ts";
import { encodePdu } from "../../../src/core/ul/pdu_encode.ts";
import { PduReader } from "../../../src/core/ul/pdu_reader.ts";
import { type Pdu, PduError, PduType } from "../../../src/core/ul/pdu_types.ts";
import { fixtures } from "./pdu_fixtures.ts";
import { mulberry32 } from "../../helpers/random.ts";

const ITERATIONS = Number(Deno.env.get("FUZZ_ITERATIONS") ?? 100_000);
const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 0x2b7e1516) >>> 0;

const corpus: Uint8Array[] = [
  ...fixtures.map((f) => f.bytes),
  encodePdu({
    type: PduType.PDataTf,
    pdvs: [
      { presentationContextId: 1, isCommand: true, isLast: true, data: new Uint8Array(20) },
      { presentationContextId: 3, isCommand: false, isLast: false, data: new Uint8Array(40) },
      { presentationContextId: 3, isCommand: false, isLast: true, data: new Uint8Array(1) },
    ],
  }),
];

const INTERESTING = [0, 1, 2, 3, 4, 5, 6, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x10000];
const INTERESTING_32 = [0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

class Mutator {
  constructor(readonly random: () => number) {}

  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  value(bits: 16 | 32, near: number): number {
    const r = this.int(4);
    const max = bits === 16 ? 0xffff : 0xffffffff;
    if (r === 0) return this.pick(INTERESTING) & max;
    if (r === 1 && bits === 32) return this.pick(INTERESTING_32);
    if (r === 2) return Math.max(0, Math.min(max, near + this.int(9) - 4));
    return this.int(max + 1);
  }

  /** One random mutation of `input` (never modified in place). */
  mutate(input: Uint8Array): Uint8Array {
    const b = input.slice();
    const view = new DataView(b.buffer);
    switch (this.int(9)) {
      case 0: { // flip 1..8 bits
        const n = 1 + this.int(8);
        for (let i = 0; i < n && b.length > 0; i++) b[this.int(b.length)] ^= 1 << this.int(8);
        return b;
      }
      case 1: // truncate
        return b.subarray(0, this.int(b.length + 1));
      case 2: { // rewrite a 2-byte length somewhere (item lengths)
        if (b.length < 2) return b;
        const at = this.int(b.length - 1);
        view.setUint16(at, this.value(16, view.getUint16(at)));
        return b;
      }
      case 3: { // rewrite a 4-byte length somewhere (PDU and PDV lengths)
        if (b.length < 4) return b;
        const at = this.int(b.length - 3);
        view.setUint32(at, this.value(32, view.getUint32(at)));
        return b;
      }
      case 4: // rewrite the PDU length field
        if (b.length >= 6) view.setUint32(2, this.value(32, view.getUint32(2)));
        return b;
      case 5: { // splice: the head of this PDU, the tail of another
        const other = this.pick(corpus);
        const head = b.subarray(0, this.int(b.length + 1));
        const tail = other.subarray(this.int(other.length + 1));
        return concat([head, tail]);
      }
      case 6: { // random bytes, often behind a valid PDU type
        const out = new Uint8Array(this.int(300));
        for (let i = 0; i < out.length; i++) out[i] = this.int(256);
        if (out.length > 0 && this.random() < 0.7) out[0] = 1 + this.int(7);
        if (out.length >= 6 && this.random() < 0.5) {
          new DataView(out.buffer).setUint32(2, out.length - 6);
        }
        return out;
      }
      case 7: { // insert or delete a few bytes
        const at = this.int(b.length + 1);
        const n = 1 + this.int(8);
        if (this.random() < 0.5) return concat([b.subarray(0, at), b.subarray(at + n)]);
        const extra = new Uint8Array(n).map(() => this.int(256));
        return concat([b.subarray(0, at), extra, b.subarray(at)]);
      }
      default: { // set bytes to boundary values
        const n = 1 + this.int(4);
        for (let i = 0; i < n && b.length > 0; i++) {
          b[this.int(b.length)] = this.pick([0, 1, 0x7f, 0x80, 0xfe, 0xff]);
        }
        return b;
      }
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** decodePdu() either returns a PDU that survives a re-encode, or throws a PduError. */
function checkDecode(input: Uint8Array): Pdu | null {
  let pdu: Pdu;
  try {
    pdu = decodePdu(input);
  } catch (e) {
    if (!(e instanceof PduError)) throw new Error(`decodePdu threw ${e}`, { cause: e });
    // a wrapped RangeError/TypeError is a PduError too, but means a bounds check is missing
    assert.doesNotMatch(e.message, /^malformed PDU:/);
    return null;
  }
  assert.deepStrictEqual(decodePdu(encodePdu(pdu)), pdu, "re-encoded PDU differs");
  return pdu;
}

/** Feeds `input` to a PduReader in random chunks; returns the PDUs read before any error. */
function checkReader(m: Mutator, input: Uint8Array, maxPduLength: number): Pdu[] {
  const reader = new PduReader(maxPduLength);
  const pdus: Pdu[] = [];
  let pushed = 0;
  let at = 0;
  while (at < input.length) {
    const n = 1 + m.int(m.random() < 0.3 ? 8 : input.length);
    const chunk = input.slice(at, at + n);
    at += chunk.length;
    reader.push(chunk);
    pushed += chunk.length;
    try {
      // each PDU consumes at least its 6-byte header, so this ends
      for (let pdu = reader.next(); pdu; pdu = reader.next()) pdus.push(pdu);
    } catch (e) {
      if (!(e instanceof PduError)) throw new Error(`PduReader threw ${e}`, { cause: e });
      assert.doesNotMatch(e.message, /^(malformed PDU|PDU framing):/);
      return pdus;
    } finally {
      assert.ok(reader.bufferedBytes <= pushed, "reader holds more than it was given");
    }
  }
  return pdus;
}

Deno.test(`decodePdu() and PduReader end every one of ${ITERATIONS} mutated inputs in PDUs or a PduError`, () => {
  console.log(`pdu fuzz: seed=${SEED} inputs=${ITERATIONS}`);
  const m = new Mutator(mulberry32(SEED));
  let decoded = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    let input = m.mutate(m.pick(corpus));
    if (m.random() < 0.3) input = m.mutate(input);
    // half the time make the PDU length agree, so the mutation reaches the items inside
    if (input.length >= 6 && m.random() < 0.5) {
      new DataView(input.buffer, input.byteOffset).setUint32(2, input.length - 6);
    }
    try {
      const pdu = checkDecode(input);
      if (pdu) decoded++;
      const max = m.pick([0, 16384, 64]);
      const pdus = checkReader(m, m.random() < 0.2 ? concat([input, m.pick(corpus)]) : input, max);
      // a whole valid PDU must come out of the reader the same, however it is chunked
      if (pdu && max === 0) assert.deepStrictEqual(pdus[0], pdu, "reader and decodePdu disagree");
    } catch (e) {
      const hex = Array.from(input, (b) => b.toString(16).padStart(2, "0")).join("");
      throw new Error(`input #${i} (seed=${SEED}) ${hex}: ${e}`, { cause: e });
    }
  }
  // the mutations keep some inputs valid, so both paths are exercised
  assert.ok(decoded > ITERATIONS / 100, `only ${decoded} inputs decoded`);
});

Deno.test("PduReader allocates nothing for a 4 GB length it has not received", () => {
  // ArrayBuffer memory shows in `external` even while its pages are untouched
  const before = Deno.memoryUsage().external;
  const readers: PduReader[] = [];
  for (let i = 0; i < 200; i++) {
    const reader = new PduReader(0);
    reader.push(new Uint8Array([0x04, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd]));
    assert.equal(reader.next(), null);
    assert.equal(reader.bufferedBytes, 10);
    readers.push(reader);
  }
  const grown = Deno.memoryUsage().external - before;
  assert.ok(grown < 64 * 1024 * 1024, `buffers grew by ${grown} bytes for unread lengths`);
  assert.throws(
    () => decodePdu(new Uint8Array([0x04, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2])),
    PduError,
  );
});
