// Re-encoding (decoding, inflating) a whole dataset in memory, for objects small enough to
// be sent from memory: a decoding failure is then known before anything is sent.
import { canDecodeFrames } from "../codecs/registry.ts";
import { concatBytes } from "./bytes.ts";
import { transcodeDataset } from "./transcode.ts";

/**
 * Re-encodes (decodes, inflates) a whole dataset in memory; null when the result is larger than
 * `limit` (it was decoded to its end all the same: it is known to decode). Throws when it
 * cannot be decoded.
 */
export async function transcodeWhole(
  whole: Uint8Array,
  from: string,
  to: string,
  limit: number,
): Promise<Uint8Array | null> {
  const pieces: Uint8Array[] = [];
  let total = 0;
  let large = false;
  const source = (async function* () {
    yield whole;
  })();
  const decoding = canDecodeFrames(from); // decoded pieces are fresh: kept without a copy
  for await (const piece of transcodeDataset(source, from, to, true)) {
    total += piece.length;
    if (large) continue;
    if (total > limit) {
      large = true;
      pieces.length = 0;
    } else pieces.push(decoding ? piece : piece.slice()); // other pieces may be reused buffers
  }
  return large ? null : concatBytes(pieces);
}
