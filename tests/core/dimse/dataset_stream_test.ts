// A dataset handed on chunk by chunk: collect() gathers a small one whole (the connection may
// reuse each chunk's buffer once it is consumed), and stops a too large one.
import assert from "node:assert/strict";
import { DatasetStream } from "../../../src/core/dimse/dataset_stream.ts";

Deno.test("collect() joins the chunks in order, copied before their buffer is reused", async () => {
  const stream = new DatasetStream();
  const collected = stream.collect(1000);
  const buffer = Uint8Array.of(1, 2, 3);
  await stream.push(buffer);
  buffer.set([7, 7, 7]); // the reader reuses its buffer once push() resolved
  await stream.push(Uint8Array.of(4));
  stream.end();
  assert.deepEqual([...await collected], [1, 2, 3, 4]);
  assert.equal(stream.bytesReceived, 4);
});

Deno.test("collect() of no chunks is empty; past maxBytes it throws and cancels", async () => {
  const empty = new DatasetStream();
  const none = empty.collect(10);
  empty.end();
  assert.equal((await none).length, 0);

  const big = new DatasetStream();
  const collected = big.collect(4);
  await big.push(new Uint8Array(3));
  const pushed = big.push(new Uint8Array(3));
  await assert.rejects(collected, RangeError);
  await pushed; // the producer is released, not left waiting
  assert.equal(big.cancelled, true);
});

Deno.test("forEach() takes each chunk inside push(), the ones pushed before it first, and ends with the stream", async () => {
  const stream = new DatasetStream();
  const early = stream.push(Uint8Array.of(1, 2)); // before any consumer: waits for one
  const seen: number[] = [];
  const done = stream.forEach((chunk) => void seen.push(...chunk));
  await early;
  const buffer = Uint8Array.of(3);
  // Taken at once: push() returns nothing, and the buffer may be reused right after.
  assert.equal(stream.push(buffer), undefined);
  buffer[0] = 9;
  assert.deepEqual(seen, [1, 2, 3]);
  stream.end();
  await done;
  assert.equal(stream.bytesReceived, 3);
});

Deno.test("forEach() rejects with what its consumer threw and leaves the later chunks to the iterator", async () => {
  const stream = new DatasetStream();
  const done = stream.forEach((chunk) => {
    if (chunk[0] === 2) throw new Error("disk full");
  });
  await stream.push(Uint8Array.of(1));
  await stream.push(Uint8Array.of(2)); // the producer is not held by the failure
  await assert.rejects(done, /disk full/);
  const rest: number[] = [];
  const drained = (async () => {
    for await (const chunk of stream) rest.push(...chunk);
  })();
  await stream.push(Uint8Array.of(3));
  stream.end();
  await drained;
  assert.deepEqual(rest, [3]);
});

Deno.test("forEach() holds the producer while its consumer's promise runs, and settles after it when cancelled", async () => {
  const stream = new DatasetStream();
  let release!: () => void;
  let finished = false;
  const done = stream.forEach(async () => {
    await new Promise<void>((r) => (release = r));
    finished = true;
  });
  const pushed = stream.push(Uint8Array.of(1));
  assert.ok(pushed instanceof Promise);
  let forEachSettled = false;
  done.then(() => (forEachSettled = true));
  stream.cancel(); // the association ended while the chunk was being written
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(forEachSettled, false);
  release();
  await pushed;
  await done;
  assert.ok(finished);
  assert.equal(stream.cancelled, true);
});
