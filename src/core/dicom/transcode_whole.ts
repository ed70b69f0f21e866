// Re-encoding (decoding, inflating) a whole dataset in memory, for objects small enough to
// be sent from memory: a decoding failure is then known before anything is sent.
import { transcodeDataset } from "./transcode.ts";

/**
 * Re-encodes (decodes, inflates) a whole dataset in memory; null when the result is larger than
 * `limit` (it was decoded to its end all the same: it is known to decode). Throws when it
 * cannot be decoded. The result is written into `buffer` when it fits (a buffer given back by
 * an earlier caller, so that no new one is allocated), each frame decoded straight into it.
 */
export async function transcodeWhole(
  whole: Uint8Array,
  from: string,
  to: string,
  limit: number,
  buffer?: ArrayBuffer,
): Promise<Uint8Array | null> {
  const out = new Output(limit, buffer);
  const source = (async function* () {
    yield whole;
  })();
  for await (const piece of transcodeDataset(source, from, to, (n) => out.reserve(n))) {
    out.append(piece);
  }
  return out.result();
}

/** The output of transcodeWhole(): grows as pieces come, until over the limit. */
class Output {
  #bytes: Uint8Array;
  #length = 0;
  /** Bytes of a frame decoded in place, at #length. */
  #reserved = 0;
  #large = false;
  readonly #limit: number;

  constructor(limit: number, buffer?: ArrayBuffer) {
    this.#limit = limit;
    this.#bytes = new Uint8Array(buffer ?? new ArrayBuffer(0));
  }

  /** Room for the next `n` bytes (a frame to decode there); undefined once over the limit. */
  reserve(n: number): Uint8Array | undefined {
    if (!this.#fits(n)) return undefined;
    this.#reserved = n;
    return this.#bytes.subarray(this.#length, this.#length + n);
  }

  append(piece: Uint8Array): void {
    const reserved = this.#reserved;
    this.#reserved = 0;
    if (reserved === piece.length && piece.buffer === this.#bytes.buffer) {
      if (piece.byteOffset === this.#bytes.byteOffset + this.#length) {
        this.#length += reserved; // decoded in place
        return;
      }
    }
    if (!this.#fits(piece.length)) return;
    this.#bytes.set(piece, this.#length);
    this.#length += piece.length;
  }

  result(): Uint8Array | null {
    return this.#large ? null : this.#bytes.subarray(0, this.#length);
  }

  /** Makes room for n more bytes; false (and the output dropped) when over the limit. */
  #fits(n: number): boolean {
    if (this.#large) return false;
    const need = this.#length + n;
    if (need > this.#limit) {
      this.#large = true;
      this.#bytes = new Uint8Array(0);
      return false;
    }
    if (need > this.#bytes.length) {
      // Room for what usually follows a frame; half as much again for a stream of pieces.
      const size = Math.max(need + 65536, Math.floor(this.#bytes.length * 1.5));
      const grown = new Uint8Array(Math.min(this.#limit, size));
      grown.set(this.#bytes.subarray(0, this.#length));
      this.#bytes = grown;
    }
    return true;
  }
}
