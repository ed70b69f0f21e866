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
