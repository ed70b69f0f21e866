// DICOM over TLS with DCMTK's TLS tools as peers (PS3.15 B.9): certificates checked both
// ways, refusals that cost nothing and leave the server serving the next good client at once.
import assert from "node:assert/strict";
import { type CertificateSet, hasOpenssl, withCertificates } from "../helpers/certificates.ts";
import { hasTool, MAIN, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";
import { echo, openAssociation } from "../helpers/scu.ts";
import { loadTlsMaterial, tlsConnector } from "../../src/net/tls.ts";
import { parseConfig } from "../../src/config.ts";
import type { Connector } from "../../src/core/ports.ts";

const ready = hasTool("echoscu") && hasOpenssl();

function tlsToml(c: CertificateSet, extra: Record<string, string | boolean | number> = {}) {
  const t = {
    enabled: true,
    port: 0,
    certificate: c.serverCert,
    private_key: c.serverKey,
    ca_certificates: c.ca,
    ...extra,
  };
  return ["[tls]", ...Object.entries(t).map(([k, v]) => `${k} = ${JSON.stringify(v)}`)].join(
    "\n",
  );
}

/** echoscu +tls with a client certificate; returns the run result. */
function tlsEcho(
  pacs: MiniPacs,
  c: CertificateSet,
  client: { cert: string; key: string } | null,
  aet = "TLSSCU",
  ca = c.ca,
) {
  const tls = client ? ["+tls", client.key, client.cert] : ["+tla"];
  return run("echoscu", [
    ...tls,
    "+cf",
    ca,
    "-aet",
    aet,
    "-aec",
    "MINIPACS",
    "127.0.0.1",
    String(pacs.tlsPort),
  ]);
}

/** The subject of the certificate the TLS port presents to a new connection now. */
async function subjectOf(pacs: MiniPacs, connector: Connector) {
  const conn = await connector.connect("127.0.0.1", pacs.tlsPort!, 5000);
  try {
    return conn.security?.peer?.subject;
  } finally {
    conn.close();
  }
}

/**
 * With an association open, replaces the server's certificate files (`live`) with a renewed
 * certificate and sends SIGHUP: new connections get it, the open association goes on.
 */
async function renewWhileOpen(
  pacs: MiniPacs,
  c: CertificateSet,
  connector: Connector,
  live: { cert: string; key: string },
) {
  assert.equal(await subjectOf(pacs, connector), "CN=localhost");
  const open = await openAssociation(pacs.tlsPort!, { connector });
  assert.equal(await echo(open), 0);
  const renewed = await c.issue("renewed.example", { san: "DNS:localhost,IP:127.0.0.1" });
  await Deno.copyFile(renewed.cert, live.cert);
  await Deno.copyFile(renewed.key, live.key);
  pacs.child.kill("SIGHUP");
  await pacs.waitForLog(/TLS certificates reloaded .*renewed\.example/);
  assert.equal(await subjectOf(pacs, connector), "CN=renewed.example");
  assert.equal(await echo(open), 0, "the association opened before goes on");
  return open;
}

Deno.test({
  name: "TLS: echoscu +tls with a trusted client certificate is served; the log names the cipher",
  ignore: !ready,
  async fn() {
    await withCertificates(async (c) => {
      const client = await c.issue("ct1.example");
      const pacs = await startMiniPacs({ extraToml: tlsToml(c) });
      try {
        assert.ok(pacs.tlsPort && pacs.tlsPort !== pacs.port);
        const r = await tlsEcho(pacs, c, client);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        await pacs.waitForLog(/association accepted .*peer=TLSSCU@127\.0\.0\.1/);
        // The plain port still answers plain DICOM.
        const plain = await run("echoscu", ["-aec", "MINIPACS", "127.0.0.1", String(pacs.port)]);
        assert.equal(plain.code, 0, plain.stderr);
      } finally {
        await pacs.cleanup();
      }
    });
  },
});

Deno.test({
  name:
    "TLS refusals (other CA, no certificate, expired, TLS 1.1, plain DICOM): each logged once, the next good client served at once",
  ignore: !ready,
  async fn() {
    await withCertificates(async (c) => {
      const good = await c.issue("ct1.example");
      const other = await c.otherCa("ct1.example");
      const expired = await c.issue("old.example", { days: -1 });
      // One association at a time: a refused handshake must not hold the slot.
      const pacs = await startMiniPacs({
        server: { max_associations: 1 },
        extraToml: tlsToml(c),
      });
      try {
        const refusals: [string, () => Promise<unknown>, RegExp][] = [
          ["another CA", () => tlsEcho(pacs, c, other), /not trusted/],
          ["no certificate", () => tlsEcho(pacs, c, null), /no client certificate/],
          ["expired", () => tlsEcho(pacs, c, expired), /not trusted: CERT_HAS_EXPIRED|expired/i],
          [
            "TLS 1.1",
            () =>
              run("openssl", [
                "s_client",
                "-connect",
                `127.0.0.1:${pacs.tlsPort}`,
                "-tls1_1",
                "-cert",
                good.cert,
                "-key",
                good.key,
                "-CAfile",
                c.ca,
              ]),
            /TLS version or cipher suites not supported/,
          ],
          [
            "plain DICOM",
            () => run("echoscu", ["-aec", "MINIPACS", "127.0.0.1", String(pacs.tlsPort)]),
            /plain DICOM on the TLS port/,
          ],
        ];
        for (const [what, attempt, reason] of refusals) {
          const before = pacs.logs().split("\n").filter((l) => /TLS connection refused/.test(l))
            .length;
          const r = await attempt() as { code: number };
          if (what !== "TLS 1.1") assert.notEqual(r.code, 0, `${what} should fail`);
          const line = await pacs.waitForLog(
            new RegExp(`TLS connection refused.*${reason.source}`, reason.flags),
          );
          assert.match(line, /WARN|warn/i, what);
          assert.match(line, /peer=127\.0\.0\.1:\d+/, what);
          const ok = await tlsEcho(pacs, c, good);
          assert.equal(ok.code, 0, `after ${what}: ${ok.stderr}`);
          const after = pacs.logs().split("\n").filter((l) => /TLS connection refused/.test(l))
            .length;
          assert.equal(after - before, 1, `${what}: logged once\n${pacs.logs()}`);
        }
        // None of them became an association.
        assert.doesNotMatch(pacs.logs(), /association rejected/);
      } finally {
        await pacs.cleanup();
      }
    });
  },
});

Deno.test({
  name: "TLS: a handshake left hanging holds no association slot",
  ignore: !ready,
  async fn() {
    await withCertificates(async (c) => {
      const good = await c.issue("ct1.example");
      const pacs = await startMiniPacs({ server: { max_associations: 1 }, extraToml: tlsToml(c) });
      const idle: Deno.TcpConn[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          idle.push(await Deno.connect({ hostname: "127.0.0.1", port: pacs.tlsPort! }));
        }
        const ok = await tlsEcho(pacs, c, good);
        assert.equal(ok.code, 0, ok.stderr);
      } finally {
        for (const conn of idle) conn.close();
        await pacs.cleanup();
      }
    });
  },
});

