// Writes to the transport one after another, in the order asked, each bounded by the idle
// timeout: a peer that stops reading cannot hold a write (and the association) forever.
import type { Connection } from "../ports.ts";

export interface OrderedWriterOptions {
  connection: Connection;
  /** A write not taken by the peer within this long fails; 0: no bound. */
  idleTimeoutMs: number;
  /** True once the association is closed: later writes fail at once. */
  closed(): boolean;
  /** The peer read nothing for idleTimeoutMs: the caller closes the association. */
  onStalled(): void;
  /** Bytes written, for the counters. */
  sent(n: number): void;
}

export class OrderedWriter {
  readonly #o: OrderedWriterOptions;
  #chain: Promise<void> = Promise.resolve();

  constructor(options: OrderedWriterOptions) {
    this.#o = options;
  }

  /** Writes after every earlier write; errors start with "association closed". */
  write(bytes: Uint8Array): Promise<void> {
    const o = this.#o;
    const next = this.#chain.then(async () => {
      if (o.closed()) throw new Error("association closed");
      const limit = o.idleTimeoutMs;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<"stalled">((resolve) => {
        if (limit > 0) timer = setTimeout(() => resolve("stalled"), limit);
      });
      try {
        const outcome = await Promise.race([o.connection.write(bytes), stalled]);
        if (outcome === "stalled") {
          o.onStalled();
          throw new Error("association closed: the peer stopped reading");
        }
      } catch (e) {
        const message = (e as Error).message;
        throw new Error(
          message.startsWith("association closed") ? message : `association closed: ${message}`,
        );
      } finally {
        clearTimeout(timer);
      }
      o.sent(bytes.length);
    });
    this.#chain = next.catch(() => {});
    return next;
  }
}
