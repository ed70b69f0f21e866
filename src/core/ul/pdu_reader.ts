// Resumable PDU framing: bytes arrive in arbitrary chunks, whole PDUs come out (PS3.8 9.3.1).

import { decodePdu } from "./pdu_decode.ts";
import { PDU_HEADER_LENGTH } from "./pdu_types.ts";
import { AbortReason, type Pdu, PduError, PduType } from "./pdu_types.ts";

/** Largest A-ASSOCIATE-RQ/AC body we buffer; 128 contexts with many syntaxes fit easily. */
export const MAX_ASSOCIATE_PDU_LENGTH = 1 << 20;
/** Body length of A-ASSOCIATE-RJ, A-RELEASE-RQ/RP and A-ABORT (PS3.8 9.3.4, 9.3.6-9.3.8). */
const FIXED_PDU_LENGTH = 4;
const EMPTY = new Uint8Array(0);
/** Assembly memory kept for reuse up to this size (a P-DATA-TF at the largest offered maximum). */
const MAX_SPARE_LENGTH = 256 * 1024;

/**
 * Splits a byte stream into PDUs. Keeps the pushed chunks as they are and copies a PDU only
 * when it spans chunks (once, into a buffer of its exact size); a PDU inside one chunk is
 * decoded from a view, so its PDV data alias that chunk. A caller that reuses its chunk
 * buffers calls detach() once it is done with the PDUs returned so far: a PDU whose header
 * has arrived is then assembled in a buffer of its size, which later chunks fill directly.
 * A length is checked against its limit from the header alone, before any body is buffered.
 * After an error the stream is out of frame: every later next() throws the same PduError.
 */
export class PduReader {
  readonly #maxPduLength: number;
  #chunks: Uint8Array[] = [];
  /** Index of the first unread chunk and read offset inside it. */
  #first = 0;
  #offset = 0;
  #buffered = 0;
  /** Total size (header included) of the PDU whose header was read, or -1. */
  #pending = -1;
  #error: PduError | null = null;
  /** The PDU being assembled after detach(): its whole size, filled up to #assembled. */
  #assembly: Uint8Array | null = null;
  #assembled = 0;
  /** The last assembly's memory, reused once the PDU it held has been returned and detached. */
  #spare: Uint8Array | null = null;
  #copiedBytes = 0;

  /** maxPduLength: largest P-DATA-TF PDU length we accept (our Maximum Length Received); 0 = no limit. */
  constructor(maxPduLength: number) {
    this.#maxPduLength = maxPduLength;
  }

