import assert from "node:assert/strict";
import { encodePdu } from "../../../src/core/ul/pdu_encode.ts";
import { MAX_ASSOCIATE_PDU_LENGTH, PduReader } from "../../../src/core/ul/pdu_reader.ts";
import {
  AbortReason,
  type PDataTf,
  type Pdu,
  PduError,
  PduType,
} from "../../../src/core/ul/pdu_types.ts";
import { fixtures, pDataTf, pDataTfPdu, releaseRq } from "./pdu_fixtures.ts";
import { mulberry32 } from "../../helpers/random.ts";

const stream = concat(fixtures.map((f) => f.bytes));
const expected = fixtures.map((f) => f.pdu);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Pushes `bytes` cut at `cuts` (sorted offsets), draining PDUs after every chunk. */
function readAll(reader: PduReader, bytes: Uint8Array, cuts: number[]): Pdu[] {
  const out: Pdu[] = [];
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    reader.push(bytes.slice(from, to));
    from = to;
    for (let pdu = reader.next(); pdu; pdu = reader.next()) out.push(pdu);
  }
  return out;
}

function assertPduError(fn: () => unknown, reason?: number, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PduError, `expected PduError, got ${e}`);
    if (reason !== undefined) assert.equal(e.reason, reason);
    if (message) assert.match(e.message, message);
    return true;
  });
}

function pDataHeader(length: number): Uint8Array {
  return new Uint8Array([
    0x04,
    0,
    length >>> 24,
    (length >> 16) & 0xff,
    (length >> 8) & 0xff,
    length & 0xff,
  ]);
}

Deno.test("PduReader yields every PDU of a stream pushed in one chunk", () => {
  const reader = new PduReader(16384);
  assert.deepStrictEqual(readAll(reader, stream, []), expected);
  assert.equal(reader.bufferedBytes, 0);
  assert.equal(reader.next(), null);
});

Deno.test("PduReader yields the same PDUs whatever single offset splits the stream", () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    const reader = new PduReader(16384);
    assert.deepStrictEqual(readAll(reader, stream, [cut]), expected, `split at ${cut}`);
    assert.equal(reader.bufferedBytes, 0);
  }
});

Deno.test("PduReader yields the same PDUs when the stream arrives one byte at a time", () => {
  const reader = new PduReader(16384);
  const cuts = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
  assert.deepStrictEqual(readAll(reader, stream, cuts), expected);
});

Deno.test("PduReader yields the same PDUs under 500 random chunkings", () => {
  const random = mulberry32(0x5eed);
  for (let round = 0; round < 500; round++) {
    const cuts = new Set<number>();
    const n = Math.floor(random() * 40);
    for (let i = 0; i < n; i++) cuts.add(Math.floor(random() * stream.length));
    const sorted = [...cuts].sort((a, b) => a - b);
    const reader = new PduReader(16384);
    assert.deepStrictEqual(readAll(reader, stream, sorted), expected, `cuts ${sorted}`);
  }
});

Deno.test("PduReader keeps a short tail for the next PDU", () => {
  const reader = new PduReader(0);
  reader.push(concat([releaseRq, pDataTf.subarray(0, 3)]));
  assert.deepStrictEqual(reader.next(), { type: PduType.AReleaseRq });
  assert.equal(reader.next(), null);
  assert.equal(reader.bufferedBytes, 3);
  reader.push(pDataTf.subarray(3, 40));
  assert.equal(reader.next(), null);
  assert.equal(reader.bufferedBytes, 40);
  reader.push(pDataTf.subarray(40));
  assert.deepStrictEqual(reader.next(), pDataTfPdu);
  assert.equal(reader.bufferedBytes, 0);
});

Deno.test("PduReader decodes a PDU inside one chunk without copying it", () => {
  const reader = new PduReader(0);
  const chunk = concat([releaseRq, pDataTf]);
  reader.push(chunk);
  reader.next();
  const pdu = reader.next() as PDataTf;
  assert.equal(pdu.pdvs[0].data.buffer, chunk.buffer);
  assert.equal(pdu.pdvs[0].data.byteOffset, releaseRq.length + 12);
});

Deno.test("PduReader copies a PDU spanning chunks once, into a buffer of its size", () => {
  const reader = new PduReader(0);
  reader.push(pDataTf.slice(0, 30));
  reader.push(pDataTf.slice(30, 31));
  reader.push(pDataTf.slice(31));
  const pdu = reader.next() as PDataTf;
  assert.deepStrictEqual(pdu, pDataTfPdu);
  assert.equal(pdu.pdvs[0].data.buffer.byteLength, pDataTf.length);
  assert.equal(pdu.pdvs[1].data.buffer, pdu.pdvs[0].data.buffer);
});

