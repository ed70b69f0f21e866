import assert from "node:assert/strict";
import { CodecError } from "../../../src/core/codecs/codec.ts";
import { inflateDataset } from "../../../src/core/codecs/deflate.ts";

async function deflate(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function inflate(bytes: Uint8Array, chunk: number): Promise<Uint8Array> {
  const source = (async function* () {
    for (let i = 0; i < bytes.length; i += chunk) yield bytes.subarray(i, i + chunk);
  })();
  const parts: Uint8Array[] = [];
  for await (const p of inflateDataset(source)) parts.push(p.slice());
  return new Uint8Array(parts.flatMap((p) => [...p]));
}

const text = new TextEncoder().encode("Deflated Explicit VR Little Endian ".repeat(5000));

Deno.test("inflateDataset() inflates raw deflate in any chunking, pad byte or not (PS3.5 A.5)", async () => {
  const deflated = await deflate(text);
  const padded = new Uint8Array(deflated.length + 1); // the NUL an odd length travels with
  padded.set(deflated);
  for (const input of [deflated, padded]) {
    for (const chunk of [1, 7, 100, 1 << 20]) {
      assert.deepEqual(await inflate(input, chunk), text, `chunk ${chunk}`);
    }
  }
});

Deno.test("inflateDataset(): cut short or not deflate at all is a CodecError", async () => {
  const deflated = await deflate(text);
  await assert.rejects(inflate(deflated.subarray(0, deflated.length - 9), 50), CodecError);
  await assert.rejects(inflate(new Uint8Array(64).fill(0xff), 50), CodecError);
});
