// Deflated Explicit VR Little Endian (PS3.5 A.5): everything after the file meta is one raw
// deflate stream (RFC 1951, no zlib header), inflated as it streams by npm fflate (MIT, plain
// JavaScript). Not the platform's DecompressionStream: a deflated dataset of odd length
// travels with a NUL pad byte after the end of the deflate stream, which DecompressionStream
// refuses as junk (and drops the last output with it); fflate stops at the final block.
import { Inflate } from "fflate";
import { CodecError } from "./codec.ts";

/** Input is handed to the inflater in pieces this small, so one piece's output stays small. */
const PIECE = 16 * 1024;

/** Inflates a deflated dataset; yields Explicit VR Little Endian bytes. */
export async function* inflateDataset(
  source: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  let out: Uint8Array[] = [];
  let ended = false;
  const inflater = new Inflate((data, final) => {
    if (data.length) out.push(data);
    if (final) ended = true;
  });
  const push = (bytes: Uint8Array, final: boolean) => {
    try {
      inflater.push(bytes, final);
    } catch (e) {
      throw new CodecError(`the deflated dataset cannot be inflated: ${(e as Error).message}`);
    }
  };
  for await (const chunk of source) {
    if (ended) continue; // padding after the final block
    for (let at = 0; at < chunk.length && !ended; at += PIECE) {
      push(chunk.subarray(at, at + PIECE), false);
      if (out.length) {
        const ready = out;
        out = [];
        yield* ready;
      }
    }
  }
  if (!ended) push(new Uint8Array(0), true);
  yield* out;
}