Deno.test("PduReader refuses an over-max P-DATA-TF from its 6-byte header alone", () => {
  const reader = new PduReader(16384);
  reader.push(pDataHeader(16385));
  assertPduError(() => reader.next(), undefined, /16385 exceeds the maximum length 16384/);
  assert.equal(reader.bufferedBytes, 6);
});

Deno.test("PduReader accepts a P-DATA-TF of exactly the maximum length", () => {
  const max = 16384;
  const data = new Uint8Array(max - 6).fill(7);
  const bytes = encodePdu({
    type: PduType.PDataTf,
    pdvs: [{ presentationContextId: 1, isCommand: false, isLast: true, data }],
  });
  assert.equal(bytes.length, 6 + max);
  const reader = new PduReader(max);
  reader.push(bytes);
  assert.deepStrictEqual((reader.next() as PDataTf).pdvs[0].data, data);
});

Deno.test("PduReader with maximum 0 accepts any P-DATA-TF length and waits for its bytes", () => {
  const reader = new PduReader(0);
  reader.push(pDataHeader(0xffffffff));
  reader.push(new Uint8Array([0xff, 0xff, 0xff, 0xfd, 1, 2]));
  assert.equal(reader.next(), null);
  assert.equal(reader.bufferedBytes, 12);
});

Deno.test("PduReader refuses an A-ASSOCIATE-RQ above its size cap from the header", () => {
  const n = MAX_ASSOCIATE_PDU_LENGTH + 1;
  const reader = new PduReader(0);
  reader.push(new Uint8Array([0x01, 0, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]));
  assertPduError(() => reader.next(), undefined, /exceeds the limit/);
});

Deno.test("PduReader refuses RJ, release and abort headers whose length is not 4", () => {
  for (const type of [0x03, 0x05, 0x06, 0x07]) {
    const reader = new PduReader(0);
    reader.push(new Uint8Array([type, 0, 0, 0, 0x10, 0]));
    assertPduError(() => reader.next(), undefined, /length 4/);
  }
});

Deno.test("PduReader refuses an unknown PDU type from the header as unrecognized", () => {
  const reader = new PduReader(0);
  reader.push(new Uint8Array([0x09, 0, 0, 0, 0, 4]));
  assertPduError(() => reader.next(), AbortReason.UnrecognizedPdu);
});

Deno.test("PduReader waits for a header of fewer than 6 bytes", () => {
  const reader = new PduReader(0);
  assert.equal(reader.next(), null);
  reader.push(new Uint8Array([0x09, 0, 0, 0, 0]));
  reader.push(new Uint8Array(0));
  assert.equal(reader.next(), null);
  assert.equal(reader.bufferedBytes, 5);
});

Deno.test("PduReader rejects a PDU whose length lies about its PDVs", () => {
  // PDU length 10, but its single PDV says 50 bytes
  const reader = new PduReader(0);
  reader.push(new Uint8Array([0x04, 0, 0, 0, 0, 10, 0, 0, 0, 50, 1, 3, 0, 0, 0, 0]));
  assertPduError(() => reader.next(), undefined, /runs past/);
});

Deno.test("PduReader keeps failing after an error, since the stream is out of frame", () => {
  const reader = new PduReader(0);
  reader.push(new Uint8Array([0x00, 0, 0, 0, 0, 4, 0, 0, 0, 0]));
  assertPduError(() => reader.next(), AbortReason.UnrecognizedPdu);
  reader.push(releaseRq);
  assertPduError(() => reader.next(), AbortReason.UnrecognizedPdu);
});

Deno.test("PduReader reads a large P-DATA-TF pushed in thousands of small chunks", () => {
  const data = new Uint8Array(200_000).map((_, i) => (i * 31) & 0xff);
  const bytes = encodePdu({
    type: PduType.PDataTf,
    pdvs: [{ presentationContextId: 3, isCommand: false, isLast: true, data }],
  });
  const reader = new PduReader(0);
  const pdus: Pdu[] = [];
  for (let at = 0; at < bytes.length; at += 37) {
    reader.push(bytes.subarray(at, at + 37));
    const pdu = reader.next();
    if (pdu) pdus.push(pdu);
  }
  assert.equal(pdus.length, 1);
  assert.deepStrictEqual((pdus[0] as PDataTf).pdvs[0].data, data);
  assert.equal(reader.bufferedBytes, 0);
});