Deno.test({
  name:
    "TLS: tls_name ties a calling AE to its certificate; the wrong one or plain TCP is rejected",
  ignore: !ready,
  async fn() {
    await withCertificates(async (c) => {
      const ct1 = await c.issue("ct1.example");
      // The name as a DNS subjectAltName only, not the CN.
      const sanOnly = await c.issue("ct-san", { san: "DNS:ct2.example" });
      const mr = await c.issue("mr1.example");
      const auditPath = `${c.dir}/audit.log`;
      const pacs = await startMiniPacs({
        extraToml: [
          tlsToml(c),
          "[audit]",
          `path = ${JSON.stringify(auditPath)}`,
          "[[known_ae]]",
          'ae_title = "CT1"',
          'host = "127.0.0.1"',
          "port = 104",
          'tls_name = "ct1.example"',
          "[[known_ae]]",
          'ae_title = "CT2"',
          'host = "127.0.0.1"',
          "port = 104",
          'tls_name = "CT2.example"',
        ].join("\n"),
      });
      try {
        assert.equal((await tlsEcho(pacs, c, ct1, "CT1")).code, 0);
        assert.equal((await tlsEcho(pacs, c, sanOnly, "CT2")).code, 0);
        const wrong = await tlsEcho(pacs, c, mr, "CT1");
        assert.notEqual(wrong.code, 0);
        assert.match(wrong.stdout + wrong.stderr, /Calling AE Title Not Recognized/i);
        await pacs.waitForLog(
          /association rejected: calling AE title "CT1" needs a certificate for "ct1.example".*mr1\.example/,
        );
        assert.equal((await tlsEcho(pacs, c, ct1, "CT1")).code, 0, "served at once after");
        const plain = await run("echoscu", [
          "-aet",
          "CT1",
          "-aec",
          "MINIPACS",
          "127.0.0.1",
          String(pacs.port),
        ]);
        assert.notEqual(plain.code, 0);
        await pacs.waitForLog(
          /association rejected: calling AE title "CT1" is accepted only over TLS/,
        );
        assert.equal((await tlsEcho(pacs, c, ct1, "CT1")).code, 0, "served at once after");
        // The audit trail says who came over TLS with which certificate, and who was refused.
        const lines = (await Deno.readTextFile(auditPath)).trim().split("\n").map((l) =>
          JSON.parse(l)
        );
        const assoc = lines.filter((l) => l.EventID === "Association" && l.UserID === "CT1");
        const ok = assoc.find((l) => l.EventOutcomeIndicator === 0);
        assert.equal(ok?.TLS?.CertificateSubject, "CN=ct1.example");
        assert.match(ok?.TLS?.protocol, /^TLSv1\.[23]$/);
        const refused = assoc.filter((l) => l.EventOutcomeIndicator === 4);
        assert.equal(refused.length, 2);
        assert.equal(refused[0].TLS?.CertificateSubject, "CN=mr1.example");
        assert.equal(refused[1].TLS, undefined, "the plain attempt");
      } finally {
        await pacs.cleanup();
      }
    });
  },
});

