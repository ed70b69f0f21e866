// Ordered writes: in the order asked, and a peer that stops reading does not hold one forever.
import assert from "node:assert/strict";
import type { Connection } from "../../../src/core/ports.ts";
import { OrderedWriter } from "../../../src/core/ul/ordered_writer.ts";

function connection(write: (bytes: Uint8Array) => Promise<void>): Connection {
  return {
    remote: "127.0.0.1:1",
    read: () => Promise.resolve(null),
    write,
    close: () => {},
  };
}

Deno.test("writes reach the transport in the order asked, even when an earlier one is slow", async () => {
  const order: number[] = [];
  let sent = 0;
  const writer = new OrderedWriter({
    connection: connection(async (b) => {
      if (b[0] === 1) await new Promise((r) => setTimeout(r, 20));
      order.push(b[0]);
    }),
    idleTimeoutMs: 0,
    closed: () => false,
    onStalled: () => {},
    sent: (n) => (sent += n),
  });
  await Promise.all([writer.write(new Uint8Array([1, 0])), writer.write(new Uint8Array([2]))]);
  assert.deepEqual(order, [1, 2]);
  assert.equal(sent, 3);
});

Deno.test("a write the peer never takes fails after the idle timeout and reports the stall", async () => {
  let stalled = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const writer = new OrderedWriter({
    // Never completes within the test (cleared below so no timer outlives it).
    connection: connection(() => new Promise((r) => (timer = setTimeout(r, 5000)))),
    idleTimeoutMs: 30,
    closed: () => stalled > 0,
    onStalled: () => stalled++,
    sent: () => {},
  });
  try {
    await assert.rejects(
      writer.write(new Uint8Array([1])),
      /association closed: the peer stopped reading/,
    );
    assert.equal(stalled, 1);
    await assert.rejects(writer.write(new Uint8Array([2])), /^Error: association closed$/);
  } finally {
    clearTimeout(timer);
  }
});
