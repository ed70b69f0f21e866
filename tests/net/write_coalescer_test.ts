// Small writes joined for sockets that keep Nagle's algorithm (Deno's own TLS): nothing is
// reordered or lost, a buffer reused after write() resolves changes nothing sent, a burst of
// small writes is one socket write, and over Deno's TLS a peer that only reads gets two small
// writes in a row without waiting for its delayed ACK.
import assert from "node:assert/strict";
import { WriteCoalescer } from "../../src/net/write_coalescer.ts";
import { type CertificateSet, hasOpenssl, makeCertificates } from "../helpers/certificates.ts";
import { listenNativeTls } from "../../src/net/native_tls.ts";
import { loadTlsMaterial } from "../../src/net/tls.ts";
import type { Connection } from "../../src/core/ports.ts";

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A coalescer over a fake socket that records each write (and is slow to take them). */
function recorder() {
  const writes: Uint8Array[] = [];
  const c = new WriteCoalescer(async (b) => {
    await delay(1);
    writes.push(b.slice());
  });
  return { c, writes, all: () => writes.flatMap((w) => [...w]) };
}

Deno.test("write coalescer: small writes in one task go out as one write, in order", async () => {
  const { c, writes, all } = recorder();
  const reused = new Uint8Array(3);
  for (let i = 0; i < 10; i++) {
    reused.fill(i);
    await c.write(reused); // resolved at once: the caller reuses its buffer
  }
  await c.flush();
  assert.equal(writes.length, 1);
  assert.deepEqual(all(), Array.from({ length: 30 }, (_, k) => Math.floor(k / 3)));
});

Deno.test("write coalescer: small and large writes mixed keep their order", async () => {
  const { c, all } = recorder();
  const large = (v: number) => new Uint8Array(70_000).fill(v);
  const sent: number[] = [];
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < 12; i++) {
    const bytes = i % 3 === 2 ? large(i) : new Uint8Array([i, i]);
    sent.push(...bytes);
    jobs.push(c.write(bytes));
    if (i === 5) await delay(5); // some small ones go on their own
  }
  await Promise.all(jobs);
  await c.flush();
  assert.deepEqual(all(), sent);
});

Deno.test("write coalescer: a failed write is reported by the next one", async () => {
  const c = new WriteCoalescer(() => Promise.reject(new Error("connection reset")));
  await c.write(new Uint8Array(10));
  await assert.rejects(c.flush(), /connection reset/);
  await assert.rejects(c.write(new Uint8Array(10)), /connection reset/);
});

Deno.test({
  name:
    "Deno's TLS listener: two small writes in a row reach a peer that only reads without a delayed-ACK wait",
  ignore: !hasOpenssl(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-coalesce-" });
    try {
      const c: CertificateSet = await makeCertificates(dir);
      const accepted: Connection[] = [];
      const listener = await listenNativeTls({
        hostname: "127.0.0.1",
        port: 0,
        material: await loadTlsMaterial(
          { certificate: c.serverCert, privateKey: c.serverKey },
          { certificate: "c", privateKey: "k", caCertificates: "ca" },
        ),
        requireClientCertificate: false,
        handshakeTimeoutMs: 10_000,
        logger: { log: () => {} },
      }, (conn) => accepted.push(conn));
      const client = await Deno.connectTls({
        hostname: "localhost",
        port: listener.port,
        caCerts: [await Deno.readTextFile(c.ca)],
      });
      await client.handshake();
      for (let i = 0; i < 500 && accepted.length === 0; i++) await delay(10);
      const server = accepted[0];
      // As a C-FIND SCP answers: a request, then pending responses and the final one.
      const serve = (async () => {
        for (let i = 0; i < 20; i++) {
          assert.ok(await server.read());
          await server.write(new Uint8Array(200));
          await server.write(new Uint8Array(200));
        }
      })();
      const buf = new Uint8Array(1000);
      const t0 = performance.now();
      for (let i = 0; i < 20; i++) {
        await client.write(new Uint8Array([1]));
        for (let got = 0; got < 400;) got += (await client.read(buf)) ?? 400;
      }
      const ms = performance.now() - t0;
      await serve;
      client.close();
      server.close();
      listener.close();
      await listener.done;
      // With Nagle holding each second write for the peer's delayed ACK: about 20 x 40 ms.
      assert.ok(ms < 500, `20 exchanges took ${ms.toFixed(0)} ms`);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
