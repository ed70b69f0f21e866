// Deflated Explicit VR Little Endian (PS3.5 A.5): everything after the file meta is one raw
// deflate stream (RFC 1951, no zlib header). Inflated as it streams, with the platform's
// DecompressionStream, so memory stays at a few chunks whatever the object's size.
import { CodecError } from "./codec.ts";

/** Inflates a deflated dataset; yields Explicit VR Little Endian bytes. */
export async function* inflateDataset(
  source: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const input = source[Symbol.asyncIterator]();
  const deflated = new ReadableStream<BufferSource>({
    async pull(controller) {
      const r = await input.next();
      if (r.done) controller.close();
      else controller.enqueue(r.value as Uint8Array<ArrayBuffer>);
    },
    async cancel() {
      await input.return?.();
    },
  }, { highWaterMark: 1 });
  const inflated: ReadableStream<Uint8Array> = deflated.pipeThrough(
    new DecompressionStream("deflate-raw"),
  );
  const reader = inflated.getReader();
  try {
    for (;;) { // ends with the stream
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        throw new CodecError(`the deflated dataset cannot be inflated: ${(e as Error).message}`);
      }
      if (r.done) return;
      yield r.value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
