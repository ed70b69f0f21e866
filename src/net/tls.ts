// DICOM over TLS (PS3.15 B.9) behind the core's Connection port, as src/net/tcp.ts gives it
// for plain TCP. The listener is node:tls because Deno.listenTls cannot ask for a client
// certificate, and outgoing connections use it too: Deno.connectTls cannot turn Nagle's
// algorithm off, and with it on a C-STORE of 64 KiB waits 40 ms for a delayed ACK. node:tls
// runs on rustls: TLS 1.2 and 1.3 with ECDHE and AES-GCM or ChaCha20-Poly1305 only (no DHE,
// no CBC, no RSA key exchange).
import { createPrivateKey, X509Certificate } from "node:crypto";
import * as tls from "node:tls";
import type { Connection, Connector, Logger, TransportSecurity } from "../core/ports.ts";
import { dnsNamesOf } from "../core/security/certificate_name.ts";

/** The files of [tls] (or a client's --cert/--key/--ca), as written. */
export interface TlsFiles {
  certificate?: string;
  privateKey?: string;
  caCertificates?: string;
}

/** Config key names for messages, e.g. { certificate: "tls.certificate" }. */
export type TlsKeyNames = Record<keyof TlsFiles, string>;

/** PEM text read and checked: a certificate chain with its key, and trusted CAs. */
export interface TlsMaterial {
  certificate?: string;
  privateKey?: string;
  caCertificates?: string;
  /** Subject and expiry of our certificate, for the start-up line. */
  subject?: string;
  notAfter?: Date;
}

/** A refused file: `key` names the setting, `reason` says why (one line). */
export class TlsFileError extends Error {
  constructor(readonly key: string, readonly reason: string) {
    super(`${key}: ${reason}`);
    this.name = "TlsFileError";
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

async function readPem(path: string, key: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new TlsFileError(key, `missing: ${path}`);
    throw new TlsFileError(key, `unreadable: ${path}: ${(e as Error).message}`);
  }
}

function certificatesOf(pem: string, path: string, key: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new TlsFileError(key, `no PEM certificate in ${path}`);
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new TlsFileError(key, `not a valid certificate in ${path}: ${(e as Error).message}`);
    }
  });
}

function checkDates(cert: X509Certificate, path: string, key: string, now: Date): void {
  const notAfter = new Date(cert.validTo);
  const notBefore = new Date(cert.validFrom);
  if (notAfter.getTime() < now.getTime()) {
    throw new TlsFileError(key, `expired on ${notAfter.toISOString()}: ${path}`);
  }
  if (notBefore.getTime() > now.getTime()) {
    throw new TlsFileError(key, `not valid before ${notBefore.toISOString()}: ${path}`);
  }
}

/**
 * Reads and checks the files given: present, readable, PEM, in their validity period, and the
 * private key the certificate's. The first problem is thrown as a TlsFileError.
 */
export async function loadTlsMaterial(
  files: TlsFiles,
  keys: TlsKeyNames,
  now = new Date(),
): Promise<TlsMaterial> {
  const out: TlsMaterial = {};
  if ((files.certificate === undefined) !== (files.privateKey === undefined)) {
    const missing = files.certificate === undefined ? "certificate" : "privateKey";
    throw new TlsFileError(keys[missing], "is required with the other");
  }
  let leaf: X509Certificate | undefined;
  if (files.certificate !== undefined) {
    const pem = await readPem(files.certificate, keys.certificate);
    const chain = certificatesOf(pem, files.certificate, keys.certificate);
    for (const c of chain) checkDates(c, files.certificate, keys.certificate, now);
    leaf = chain[0];
    out.certificate = pem;
    out.subject = leaf.subject.replace(/\n/g, ", ");
    out.notAfter = new Date(leaf.validTo);
  }
  if (files.privateKey !== undefined) {
    const pem = await readPem(files.privateKey, keys.privateKey);
    let matches: boolean;
    try {
      matches = leaf!.checkPrivateKey(createPrivateKey(pem));
    } catch (e) {
      throw new TlsFileError(
        keys.privateKey,
        `not a valid PEM private key: ${files.privateKey}: ${(e as Error).message}`,
      );
    }
    if (!matches) {
      throw new TlsFileError(
        keys.privateKey,
        `does not match the certificate ${files.certificate}: ${files.privateKey}`,
      );
    }
    out.privateKey = pem;
  }
  if (files.caCertificates !== undefined) {
    const pem = await readPem(files.caCertificates, keys.caCertificates);
    const cas = certificatesOf(pem, files.caCertificates, keys.caCertificates);
    for (const c of cas) checkDates(c, files.caCertificates, keys.caCertificates, now);
    out.caCertificates = pem;
  }
  return out;
}