/** Runs `serve` and returns its exit code and output (it must stop by itself). */
async function serveOnce(config: string, dir: string) {
  await Deno.writeTextFile(`${dir}/config.toml`, config);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "serve", "--config", `${dir}/config.toml`],
    stdout: "piped",
    stderr: "piped",
    cwd: dir,
    signal: AbortSignal.timeout(20_000),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stderr: dec.decode(out.stderr), stdout: dec.decode(out.stdout) };
}

Deno.test({
  name:
    "TLS: a missing, expired or mismatched certificate stops the start with exit 2 and one line",
  ignore: !hasOpenssl(),
  async fn() {
    await withCertificates(async (c) => {
      const expired = await c.issue("localhost", { days: -1 });
      const other = await c.issue("else.example");
      const base = (tls: string) =>
        [
          "[server]",
          'bind = "127.0.0.1"',
          "port = 0",
          "[storage]",
          `path = ${JSON.stringify(`${c.dir}/data`)}`,
          "journal_reserve_mb = 0",
          "min_free_mb = 1",
          "[http]",
          "enabled = false",
          tls,
        ].join("\n");
      const cases: [string, string, RegExp][] = [
        [
          "missing",
          tlsToml(c, { certificate: `${c.dir}/nowhere.crt` }),
          /^configuration: tls\.certificate: missing: .*nowhere\.crt$/,
        ],
        [
          "expired",
          tlsToml(c, { certificate: expired.cert, private_key: expired.key }),
          /^configuration: tls\.certificate: expired on \d{4}-/,
        ],
        [
          "mismatch",
          tlsToml(c, { private_key: other.key }),
          /^configuration: tls\.private_key: does not match the certificate/,
        ],
        [
          "unreadable CA",
          tlsToml(c, { ca_certificates: c.serverKey }),
          /^configuration: tls\.ca_certificates: no PEM certificate in/,
        ],
      ];
      for (const [what, tls, want] of cases) {
        const r = await serveOnce(base(tls), c.dir);
        assert.equal(r.code, 2, `${what}: ${r.stderr}${r.stdout}`);
        // Besides the info line naming the file: one line with the key and the reason.
        const lines = r.stderr.trim().split("\n").filter((l) => !/ INFO /.test(l));
        assert.equal(lines.length, 1, `${what}: one line\n${r.stderr}`);
        assert.match(lines[0], want, what);
      }
    });
  },
});

Deno.test({
  name:
    "TLS: SIGHUP with new certificate files: new connections get the new one, an open association goes on; a bad file keeps the old",
  ignore: !ready,
  async fn() {
    await withCertificates(async (c) => {
      const client = await c.issue("ct1.example");
      const material = await loadTlsMaterial(
        { certificate: client.cert, privateKey: client.key, caCertificates: c.ca },
        { certificate: "cert", privateKey: "key", caCertificates: "ca" },
      );
      const connector = tlsConnector(material);
      // The server's files live where the configuration names them; they are replaced in place.
      const cert = `${c.dir}/live.crt`;
      const key = `${c.dir}/live.key`;
      await Deno.copyFile(c.serverCert, cert);
      await Deno.copyFile(c.serverKey, key);
      const pacs = await startMiniPacs({
        extraToml: tlsToml(c, { certificate: cert, private_key: key }),
      });
      let open: Awaited<ReturnType<typeof openAssociation>> | null = null;
      try {
        open = await renewWhileOpen(pacs, c, connector, { cert, key });

        // A key that does not match: logged, and the running certificate is kept.
        await Deno.copyFile(client.key, key);
        pacs.child.kill("SIGHUP");
        await pacs.waitForLog(/TLS certificates not reloaded.*tls\.private_key: does not match/);
        assert.equal(await subjectOf(pacs, connector), "CN=renewed.example");
        assert.equal(await echo(open), 0);
        await open.release();
        open = null;
      } finally {
        await open?.abort().catch(() => {});
        await pacs.cleanup();
      }
    });
  },
});

