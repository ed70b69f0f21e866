// The DICOM-over-TLS listener run in a worker (started by tls_relay.ts): node:tls decrypts on
// the main thread of whoever runs it, about 1.4 ms of CPU per MiB received, which here leaves
// the server's main thread free for the associations. This side only relays: the listener and
// its checks are tls.ts's, and plaintext and writes go to and fro as messages.
/// <reference lib="deno.worker" />
import { listenTls, type TlsConnection, type TlsListener } from "./tls.ts";
import type { FromWorker, ToWorker } from "./tls_relay.ts";

/** Received bytes gathered up to this before a message (fewer, larger messages). */
const BATCH_BYTES = 1024 * 1024;

const post = (m: FromWorker, transfer: Transferable[] = []) => self.postMessage(m, transfer);

let listener: TlsListener | undefined;
const connections = new Map<number, TlsConnection>();
/** Connections the main thread asked to stop reading: their resume. */
const paused = new Map<number, { promise: Promise<void>; resume: () => void }>();
let nextId = 1;

/**
 * Reads one connection and sends what arrives: chunks already waiting are gathered into one
 * message (up to BATCH_BYTES), and what was gathered goes as soon as a read would wait.
 */
async function pump(id: number, conn: TlsConnection): Promise<void> {
  let batch = new Uint8Array(BATCH_BYTES);
  let bytes = 0;
  const flush = () => {
    if (bytes === 0) return;
    const out = batch.subarray(0, bytes);
    post({ type: "data", id, bytes: out }, [batch.buffer]);
    batch = new Uint8Array(BATCH_BYTES);
    bytes = 0;
  };
  while (true) {
    const wait = paused.get(id);
    if (wait) {
      flush();
      await wait.promise;
    }
    const reading = conn.read();
    let ready = false;
    reading.then(() => (ready = true), () => {});
    await Promise.resolve();
    if (!ready) flush(); // nothing more waiting: send what was gathered
    const chunk = await reading;
    if (!chunk) break;
    // The chunk is valid until the next read: copied into the batch.
    if (bytes + chunk.length > BATCH_BYTES) flush();
    if (chunk.length > BATCH_BYTES) {
      const out = chunk.slice();
      post({ type: "data", id, bytes: out }, [out.buffer]);
      continue;
    }
    batch.set(chunk, bytes);
    bytes += chunk.length;
  }
  flush();
  connections.delete(id);
  post({ type: "end", id });
}

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  switch (m.type) {
    case "listen":
      try {
        listener = await listenTls({
          ...m.options,
          logger: {
            log: (level, message, fields) => post({ type: "log", level, message, fields }),
          },
          onRefused: (peer, reason, subject) => post({ type: "refused", peer, reason, subject }),
        }, (conn) => {
          const id = nextId++;
          connections.set(id, conn);
          post({ type: "open", id, remote: conn.remote, security: conn.security });
          pump(id, conn);
        });
        post({ type: "listening", port: listener.port });
      } catch (err) {
        post({ type: "failed", message: (err as Error).message });
      }
      return;
    case "material":
      listener?.setMaterial(m.material);
      return;
    case "close-listener":
      listener?.close();
      await listener?.done;
      post({ type: "closed" });
      return;
    case "write": {
      const conn = connections.get(m.id);
      if (!conn) return post({ type: "written", id: m.id, seq: m.seq, error: "connection closed" });
      conn.write(m.bytes).then(
        () => post({ type: "written", id: m.id, seq: m.seq }),
        (err) => post({ type: "written", id: m.id, seq: m.seq, error: (err as Error).message }),
      );
      return;
    }
    case "pause":
      if (!paused.has(m.id)) {
        let resume!: () => void;
        const promise = new Promise<void>((r) => (resume = r));
        paused.set(m.id, { promise, resume });
      }
      return;
    case "resume":
      paused.get(m.id)?.resume();
      paused.delete(m.id);
      return;
    case "close":
      connections.get(m.id)?.close();
      paused.get(m.id)?.resume();
      paused.delete(m.id);
      return;
  }
};
