// DICOM over TLS (PS3.15 B.9) on Deno's own TLS (Deno.listenTls: rustls driven from Rust),
// for a listener that never asks for a client certificate. It costs about 0.7 ms of CPU per
// MiB received where node:tls costs 1.1 (node:tls passes every TCP read and every decrypted
// record through JS, see src/net/tls.ts), but Deno.listenTls (Deno 2.9) cannot request a
// client certificate: src/app chooses this listener only when none is required and no AE is
// tied to one (tls_name).
// rustls offers TLS 1.2 and 1.3 with ECDHE and AES-GCM or ChaCha20-Poly1305 only, as
// node:tls does here.
import type { Connection } from "../core/ports.ts";
import { TcpConnection } from "./tcp.ts";
import {
  handshakeReason,
  type TlsListener,
  type TlsListenOptions,
  type TlsMaterial,
} from "./tls.ts";

/** Deno's TlsConn tells neither the version nor the suite negotiated. */
const SECURITY = { protocol: "TLSv1.2+", cipher: "" };

function remoteOf(conn: Deno.Conn): string {
  const a = conn.remoteAddr as Deno.NetAddr;
  return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
}

function open(o: TlsListenOptions, m: TlsMaterial, port: number): Deno.TlsListener {
  return Deno.listenTls({
    hostname: o.hostname,
    port,
    cert: m.certificate!,
    key: m.privateKey!,
  });
}

/**
 * Accepts TLS connections without asking for a client certificate. A connection reaches
 * onConnection once its handshake is done; one that fails it (plain DICOM, TLS 1.1, a
 * timeout) is logged once at warn with the peer address and reason and closed.
 */
export function listenNativeTls(
  options: TlsListenOptions,
  onConnection: (c: Connection) => void,
): Promise<TlsListener> {
  const log = options.logger;
  let material = options.material;
  let listener = open(options, material, options.port);
  const port = (listener.addr as Deno.NetAddr).port;
  let closed = false;
  /** Settles once a certificate swap has its new listener (the accept loop waits for it). */
  let swapped = Promise.resolve();
  const handshake = async (conn: Deno.TlsConn) => {
    const remote = remoteOf(conn);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        conn.handshake(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`timed out after ${options.handshakeTimeoutMs} ms`)),
            options.handshakeTimeoutMs,
          );
        }),
      ]);
    } catch (e) {
      const reason = handshakeReason(e as Error);
      log.log("warn", "TLS connection refused", { peer: remote, reason });
      options.onRefused?.(remote, reason);
      try {
        conn.close();
      } catch { /* already closed */ }
      return;
    } finally {
      clearTimeout(timer);
    }
    onConnection(new TcpConnection(conn, SECURITY));
  };
  const done = (async () => {
    while (!closed) {
      await swapped;
      if (closed) return;
      let conn: Deno.TlsConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (closed) return;
        // A swap closed the listener: the next turn waits for the new one.
        if (e instanceof Deno.errors.BadResource) continue;
        // EMFILE and the like: wait a moment rather than spin.
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      void handshake(conn);
    }
  })();
  // The port is free again once the closed listener's pending accept has let go of it, a
  // turn of the event loop later: until then opening the new one is retried (about 1 s at
  // most). A peer connecting within those milliseconds is refused and tries again.
  const reopen = async (m: TlsMaterial): Promise<void> => {
    for (let attempt = 0;; attempt++) {
      try {
        listener = open(options, m, port);
        if (closed) listener.close(); // closed while the port was being freed
        return;
      } catch (e) {
        if (!(e instanceof Deno.errors.AddrInUse) || attempt >= 200) throw e;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  return Promise.resolve({
    port,
    done,
    // Deno.listenTls takes its certificate once: a new listener on the same port replaces
    // the old one; connections already accepted keep theirs. Should it fail, the old
    // certificates serve on.
    setMaterial(m: TlsMaterial): Promise<void> {
      if (closed) return Promise.resolve();
      listener.close();
      swapped = reopen(m).then(() => {
        material = m;
      }, (e) => {
        log.log("error", "TLS listener: new certificates refused, the old ones serve on", {
          error: (e as Error).message,
        });
        return reopen(material);
      }).catch((e) => {
        log.log("error", "TLS listener: cannot listen again", { error: (e as Error).message });
        closed = true;
      });
      return swapped;
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        listener.close();
      } catch {
        // closed already by a certificate swap under way: it closes the new one
      }
    },
  });
}