Deno.test({
  name:
    "TLS: require_client_certificate = false with a tls_name AE asks for certificates: none is served, an untrusted one never",
  ignore: !ready,
  async fn() {
    await withCertificates(async (c) => {
      const other = await c.otherCa("ct1.example");
      const pacs = await startMiniPacs({
        extraToml: [
          tlsToml(c, { require_client_certificate: false }),
          "[[known_ae]]",
          'ae_title = "CT1"',
          'host = "127.0.0.1"',
          "port = 104",
          'tls_name = "ct1.example"',
        ].join("\n"),
      });
      try {
        await pacs.waitForLog(/DICOM over TLS listening.*client_certificate=optional/);
        const anon = await tlsEcho(pacs, c, null);
        assert.equal(anon.code, 0, anon.stderr);
        const untrusted = await tlsEcho(pacs, c, other);
        assert.notEqual(untrusted.code, 0);
        await pacs.waitForLog(/TLS connection refused.*not trusted/);
      } finally {
        await pacs.cleanup();
      }
    });
  },
});

Deno.test({
  name:
    "TLS without client certificates (Deno's listener): served; TLS 1.1, plain DICOM and a hanging handshake refused, logged once, no slot held; SIGHUP swaps the certificate",
  ignore: !ready,
  async fn() {
    await withCertificates(async (c) => {
      const cert = `${c.dir}/live.crt`;
      const key = `${c.dir}/live.key`;
      await Deno.copyFile(c.serverCert, cert);
      await Deno.copyFile(c.serverKey, key);
      const pacs = await startMiniPacs({
        server: { max_associations: 1 },
        extraToml: tlsToml(c, {
          require_client_certificate: false,
          certificate: cert,
          private_key: key,
        }),
      });
      const idle: Deno.TcpConn[] = [];
      let open: Awaited<ReturnType<typeof openAssociation>> | null = null;
      const connector = tlsConnector(
        await loadTlsMaterial({ caCertificates: c.ca }, {
          certificate: "cert",
          privateKey: "key",
          caCertificates: "ca",
        }),
      );
      try {
        await pacs.waitForLog(/DICOM over TLS listening.*client_certificate="?not asked/);
        const refused = () =>
          pacs.logs().split("\n").filter((l) => /TLS connection refused/.test(l)).length;
        const attempts: [string, () => Promise<unknown>, RegExp][] = [
          [
            "TLS 1.1",
            () => run("openssl", ["s_client", "-connect", `127.0.0.1:${pacs.tlsPort}`, "-tls1_1"]),
            /TLS version or cipher suites not supported/,
          ],
          [
            "plain DICOM",
            () => run("echoscu", ["-aec", "MINIPACS", "127.0.0.1", String(pacs.tlsPort)]),
            /plain DICOM on the TLS port/,
          ],
        ];
        for (const [what, attempt, reason] of attempts) {
          const before = refused();
          await attempt();
          const line = await pacs.waitForLog(
            new RegExp(`TLS connection refused.*${reason.source}`, reason.flags),
          );
          assert.match(line, /peer=127\.0\.0\.1:\d+/, what);
          const ok = await tlsEcho(pacs, c, null);
          assert.equal(ok.code, 0, `after ${what}: ${ok.stderr}`);
          assert.equal(refused() - before, 1, `${what}: logged once\n${pacs.logs()}`);
        }
        // Handshakes left hanging hold none of the one association slot.
        for (let i = 0; i < 3; i++) {
          idle.push(await Deno.connect({ hostname: "127.0.0.1", port: pacs.tlsPort! }));
        }
        assert.equal((await tlsEcho(pacs, c, null)).code, 0);
        for (const conn of idle.splice(0)) conn.close();
        assert.doesNotMatch(pacs.logs(), /association rejected/);

        // SIGHUP: new connections get the new certificate, an open association goes on.
        open = await renewWhileOpen(pacs, c, connector, { cert, key });
        await open.release();
        open = null;
      } finally {
        for (const conn of idle) conn.close();
        await open?.abort().catch(() => {});
        await pacs.cleanup();
      }
    });
  },
});

Deno.test({
  name: "server.plain = false: DICOM over TLS only; without [tls] the file is refused",
  ignore: !ready,
  async fn() {
    assert.throws(
      () => parseConfig("[server]\nplain = false\n", "c.toml"),
      /c\.toml:2: server\.plain: is false and \[tls\] enabled is false/,
    );
    await withCertificates(async (c) => {
      const good = await c.issue("ct1.example");
      const pacs = await startMiniPacs({ server: { plain: false }, extraToml: tlsToml(c) });
      try {
        assert.equal(pacs.port, pacs.tlsPort, "the DICOM port is the TLS one");
        assert.doesNotMatch(pacs.logs(), /INFO\s+DICOM listening/);
        assert.equal((await tlsEcho(pacs, c, good)).code, 0);
      } finally {
        await pacs.cleanup();
      }
    });
  },
});
