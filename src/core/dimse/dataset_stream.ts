// The dataset that follows a DIMSE command, handed on chunk by chunk with backpressure:
// the association's reader waits in push() until the service is done with the chunk, so a
// slow disk slows the peer (TCP flow control) instead of filling memory, and the
// connection can reuse its read buffer as soon as push() resolves.
import { concatBytes } from "../dicom/bytes.ts";

export class DatasetStream implements AsyncIterable<Uint8Array> {
  #queue: Uint8Array[] = [];
  #ended = false;
  #cancelled = false;
  #wakeConsumer: (() => void) | null = null;
  #wakeProducer: (() => void) | null = null;
  #bytes = 0;
  /** Chunks pushed, and chunks the consumer has finished with. */
  #pushed = 0;
  #finished = 0;

  /** Bytes pushed so far. */
  get bytesReceived(): number {
    return this.#bytes;
  }

  /** True once the consumer stopped reading (the rest is discarded). */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Adds a chunk; resolves once the consumer is done with it (or stopped reading). */
  async push(chunk: Uint8Array): Promise<void> {
    this.#bytes += chunk.length;
    if (this.#cancelled) return;
    this.#queue.push(chunk);
    const mine = ++this.#pushed;
    this.#wake();
    while (this.#finished < mine && !this.#cancelled) {
      await new Promise<void>((resolve) => (this.#wakeProducer = resolve));
    }
  }

  /** No more chunks will come. */
  end(): void {
    this.#ended = true;
    this.#wake();
  }

  /** The consumer gives up: later chunks are dropped, a waiting producer is released. */
  cancel(): void {
    this.#cancelled = true;
    this.#queue = [];
    this.#wakeProducer?.();
    this.#wakeProducer = null;
    this.#wake(); // a consumer waiting for data sees the end (and checks `cancelled`)
  }

  #wake(): void {
    this.#wakeConsumer?.();
    this.#wakeConsumer = null;
  }

  /**
   * Yields the chunks. A chunk is valid until the consumer asks for the next one; a
   * consumer that stops early must cancel() (the association does).
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    while (true) {
      const chunk = this.#queue.shift();
      if (chunk) {
        try {
          yield chunk;
        } finally {
          // The consumer asked for more, or left the loop: either way it is done with it.
          this.#finished++;
          this.#wakeProducer?.();
          this.#wakeProducer = null;
        }
        continue;
      }
      if (this.#ended || this.#cancelled) return;
      await new Promise<void>((resolve) => (this.#wakeConsumer = resolve));
    }
  }

  /** Gathers the whole dataset (for small identifiers); throws past maxBytes. */
  async collect(maxBytes: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of this) {
      total += chunk.length;
      if (total > maxBytes) {
        this.cancel();
        throw new RangeError(`dataset larger than ${maxBytes} bytes`);
      }
      parts.push(chunk.slice());
    }
    return concatBytes(parts);
  }
}