// ---- the listener ----

/**
 * Reading stops while this much received data waits for the core, and starts again once it
 * is down to READ_RESUME_BYTES: each stop and start costs (the socket is re-armed), so they
 * are kept far apart rather than per chunk. A chunk held in a receive buffer counts as the
 * whole buffer.
 */
const READ_PAUSE_BYTES = 4 * 1024 * 1024;
const READ_RESUME_BYTES = 1024 * 1024;
/** How long close() waits for written data to reach a peer that does not read. */
const CLOSE_GRACE_MS = 5000;
/**
 * Size of each receive buffer: the encrypted bytes of one TCP read, and the decrypted bytes of
 * one delivery (a larger one costs more: Deno then allocates larger, fresh memory per read).
 */
const RECEIVE_BUFFER = 64 * 1024;
/**
 * Receive buffers a connection keeps for reuse once the core is done with them: as many as can
 * wait before reading stops. The event loop delivers TCP reads in bursts before the core runs
 * (about 30 chunks, 2 MiB, storing at full speed), so a smaller pool allocated fresh buffers for
 * half the chunks. The memory is what such a burst takes anyway; it goes with the connection.
 */
const SPARE_BUFFERS = READ_PAUSE_BYTES / RECEIVE_BUFFER;

/**
 * The parts of Deno 2.9's node:tls socket that receive (not a public API: each may be absent,
 * and then the socket's 'data' events serve, as in Node).
 *
 * Deno's TLSSocket passes every TCP read to JS in a freshly allocated buffer, hands it back to
 * Rust to decrypt, and delivers the cleartext in another fresh buffer through a Readable
 * stream: about 1.2 ms of CPU more per MiB received than Deno.listenTls, most of it the kernel
 * faulting in new pages for those buffers. Both handles take a buffer to read into instead
 * (`useUserBuffer`, what Node's `onread: { buffer, callback }` option uses): the TCP handle's
 * reads land in one fixed buffer, copied into the TLS state at once; the cleartext lands in
 * buffers of ours, reused once the core is done with them, and bypasses the Readable stream.
 */
interface NativeReceive {
  tls: {
    useUserBuffer?(buffer: Uint8Array): void;
    readStart?(): number;
    readStop?(): number;
  };
  tcp: {
    onread?: (this: unknown, buffer?: ArrayBuffer | Uint8Array) => unknown;
    useUserBuffer?(buffer: Uint8Array): void;
    readStart?(): number;
    readStop?(): number;
  };
  /** The socket's own keys of the user-buffer callback (net.Socket's kBuffer...). */
  keys: { buffer: symbol; callback: symbol; generator: symbol };
}

/** The TLS handle of a socket in Deno's node:tls, and the TCP handle under it (not public APIs). */
type TlsHandle = NativeReceive["tls"] & { _nativeTcpHandle?: NativeReceive["tcp"] };

function nativeReceiveOf(socket: tls.TLSSocket): NativeReceive | undefined {
  const handle = (socket as unknown as { _handle?: TlsHandle })._handle;
  const tcp = tcpHandleOf(socket);
  if (
    !handle || !tcp || typeof handle.useUserBuffer !== "function" ||
    typeof tcp.useUserBuffer !== "function" || typeof tcp.onread !== "function" ||
    typeof handle.readStart !== "function" || typeof handle.readStop !== "function" ||
    typeof tcp.readStart !== "function" || typeof tcp.readStop !== "function"
  ) return undefined;
  const symbols = Object.getOwnPropertySymbols(socket);
  const key = (name: string) => symbols.find((s) => s.description === name);
  const buffer = key("kBuffer"), callback = key("kBufferCb"), generator = key("kBufferGen");
  if (!buffer || !callback || !generator) return undefined;
  return { tls: handle, tcp, keys: { buffer, callback, generator } };
}

/** The TCP handle under a TLS socket in Deno's node:tls (not a public API: may be absent). */
function tcpHandleOf(socket: tls.TLSSocket): NativeReceive["tcp"] | undefined {
  return (socket as unknown as { _handle?: TlsHandle })._handle?._nativeTcpHandle;
}

