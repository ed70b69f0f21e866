// The DICOM-over-TLS listener off the main thread: tls_worker.ts runs tls.ts's listener in a
// worker, where node:tls's decryption (most of what receiving over TLS costs) no longer holds
// the associations up. Here each accepted connection is the core's Connection port again, its
// bytes relayed as messages, with the same backpressure as tls.ts.
import type { Connection, LogLevel, TransportSecurity } from "../core/ports.ts";
import type { TlsListener, TlsListenOptions, TlsMaterial } from "./tls.ts";

type ListenSettings = Omit<TlsListenOptions, "logger" | "onRefused">;

/** Messages to the worker. */
export type ToWorker =
  | { type: "listen"; options: ListenSettings }
  | { type: "material"; material: TlsMaterial }
  | { type: "close-listener" }
  | { type: "write"; id: number; seq: number; bytes: Uint8Array }
  | { type: "pause" | "resume" | "close"; id: number };

/** Messages from the worker. */
export type FromWorker =
  | { type: "listening"; port: number }
  | { type: "failed"; message: string }
  | { type: "closed" }
  | { type: "log"; level: LogLevel; message: string; fields?: Record<string, unknown> }
  | { type: "refused"; peer: string; reason: string; subject?: string }
  | { type: "open"; id: number; remote: string; security: TransportSecurity }
  | { type: "data"; id: number; bytes: Uint8Array }
  | { type: "end"; id: number }
  | { type: "written"; id: number; seq: number; error?: string };

/** As in tls.ts: stop the peer at 4 MiB waiting for the core, let it go on at 1 MiB. */
const READ_PAUSE_BYTES = 4 * 1024 * 1024;
const READ_RESUME_BYTES = 1024 * 1024;

/** One accepted TLS connection, its socket in the worker. */
class RelayedTlsConnection implements Connection {
  readonly remote: string;
  readonly security: TransportSecurity;
  #id: number;
  #send: (m: ToWorker) => void;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #paused = false;
  #waiting: ((chunk: Uint8Array | null) => void) | null = null;
  #ended = false;
  #closed = false;
  #seq = 0;
  #writes = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  constructor(
    id: number,
    remote: string,
    security: TransportSecurity,
    send: (m: ToWorker) => void,
  ) {
    this.#id = id;
    this.remote = remote;
    this.security = security;
    this.#send = send;
  }

  /** Bytes received by the worker. */
  received(bytes: Uint8Array): void {
    if (this.#closed) return;
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = null;
      waiting(bytes);
      return;
    }
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
    if (this.#queuedBytes >= READ_PAUSE_BYTES && !this.#paused) {
      this.#paused = true;
      this.#send({ type: "pause", id: this.#id });
    }
  }

  /** The socket ended (peer closed, error, or our close done). */
  ended(): void {
    this.#ended = true;
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.(null);
    for (const w of this.#writes.values()) w.reject(new Error("connection closed"));
    this.#writes.clear();
  }

  written(seq: number, error?: string): void {
    const w = this.#writes.get(seq);
    this.#writes.delete(seq);
    if (error) w?.reject(new Error(error));
    else w?.resolve();
  }

  read(): Promise<Uint8Array | null> {
    const next = this.#queue.shift();
    if (next) {
      this.#queuedBytes -= next.length;
      if (this.#paused && this.#queuedBytes <= READ_RESUME_BYTES) {
        this.#paused = false;
        this.#send({ type: "resume", id: this.#id });
      }
      return Promise.resolve(next);
    }
    if (this.#ended || this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#ended || this.#closed) return Promise.reject(new Error("connection closed"));
    const seq = this.#seq++;
    // Posted as a copy: the caller may reuse its buffer once this resolves.
    this.#send({ type: "write", id: this.#id, seq, bytes });
    return new Promise((resolve, reject) => this.#writes.set(seq, { resolve, reject }));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.(null);
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    // The worker flushes what was written (an A-RELEASE-RP), then closes the socket.
    this.#send({ type: "close", id: this.#id });
  }
}

/**
 * tls.ts's listenTls, run in a worker: the same checks, log lines and refusals; accepted
 * connections reach onConnection here, on the caller's thread.
 */
export function listenTlsInWorker(
  options: TlsListenOptions,
  onConnection: (c: Connection) => void,
): Promise<TlsListener> {
  const worker = new Worker(new URL("./tls_worker.ts", import.meta.url), { type: "module" });
  const send = (m: ToWorker) => worker.postMessage(m);
  const open = new Map<number, RelayedTlsConnection>();
  let closing = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let closed = false;
  // Ended once the listener is closed and no connection is left.
  const stopWhenIdle = () => {
    if (closed && open.size === 0) worker.terminate();
  };
  const { logger, onRefused, ...settings } = options;
  return new Promise((resolve, reject) => {
    worker.onerror = (e) => {
      e.preventDefault();
      logger.log("error", `TLS listener worker: ${e.message}`);
      reject(new Error(e.message));
    };
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      switch (m.type) {
        case "listening":
          resolve({
            port: m.port,
            done,
            setMaterial: (material) => send({ type: "material", material }),
            close() {
              if (closing) return;
              closing = true;
              send({ type: "close-listener" });
            },
          });
          return;
        case "failed":
          worker.terminate();
          reject(new Error(m.message));
          return;
        case "closed":
          closed = true;
          resolveDone();
          stopWhenIdle();
          return;
        case "log":
          logger.log(m.level, m.message, m.fields);
          return;
        case "refused":
          onRefused?.(m.peer, m.reason, m.subject);
          return;
        case "open": {
          const conn = new RelayedTlsConnection(m.id, m.remote, m.security, send);
          open.set(m.id, conn);
          onConnection(conn);
          return;
        }
        case "data":
          open.get(m.id)?.received(m.bytes);
          return;
        case "end":
          open.get(m.id)?.ended();
          open.delete(m.id);
          stopWhenIdle();
          return;
        case "written":
          open.get(m.id)?.written(m.seq, m.error);
          return;
      }
    };
    send({ type: "listen", options: settings });
  });
}
