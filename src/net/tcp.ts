// Deno TCP behind the core's Connection port. Nagle is off on every socket (INTEROP.md:
// with it on, each loopback round trip stalls about 40 ms), TCP keepalive is on for every
// accepted and every outgoing connection, and each write is one PDU batch.
import type { Connection, Connector, TransportSecurity } from "../core/ports.ts";
import { WriteCoalescer } from "./write_coalescer.ts";

const READ_SIZE = 256 * 1024;
/** How long close() waits for joined small writes to reach a peer that does not read. */
const CLOSE_GRACE_MS = 5000;

export class TcpConnection implements Connection {
  readonly remote: string;
  readonly security?: TransportSecurity;
  #conn: Deno.Conn;
  #closed = false;
  #buffer = new Uint8Array(READ_SIZE);
  /** Where Nagle stays on (Deno's TLS): small writes joined (write_coalescer.ts). */
  #coalescer: WriteCoalescer | null = null;

  /** `conn` may be Deno's own TLS (src/net/native_tls.ts): then `security` says what it is. */
  constructor(conn: Deno.TcpConn | Deno.TlsConn, security?: TransportSecurity) {
    this.#conn = conn;
    this.security = security;
    // A Deno.TlsConn has neither setter: Nagle stays on there, so small writes are joined;
    // keepalive is the system's.
    if (!("setNoDelay" in conn)) this.#coalescer = new WriteCoalescer((b) => this.#writeAll(b));
    else {
      conn.setNoDelay(true);
      // A peer that vanished without a FIN (power cut, cable) is noticed by keepalive probes.
      // Deno sets SO_KEEPALIVE only; the idle time before the first probe is the system's
      // (net.ipv4.tcp_keepalive_time; README says how to set it to 60 s).
      conn.setKeepAlive(true);
    }
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.remote = `${addr.hostname}:${addr.port}`;
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#closed) return null;
    // One buffer per connection, reused: the core is done with a chunk before it reads
    // again (ports.ts), so no read allocates or leaves garbage behind.
    const buf = this.#buffer;
    try {
      const n = await this.#conn.read(buf);
      return n === null ? null : buf.subarray(0, n);
    } catch {
      return null;
    }
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.#coalescer ? this.#coalescer.write(bytes) : this.#writeAll(bytes);
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const shut = () => {
      try {
        this.#conn.close();
      } catch {
        // already closed by the peer
      }
    };
    if (!this.#coalescer) return shut();
    // What waits (an A-RELEASE-RP, an A-ABORT) goes first; a peer that reads nothing gets
    // a bounded wait.
    const timer = setTimeout(shut, CLOSE_GRACE_MS);
    this.#coalescer.flush().catch(() => {}).finally(() => {
      clearTimeout(timer);
      shut();
    });
  }
}

export interface TcpListener {
  readonly port: number;
  /** Stops accepting; running connections go on. */
  close(): void;
  /** Resolves when the accept loop has ended. */
  readonly done: Promise<void>;
}

/** Accepts connections and hands each to onConnection at once (never awaited in turn). */
export function listenTcp(
  hostname: string,
  port: number,
  onConnection: (c: TcpConnection) => void,
): TcpListener {
  const listener = Deno.listen({ hostname, port, transport: "tcp" });
  let closed = false;
  const done = (async () => {
    while (!closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (closed || e instanceof Deno.errors.BadResource) return;
        // EMFILE and the like: wait a moment rather than spin.
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      onConnection(new TcpConnection(conn));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    done,
    close() {
      if (closed) return;
      closed = true;
      listener.close();
    },
  };
}

export const tcpConnector: Connector = {
  async connect(host: string, port: number, timeoutMs: number): Promise<Connection> {
    const signal = AbortSignal.timeout(timeoutMs);
    const conn = await Deno.connect({ hostname: host, port, transport: "tcp", signal });
    return new TcpConnection(conn);
  },
};

/** Why a listen failed, in words that name the port (both DICOM and HTTP use it). */
export function listenError(e: unknown, port: number): string {
  if (e instanceof Deno.errors.AddrInUse) {
    return `port ${port} is already in use by another program (another MiniPACS, a storescp...)`;
  }
  if (e instanceof Deno.errors.PermissionDenied || /permission denied/i.test(String(e))) {
    return port < 1024
      ? `port ${port} is below 1024 and needs root or CAP_NET_BIND_SERVICE`
      : `not permitted (${(e as Error).message})`;
  }
  if (e instanceof Deno.errors.AddrNotAvailable) return "no such address on this machine";
  return (e as Error).message;
}