/** One accepted TLS connection whose handshake (and client certificate) passed. */
export class TlsConnection implements Connection {
  readonly remote: string;
  readonly security: TransportSecurity;
  #socket: tls.TLSSocket;
  #native: NativeReceive | undefined;
  #queue: Uint8Array[] = [];
  /** The receive buffer each queued chunk lies in (null: a buffer of its own). */
  #queueOwners: (Uint8Array | null)[] = [];
  #queuedBytes = 0;
  #waiting: ((chunk: Uint8Array | null) => void) | null = null;
  /** The receive buffer of the chunk the core holds: free again at its next read(). */
  #lent: Uint8Array | null = null;
  /** Spare receive buffers (native receive only). */
  #spare: Uint8Array[] = [];
  #ended = false;
  #paused = false;
  /** Writes waiting for their callback; failed when the socket ends. */
  #writing = new Set<(e?: Error | null) => void>();
  #closing = false;

  constructor(socket: tls.TLSSocket, remote: string, security: TransportSecurity) {
    this.#socket = socket;
    this.remote = remote;
    this.security = security;
    socket.setNoDelay(true);
    this.#native = nativeReceiveOf(socket);
    if (this.#native) this.#receiveNative(this.#native);
    else {
      socket.on("data", (b: Uint8Array) => this.#receivedData(b));
    }
    const end = () => {
      this.#ended = true;
      this.#spare.length = 0; // nothing more is received into them
      const waiting = this.#waiting;
      this.#waiting = null;
      waiting?.(null);
      for (const w of [...this.#writing]) w(new Error("connection closed"));
    };
    socket.on("end", end);
    socket.on("close", end);
    // Without a listener an 'error' event would end the process.
    socket.on("error", end);
  }

  /**
   * True when this runtime's node:tls internals let the connection receive into buffers of
   * its own; false when it fell back to the socket's 'data' events (a newer Deno, slower).
   */
  get receivesIntoOwnBuffers(): boolean {
    return this.#native !== undefined;
  }

  #receivedData(b: Uint8Array): void {
    this.#received(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), null);
  }

  #receiveNative(n: NativeReceive): void {
    // Anything the socket took in before (it is handed over within the handshake's callback,
    // so there should be nothing) goes first.
    for (let b = this.#socket.read(); b !== null; b = this.#socket.read()) this.#receivedData(b);
    const socket = this.#socket as unknown as Record<symbol, unknown>;
    // Encrypted: each TCP read lands in one buffer, which the TLS state copies from at once.
    const encrypted = new Uint8Array(RECEIVE_BUFFER);
    const onread = n.tcp.onread!;
    n.tcp.useUserBuffer!(encrypted);
    // The read comes without its buffer then; the handler takes the bytes from this one.
    n.tcp.onread = function (buffer) {
      return onread.call(this, buffer ?? encrypted);
    };
    // The handler is taken when reading starts.
    n.tcp.readStop!();
    n.tcp.readStart!();
    // Cleartext: each delivery lands in a buffer of ours, which it then keeps until the core
    // is done with it; the socket asks for the next one right after.
    const first = this.#buffer();
    socket[n.keys.buffer] = first;
    socket[n.keys.callback] = (length: number, buffer: Uint8Array) => {
      this.#received(buffer.subarray(0, length), buffer);
      return true;
    };
    socket[n.keys.generator] = () => this.#buffer();
    n.tls.useUserBuffer!(first);
    // The end of the stream still comes through the socket ('end'), once it flows.
    this.#socket.resume();
  }

  #buffer(): Uint8Array {
    return this.#spare.pop() ?? new Uint8Array(RECEIVE_BUFFER);
  }

  /** A chunk received, lying in receive buffer `owner` (null: in a buffer of its own). */
  #received(chunk: Uint8Array, owner: Uint8Array | null): void {
    if (this.#closing) return; // closed by us: nothing more is read
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = null;
      this.#lent = owner;
      waiting(chunk);
      return;
    }
    this.#queue.push(chunk);
    this.#queueOwners.push(owner);
    // What it holds in memory while it waits: the whole receive buffer.
    this.#queuedBytes += owner ? owner.length : chunk.length;
    // Backpressure: stop reading the socket until the core catches up.
    if (this.#queuedBytes >= READ_PAUSE_BYTES && !this.#paused) this.#pauseReading();
  }

  read(): Promise<Uint8Array | null> {
    // The core is done with the chunk it had (ports.ts): its buffer serves again.
    if (this.#lent) {
      if (!this.#ended && this.#spare.length < SPARE_BUFFERS) this.#spare.push(this.#lent);
      this.#lent = null;
    }
    const next = this.#queue.shift();
    if (next) {
      const owner = this.#queueOwners.shift()!;
      this.#queuedBytes -= owner ? owner.length : next.length;
      this.#lent = owner;
      if (this.#paused && this.#queuedBytes <= READ_RESUME_BYTES) this.#resumeReading();
      return Promise.resolve(next);
    }
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  // Deno 2.9's node:tls does not pass a pause on to the TCP socket: it goes on reading and
  // decrypting into memory without bound. The TCP handle is stopped as well, so that a fast
  // peer is held back by TCP flow control.
  #pauseReading(): void {
    this.#paused = true;
    const n = this.#native;
    if (n) {
      n.tls.readStop!();
      n.tcp.readStop!();
      return;
    }
    this.#socket.pause();
    tcpHandleOf(this.#socket)?.readStop?.();
  }

  #resumeReading(): void {
    this.#paused = false;
    const n = this.#native;
    if (n) {
      n.tcp.readStart!();
      // Delivers what was decrypted while stopped (which may stop reading again).
      n.tls.readStart!();
      return;
    }
    tcpHandleOf(this.#socket)?.readStart?.();
    this.#socket.resume();
  }

  async write(bytes: Uint8Array): Promise<void> {
    const socket = this.#socket;
    if (this.#ended || socket.destroyed || !socket.writable) {
      throw new Error("connection closed");
    }
    // The stream holds on to the bytes until their callback: waiting for it, rather than for
    // 'drain', lets the caller reuse its buffer without a copy (and is the backpressure).
    await new Promise<void>((resolve, reject) => {
      const done = (e?: Error | null) => {
        if (!this.#writing.delete(done)) return;
        if (e) reject(e);
        else resolve();
      };
      this.#writing.add(done);
      socket.write(bytes, done);
    });
  }

  close(): void {
    const socket = this.#socket;
    if (socket.destroyed || this.#closing) return;
    this.#closing = true;
    // As for TCP: a pending read resolves null at once.
    this.#ended = true;
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.(null);
    this.#queue.length = 0;
    this.#queueOwners.length = 0;
    this.#spare.length = 0;
    this.#queuedBytes = 0;
    // What was written (an A-ASSOCIATE-RJ, an A-RELEASE-RP) is flushed first; a peer that
    // never reads gets a bounded wait.
    const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
    Deno.unrefTimer(timer);
    socket.end(() => {
      clearTimeout(timer);
      socket.destroy();
    });
  }
}

export interface TlsListenOptions {
  hostname: string;
  port: number;
  material: TlsMaterial;
  requireClientCertificate: boolean;
  /** A handshake not done within this is dropped (and logged). */
  handshakeTimeoutMs: number;
  logger: Logger;
  /** Told of each connection refused (after its log line): audit trail. */
  onRefused?(peer: string, reason: string, subject?: string): void;
}

export interface TlsListener {
  readonly port: number;
  /** New connections use these certificates once it settles; open ones keep theirs. */
  setMaterial(material: TlsMaterial): Promise<void>;
  /** Stops accepting; running connections go on. */
  close(): void;
  /** Resolves when the listener has closed. */
  readonly done: Promise<void>;
}

const NODE_TLS_OPTIONS = {
  minVersion: "TLSv1.2",
  maxVersion: "TLSv1.3",
  // BCP 195 (RFC 9325 4.2) for TLS 1.2; TLS 1.3 suites are all AEAD.
  ciphers: [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
  ].join(":"),
} as const;

function contextOptions(m: TlsMaterial) {
  return { key: m.privateKey, cert: m.certificate, ca: m.caCertificates };
}

/** A handshake error in words an operator can act on. */
export function handshakeReason(e: Error & { code?: string }): string {
  const msg = e.message ?? String(e);
  if (e.code === "ERR_SSL_WRONG_VERSION_NUMBER" || /InvalidContentType|wrong version/i.test(msg)) {
    return `not a TLS client hello (plain DICOM on the TLS port?): ${msg}`;
  }
  if (/no certificates/i.test(msg)) return "no client certificate";
  if (/incompatible|protocol version|no shared cipher|handshake failure/i.test(msg)) {
    return `TLS version or cipher suites not supported (TLS 1.2 or 1.3, ECDHE): ${msg}`;
  }
  if (/timed? ?out/i.test(msg)) return `handshake timed out: ${msg}`;
  return msg;
}

type PeerCertificate = {
  subject?: Record<string, string | string[]>;
  subjectaltname?: string;
};

function describeSubject(subject: PeerCertificate["subject"]): string {
  if (!subject) return "";
  return Object.entries(subject).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : v}`)
    .join(", ");
}

/** Protocol, cipher suite and the peer's certificate names of an established socket. */
function securityOf(s: tls.TLSSocket): TransportSecurity {
  const cipher = s.getCipher();
  const cert = s.getPeerCertificate() as unknown as PeerCertificate | null;
  const cn = cert?.subject?.CN;
  const hasCert = !!cert?.subject && Object.keys(cert.subject).length > 0;
  return {
    protocol: s.getProtocol() ?? "",
    cipher: cipher?.standardName ?? cipher?.name ?? "",
    peer: hasCert
      ? {
        subject: describeSubject(cert!.subject),
        commonName: Array.isArray(cn) ? cn[0] : cn ?? "",
        dnsNames: dnsNamesOf(cert!.subjectaltname),
      }
      : undefined,
  };
}

/**
 * Accepts TLS connections. A connection reaches onConnection only once its handshake is done
 * and, when required, its client certificate verified against the CAs; every other is logged
 * once at warn with the peer address and reason, and closed (it never holds an association).
 */
export function listenTls(
  options: TlsListenOptions,
  onConnection: (c: TlsConnection) => void,
): Promise<TlsListener> {
  const log = options.logger;
  const server = tls.createServer({
    ...NODE_TLS_OPTIONS,
    ...contextOptions(options.material),
    requestCert: true,
    // Checked below, so that the refusal can be logged with its reason.
    rejectUnauthorized: false,
    handshakeTimeout: options.handshakeTimeoutMs,
  });
  const peerOf = (s: tls.TLSSocket): string => {
    // A failed socket has lost its own address; the underlying TCP socket keeps it.
    const raw = s as unknown as {
      remoteAddress?: string;
      remotePort?: number;
      _parent?: { remoteAddress?: string; remotePort?: number };
    };
    const address = raw.remoteAddress ?? raw._parent?.remoteAddress;
    const port = raw.remotePort ?? raw._parent?.remotePort;
    if (!address) return "unknown";
    return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
  };
  const refused = (peer: string, reason: string, subject?: string) => {
    log.log("warn", "TLS connection refused", { peer, reason, subject });
    options.onRefused?.(peer, reason, subject);
  };
  server.on("tlsClientError", (e: Error, s: tls.TLSSocket) => {
    refused(peerOf(s), handshakeReason(e));
    s.destroy();
  });
  server.on("secureConnection", (s: tls.TLSSocket) => {
    const remote = peerOf(s);
    s.on("error", () => {}); // until the connection's own handlers take over
    const cert = s.getPeerCertificate() as unknown as PeerCertificate | null;
    const hasCert = !!cert && !!cert.subject && Object.keys(cert.subject).length > 0;
    if (hasCert && !s.authorized) {
      refused(
        remote,
        `client certificate not trusted: ${s.authorizationError}`,
        describeSubject(cert!.subject),
      );
      s.destroy();
      return;
    }
    if (!hasCert && options.requireClientCertificate) {
      refused(remote, "no client certificate");
      s.destroy();
      return;
    }
    onConnection(new TlsConnection(s, remote, securityOf(s)));
  });
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let closed = false;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      server.on("error", (e: Error) => log.log("error", `TLS listener: ${e.message}`));
      const address = server.address();
      resolve({
        port: typeof address === "object" && address ? address.port : options.port,
        done,
        setMaterial(m: TlsMaterial) {
          server.setSecureContext(contextOptions(m));
          return Promise.resolve();
        },
        close() {
          if (closed) return;
          closed = true;
          server.close(() => resolveDone());
        },
      });
    });
  });
}

// ---- outgoing ----

/**
 * Opens TLS connections: the server's certificate is verified against `material`'s CAs (the
 * system's when none) and its name against the host; ours is presented when given.
 */
export function tlsConnector(material: TlsMaterial): Connector {
  return {
    connect(host: string, port: number, timeoutMs: number): Promise<Connection> {
      return new Promise((resolve, reject) => {
        const socket = tls.connect({
          ...NODE_TLS_OPTIONS,
          host,
          port,
          // SNI carries host names only (RFC 6066 3).
          servername: /^[\d.]+$|:/.test(host) ? undefined : host,
          ca: material.caCertificates,
          cert: material.certificate,
          key: material.privateKey,
          rejectUnauthorized: true,
        });
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`TLS connection to ${host}:${port} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        socket.once("error", (e: Error) => {
          clearTimeout(timer);
          socket.destroy();
          reject(e);
        });
        socket.once("secureConnect", () => {
          clearTimeout(timer);
          resolve(new TlsConnection(socket, `${host}:${port}`, securityOf(socket)));
        });
      });
    },
  };
}
