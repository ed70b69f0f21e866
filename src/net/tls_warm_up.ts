// The first TLS handshake of a process costs about 80 ms of CPU more than the later ones (the
// runtime's TLS state and modules are set up lazily, on first use). One handshake between a
// throw-away loopback listener and a client of ours, at start, pays it then: the first peer
// does not wait for it, and nothing of it reaches the real listener, its log or the audit trail.
import * as tls from "node:tls";
import type { TlsMaterial } from "./tls.ts";

/** A warm-up not done within this is given up (it is an optimisation, never a failure). */
const WARM_UP_TIMEOUT_MS = 3000;

/** Runs `work` until it calls done (or the bound passes), then its clean-up. */
function bounded(work: (done: (handshook: boolean) => void) => () => void): Promise<boolean> {
  return new Promise((resolve) => {
    let cleanUp = () => {};
    let finished = false;
    const timer = setTimeout(() => finish(false), WARM_UP_TIMEOUT_MS);
    const finish = (handshook: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      try {
        cleanUp();
      } catch { /* closed already */ }
      resolve(handshook);
    };
    try {
      cleanUp = work(finish);
      if (finished) cleanUp();
    } catch {
      finish(false);
    }
  });
}

/**
 * One node:tls handshake on loopback with `material`'s certificate: the server and client sides
 * (the listener asking for client certificates, and C-MOVE over TLS) are ready afterwards.
 * Resolves true once the server side has completed the handshake, false when it failed or
 * timed out; never rejects.
 */
export function warmUpNodeTls(material: TlsMaterial): Promise<boolean> {
  return bounded((done) => {
    const sockets: tls.TLSSocket[] = [];
    const server = tls.createServer({
      key: material.privateKey,
      cert: material.certificate,
      ca: material.caCertificates,
      requestCert: true,
      rejectUnauthorized: false,
    }, (s) => {
      sockets.push(s);
      s.on("error", () => {});
      // What the real listener asks of each connection (the peer's certificate, the suite).
      s.getPeerCertificate();
      s.getCipher();
      s.getProtocol();
    });
    server.on("error", () => done(false));
    server.on("tlsClientError", () => {});
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (!address || typeof address !== "object") return done(false);
      const client = tls.connect({
        host: "127.0.0.1",
        port: address.port,
        // Our own certificate is not checked here: only the handshake's work matters.
        rejectUnauthorized: false,
        key: material.privateKey,
        cert: material.certificate,
      });
      sockets.push(client);
      client.on("error", () => done(false));
      // Done once the server side has accepted it.
      server.on("secureConnection", () => done(true));
    });
    return () => {
      for (const s of sockets) s.destroy();
      server.close();
    };
  });
}

/** The same for Deno's own TLS (the listener that asks for no client certificate). */
export function warmUpNativeTls(material: TlsMaterial): Promise<boolean> {
  return bounded((done) => {
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: material.certificate!,
      key: material.privateKey!,
    });
    const conns: Deno.Conn[] = [];
    const port = (listener.addr as Deno.NetAddr).port;
    const served = listener.accept().then((c) => {
      conns.push(c);
      return c.handshake();
    });
    const asked = Deno.connectTls({
      hostname: "127.0.0.1",
      port,
      caCerts: material.caCertificates ? [material.caCertificates] : undefined,
    }).then((c) => {
      conns.push(c);
      return c.handshake();
    });
    // The client may refuse our certificate (its name is not 127.0.0.1): the server side has
    // done its part by then.
    void Promise.allSettled([served, asked]).then(([s]) => done(s.status === "fulfilled"));
    return () => {
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      listener.close();
    };
  });
}