  /** Bytes received and not yet returned as a PDU. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Bytes copied so far (PDUs spanning chunks, bytes kept across detach()). */
  get copiedBytes(): number {
    return this.#copiedBytes;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.#error) return;
    const assembly = this.#assembly;
    if (assembly) {
      // The assembly is the only chunk held (detach() made it so): fill it, then go on.
      const k = Math.min(chunk.length, assembly.length - this.#assembled);
      assembly.set(chunk.subarray(0, k), this.#assembled);
      this.#assembled += k;
      this.#copiedBytes += k;
      this.#buffered += k;
      this.#chunks[this.#first] = assembly.subarray(0, this.#assembled);
      if (this.#assembled === assembly.length) this.#assembly = null;
      if (k === chunk.length) return;
      chunk = chunk.subarray(k);
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /**
   * The pushed chunks are about to be reused: copy the bytes not yet returned (at most the
   * start of one PDU) into memory of our own. PDUs already returned must be finished with.
   */
  detach(): void {
    if (this.#buffered === 0) {
      this.#chunks = [];
      this.#first = 0;
      this.#offset = 0;
      this.#ownedUpTo = 0;
      return;
    }
    if (this.#assembly) return; // everything buffered is in it
    if (this.#pending > this.#buffered) {
      // Every buffered byte is the start of the PDU whose header was read: into its own
      // buffer, which the next chunks fill, so the whole PDU is copied once.
      const own = this.#assemblyBuffer(this.#pending);
      let at = 0;
      for (let c = this.#first; c < this.#chunks.length; c++) {
        const part = this.#chunks[c].subarray(c === this.#first ? this.#offset : 0);
        own.set(part, at);
        at += part.length;
      }
      this.#copiedBytes += at;
      this.#assembly = own;
      this.#assembled = at;
      this.#chunks = [own.subarray(0, at)];
      this.#first = 0;
      this.#offset = 0;
      this.#ownedUpTo = 1;
      return;
    }
    // Only chunks pushed since the last detach are borrowed; earlier ones are copies of ours
    // already, so a PDU that trickles in over many reads is copied once, not once per read.
    for (let c = Math.max(this.#first, this.#ownedUpTo); c < this.#chunks.length; c++) {
      const start = c === this.#first ? this.#offset : 0;
      this.#chunks[c] = this.#chunks[c].slice(start);
      this.#copiedBytes += this.#chunks[c].length;
      if (c === this.#first) this.#offset = 0;
    }
    this.#ownedUpTo = this.#chunks.length;
  }

  /**
   * Memory for a PDU of n bytes: the spare when it is large enough and no longer holds bytes
   * still to be returned (PDUs returned before detach() are finished with), else new memory,
   * kept as the spare when it is P-DATA sized.
   */
  #assemblyBuffer(n: number): Uint8Array {
    const spare = this.#spare;
    if (
      spare && spare.length >= n &&
      !this.#chunks.some((c, i) => i >= this.#first && c.buffer === spare.buffer)
    ) return spare.subarray(0, n);
    const own = new Uint8Array(n);
    if (n <= MAX_SPARE_LENGTH) this.#spare = own;
    return own;
  }

  /** Chunks below this index are our own copies (made by detach()). */
  #ownedUpTo = 0;

  /** The next whole PDU, or null until more bytes arrive. Throws PduError. */
  next(): Pdu | null {
    if (this.#error) throw this.#error;
    try {
      if (this.#pending < 0) {
        if (this.#buffered < PDU_HEADER_LENGTH) return null;
        this.#pending = PDU_HEADER_LENGTH + this.#checkHeader();
      }
      if (this.#buffered < this.#pending) return null;
      const bytes = this.#take(this.#pending);
      this.#pending = -1;
      return decodePdu(bytes);
    } catch (e) {
      this.#error = e instanceof PduError ? e : new PduError(`PDU framing: ${String(e)}`);
      throw this.#error;
    }
  }

  /** Validates the buffered 6-byte header and returns the PDU length it announces. */
  #checkHeader(): number {
    const type = this.#peek(0);
    const length = this.#peek(2) * 0x1000000 + (this.#peek(3) << 16) + (this.#peek(4) << 8) +
      this.#peek(5);
    switch (type) {
      case PduType.AAssociateRq:
      case PduType.AAssociateAc:
        if (length > MAX_ASSOCIATE_PDU_LENGTH) {
          throw new PduError(
            `A-ASSOCIATE PDU length ${length} exceeds the limit ${MAX_ASSOCIATE_PDU_LENGTH}`,
          );
        }
        return length;
      case PduType.PDataTf:
        if (this.#maxPduLength > 0 && length > this.#maxPduLength) {
          throw new PduError(
            `P-DATA-TF length ${length} exceeds the maximum length ${this.#maxPduLength}`,
          );
        }
        return length;
      case PduType.AAssociateRj:
      case PduType.AReleaseRq:
      case PduType.AReleaseRp:
      case PduType.AAbort:
        if (length !== FIXED_PDU_LENGTH) {
          throw new PduError(`PDU type 0x0${type} must have length 4, not ${length}`);
        }
        return length;
      default:
        throw new PduError(
          `unrecognized PDU type 0x${type.toString(16).padStart(2, "0")}`,
          AbortReason.UnrecognizedPdu,
        );
    }
  }

  /** The buffered byte at position i (i < bufferedBytes). */
  #peek(i: number): number {
    let at = this.#offset + i;
    for (let c = this.#first; c < this.#chunks.length; c++) {
      const chunk = this.#chunks[c];
      if (at < chunk.length) return chunk[at];
      at -= chunk.length;
    }
    throw new PduError("PDU framing: peek past the buffered bytes");
  }

  /** Removes n buffered bytes (n <= bufferedBytes): a view if they lie in one chunk, else a copy. */
  #take(n: number): Uint8Array {
    const head = this.#chunks[this.#first];
    if (head.length - this.#offset >= n) {
      const view = head.subarray(this.#offset, this.#offset + n);
      this.#advance(n);
      return view;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[this.#first];
      const k = Math.min(chunk.length - this.#offset, n - filled);
      out.set(chunk.subarray(this.#offset, this.#offset + k), filled);
      this.#copiedBytes += k;
      filled += k;
      this.#advance(k);
    }
    return out;
  }

  /** Consumes k bytes of the first chunk (k <= what is left of it). */
  #advance(k: number): void {
    this.#offset += k;
    this.#buffered -= k;
    if (this.#offset < this.#chunks[this.#first].length) return;
    this.#chunks[this.#first++] = EMPTY;
    this.#offset = 0;
    if (this.#first === this.#chunks.length) {
      this.#chunks = [];
      this.#first = 0;
      this.#ownedUpTo = 0;
    } else if (this.#first >= 1024 && this.#first * 2 >= this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#first);
      this.#ownedUpTo = Math.max(0, this.#ownedUpTo - this.#first);
      this.#first = 0;
    }
  }
}
