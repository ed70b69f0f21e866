// The TLS warm-up at start: it finishes (or gives up) within its bound, leaves no socket or
// timer open (the test sanitizers see to that), never fails the start, and the real listener
// opened after it serves its first client at once.
import assert from "node:assert/strict";
import { type CertificateSet, hasOpenssl, withCertificates } from "../helpers/certificates.ts";
import { listenTls, loadTlsMaterial, tlsConnector, type TlsMaterial } from "../../src/net/tls.ts";
import { listenNativeTls } from "../../src/net/native_tls.ts";
import { warmUpNativeTls, warmUpNodeTls } from "../../src/net/tls_warm_up.ts";
import type { Connection } from "../../src/core/ports.ts";

const ready = hasOpenssl();
if (!ready) console.log("SKIP: TLS warm-up tests need the openssl command");

const KEYS = { certificate: "certificate", privateKey: "private_key", caCertificates: "ca" };
/** The warm-up's own bound is 3 s; a loopback handshake takes milliseconds. */
const WITHIN_MS = 5000;

const serverMaterial = (c: CertificateSet) =>
  loadTlsMaterial(
    { certificate: c.serverCert, privateKey: c.serverKey, caCertificates: c.ca },
    KEYS,
  );

async function timed(p: Promise<boolean>): Promise<[boolean, number]> {
  const t0 = performance.now();
  const handshook = await p;
  return [handshook, performance.now() - t0];
}

for (const native of [false, true]) {
  const what = native ? "Deno's TLS" : "node:tls";
  Deno.test({
    name: `TLS warm-up (${what}): done within its bound; the listener then serves a client ` +
      "and logs no refusal",
    ignore: !ready,
    async fn() {
      await withCertificates(async (c) => {
        const material = await serverMaterial(c);
        const [handshook, ms] = await timed((native ? warmUpNativeTls : warmUpNodeTls)(material));
        assert.equal(handshook, true, "the warm-up's handshake was done");
        assert.ok(ms < WITHIN_MS, `warm-up took ${ms.toFixed(0)} ms`);
        const lines: string[] = [];
        const accepted: Connection[] = [];
        const listener = await (native ? listenNativeTls : listenTls)({
          hostname: "127.0.0.1",
          port: 0,
          material,
          requireClientCertificate: !native,
          handshakeTimeoutMs: 10_000,
          logger: { log: (level, message) => lines.push(`${level} ${message}`) },
        }, (conn) => accepted.push(conn));
        const client = await c.issue("scu.example");
        const clientMaterial = await loadTlsMaterial(
          { certificate: client.cert, privateKey: client.key, caCertificates: c.ca },
          KEYS,
        );
        const out = await tlsConnector(clientMaterial).connect("127.0.0.1", listener.port, 10_000);
        try {
          await out.write(new Uint8Array([1, 2, 3]));
          for (let i = 0; i < 500 && accepted.length === 0; i++) {
            await new Promise((r) => setTimeout(r, 10));
          }
          assert.equal(accepted.length, 1, "the first client was accepted");
          assert.deepEqual(await accepted[0].read(), new Uint8Array([1, 2, 3]));
          // Nothing of the warm-up reached the real listener.
          assert.deepEqual(lines, []);
        } finally {
          out.close();
          accepted[0]?.close();
          listener.close();
          await listener.done;
        }
      });
    },
  });

  Deno.test({
    name: `TLS warm-up (${what}): a key that is not the certificate's fails it quietly, ` +
      "within its bound",
    ignore: !ready,
    async fn() {
      await withCertificates(async (c) => {
        const good = await serverMaterial(c);
        const other = await c.issue("other.example");
        const wrong: TlsMaterial = { ...good, privateKey: await Deno.readTextFile(other.key) };
        const [handshook, ms] = await timed((native ? warmUpNativeTls : warmUpNodeTls)(wrong));
        assert.equal(handshook, false);
        assert.ok(ms < WITHIN_MS, `warm-up took ${ms.toFixed(0)} ms`);
      });
    },
  });
}