Deno.test("PduReader.detach(): a PDU trickling in through one reused buffer is copied once", () => {
  const pdu = encodePdu({
    type: PduType.PDataTf,
    pdvs: [{
      presentationContextId: 1,
      isCommand: false,
      isLast: true,
      data: new Uint8Array(60_000).fill(7),
    }],
  });
  const reader = new PduReader(0);
  const buffer = new Uint8Array(64); // reused for every read, as the TCP adapter does
  let got: Pdu | null = null;
  const t0 = performance.now();
  for (let off = 0; off < pdu.length; off += 64) {
    const n = Math.min(64, pdu.length - off);
    buffer.set(pdu.subarray(off, off + n));
    reader.push(buffer.subarray(0, n));
    got = reader.next() ?? got;
    reader.detach();
    buffer.fill(0xee); // what the next read would overwrite
  }
  assert.ok(got && got.type === PduType.PDataTf);
  assert.deepEqual(got.pdvs[0].data, new Uint8Array(60_000).fill(7));
  assert.ok(performance.now() - t0 < 2000, "linear, not quadratic, in the number of reads");
});

/** Pushes `bytes` through one reused buffer in reads of the given sizes, detaching after each. */
function readReusing(reader: PduReader, bytes: Uint8Array, sizes: () => number): Pdu[] {
  const buffer = new Uint8Array(1 << 17);
  const out: Pdu[] = [];
  // Bounded: every read takes at least one byte.
  for (let at = 0; at < bytes.length;) {
    const n = Math.max(1, Math.min(sizes(), buffer.length, bytes.length - at));
    buffer.set(bytes.subarray(at, at + n));
    at += n;
    reader.push(buffer.subarray(0, n));
    for (let pdu = reader.next(); pdu; pdu = reader.next()) out.push(structuredClone(pdu));
    reader.detach();
    buffer.fill(0xee); // what the next read overwrites
  }
  return out;
}

Deno.test("PduReader.detach(): a 128 KiB P-DATA-TF read in 64 KiB pieces is copied once", () => {
  const data = new Uint8Array(131_066).map((_, i) => (i * 7) & 0xff);
  const bytes = encodePdu({
    type: PduType.PDataTf,
    pdvs: [{ presentationContextId: 1, isCommand: false, isLast: true, data }],
  });
  assert.equal(bytes.length, 131_072 + 6);
  const reader = new PduReader(131_072);
  const pdus = readReusing(reader, concat([bytes, bytes, bytes]), () => 65_536);
  assert.equal(pdus.length, 3);
  for (const pdu of pdus) assert.deepStrictEqual((pdu as PDataTf).pdvs[0].data, data);
  assert.equal(reader.copiedBytes, 3 * bytes.length, "each PDU's bytes copied once");
  assert.equal(reader.bufferedBytes, 0);
});

Deno.test("PduReader.detach(): the same PDUs under 500 random reads through a reused buffer", () => {
  const big = encodePdu({
    type: PduType.PDataTf,
    pdvs: [{
      presentationContextId: 5,
      isCommand: false,
      isLast: false,
      data: new Uint8Array(40_000).fill(3),
    }],
  });
  const all = concat([stream, big, stream, big]);
  const want = [...expected, decodeOne(big), ...expected, decodeOne(big)];
  const random = mulberry32(19);
  for (let round = 0; round < 500; round++) {
    const most = 1 + Math.floor(random() * 50_000);
    const got = readReusing(new PduReader(0), all, () => 1 + Math.floor(random() * most));
    assert.deepStrictEqual(got, want, `round ${round}`);
  }
});

function decodeOne(bytes: Uint8Array): Pdu {
  const r = new PduReader(0);
  r.push(bytes);
  return r.next()!;
}

Deno.test("PduReader.detach(): P-DATA-TFs assembled one after another share one buffer", () => {
  const pdu = (fill: number) =>
    encodePdu({
      type: PduType.PDataTf,
      pdvs: [{
        presentationContextId: 1,
        isCommand: false,
        isLast: true,
        data: new Uint8Array(100_000).fill(fill),
      }],
    });
  const bytes = concat([pdu(1), pdu(2), pdu(3)]);
  const reader = new PduReader(131_072);
  const buffer = new Uint8Array(65_536);
  const seen: { fill: number; buffer: ArrayBufferLike }[] = [];
  for (let at = 0; at < bytes.length; at += buffer.length) {
    const n = Math.min(buffer.length, bytes.length - at);
    buffer.set(bytes.subarray(at, at + n));
    reader.push(buffer.subarray(0, n));
    for (let p = reader.next(); p; p = reader.next()) {
      const data = (p as PDataTf).pdvs[0].data;
      assert.ok(data.every((b) => b === data[0]), "the PDU's own bytes, whole");
      seen.push({ fill: data[0], buffer: data.buffer });
    }
    reader.detach();
  }
  assert.deepEqual(seen.map((s) => s.fill), [1, 2, 3]);
  assert.equal(seen[1].buffer, seen[0].buffer, "the second PDU reuses the first one's memory");
  assert.equal(seen[2].buffer, seen[0].buffer);
});
