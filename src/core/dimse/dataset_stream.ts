// The dataset that follows a DIMSE command, handed on chunk by chunk with backpressure:
// the association's reader waits in push() until the service is done with the chunk, so a
// slow disk slows the peer (TCP flow control) instead of filling memory, and the
// connection can reuse its read buffer as soon as push() resolves. A consumer reads it with
// an async iterator, or has push() call it directly (forEach): a 0.5 MiB image arrives in 32
// fragments at the usual 16 KiB PDUs, and the iterator's hand-over costs each of them several
// promises and turns of the event loop.
import { concatBytes } from "../dicom/bytes.ts";

/** What forEach() hands the chunks to; a promise it returns holds the producer. */
export type ChunkConsumer = (chunk: Uint8Array) => void | Promise<void>;

interface Sink {
  each: ChunkConsumer;
  done(): void;
  failed(e: unknown): void;
}

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

  /** The consumer given to forEach(), while it takes chunks. */
  #sink: Sink | null = null;

  /**
   * Adds a chunk; returns once the consumer is done with it (or stopped reading): at once
   * when forEach()'s consumer took it without a promise, else a promise.
   */
  push(chunk: Uint8Array): void | Promise<void> {
    this.#bytes += chunk.length;
    if (this.#cancelled) return;
    const sink = this.#sink;
    if (!sink) return this.#enqueue(chunk);
    let taken;
    try {
      taken = sink.each(chunk);
    } catch (e) {
      return this.#sinkFailed(sink, e);
    }
    if (!taken) return;
    const settled = taken.catch((e) => this.#sinkFailed(sink, e));
    this.#taking = settled;
    return settled;
  }

  /** The last promise the consumer of forEach() returned: forEach() settles after it. */
  #taking: Promise<void> | undefined;

  /** The consumer threw: forEach() rejects, later chunks wait for the iterator. */
  #sinkFailed(sink: Sink, e: unknown): void {
    if (this.#sink === sink) this.#sink = null;
    sink.failed(e);
  }

  async #enqueue(chunk: Uint8Array): Promise<void> {
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
    this.#endSink();
    this.#wake();
  }

  #endSink(): void {
    const sink = this.#sink;
    this.#sink = null;
    sink?.done();
  }

  /**
   * Calls `each` for every chunk, from push() itself: no turn of the event loop between a
   * chunk's arrival and its consumer. A chunk is valid until `each` returns (or the promise
   * it returns settles). Resolves once the stream has ended or was cancelled (see
   * `cancelled`); rejects with what `each` threw, and the chunks after that are left for the
   * iterator (to drain them). One consumer at a time, and not beside the iterator.
   */
  async forEach(each: ChunkConsumer): Promise<void> {
    if (this.#sink) throw new Error("dataset already has a consumer");
    // Chunks pushed before this call (their producer waits): taken as the iterator would.
    while (this.#queue.length > 0) {
      const chunk = this.#queue.shift()!;
      try {
        const taken = each(chunk);
        if (taken) await taken;
      } finally {
        this.#finished++;
        this.#wakeProducer?.();
        this.#wakeProducer = null;
      }
    }
    if (this.#ended || this.#cancelled) return;
    await new Promise<void>((done, failed) => (this.#sink = { each, done, failed }));
    // Cancelled while the consumer was still busy with a chunk: not before it is done.
    await this.#taking;
  }

  /** The consumer gives up: later chunks are dropped, a waiting producer is released. */
  cancel(): void {
    this.#cancelled = true;
    this.#endSink();
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
