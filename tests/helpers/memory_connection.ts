// An in-memory Connection pair: what one side writes the other reads, in the chunks given.
import type { Connection } from "../../src/core/ports.ts";

class Pipe {
  chunks: Uint8Array[] = [];
  closed = false;
  waiter: (() => void) | null = null;
  wake() {
    this.waiter?.();
    this.waiter = null;
  }
}

class MemoryConnection implements Connection {
  constructor(readonly remote: string, private inbox: Pipe, private outbox: Pipe) {}
  async read(): Promise<Uint8Array | null> {
    while (true) {
      const c = this.inbox.chunks.shift();
      if (c) return c;
      if (this.inbox.closed) return null;
      await new Promise<void>((r) => (this.inbox.waiter = r));
    }
  }
  write(bytes: Uint8Array): Promise<void> {
    if (this.outbox.closed) return Promise.reject(new Error("closed"));
    this.outbox.chunks.push(bytes.slice());
    this.outbox.wake();
    return Promise.resolve();
  }
  close(): void {
    this.inbox.closed = true;
    this.outbox.closed = true;
    this.inbox.wake();
    this.outbox.wake();
  }
}

export function memoryConnectionPair(): [Connection, Connection] {
  const ab = new Pipe();
  const ba = new Pipe();
  return [new MemoryConnection("mem:a", ba, ab), new MemoryConnection("mem:b", ab, ba)];
}
