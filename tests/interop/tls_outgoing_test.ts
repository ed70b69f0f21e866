// Every association MiniPACS opens to a [[known_ae]] with tls = true goes over TLS with our
// certificate, as C-MOVE's do (tls_services_test.ts): forwarding to a storescp +tls that
// requires a client certificate, and the Peers page's C-ECHO. Storage commitment reports over
// TLS: tls_orthanc_test.ts. (A tls = true AE with [tls] off is refused with the configuration.)
import assert from "node:assert/strict";
import { type AuditLine, auditLines, waitForLine } from "../helpers/audit_lines.ts";
import { hasOpenssl, makeCertificates } from "../helpers/certificates.ts";
import { hasTool, type MiniPacs, startMiniPacs, storescuTo } from "../helpers/server.ts";
import { newStudyUid, writeSmallImage } from "../helpers/small_image.ts";
import { startTlsStorescp, tlsToml } from "../helpers/tls_storescp.ts";

const ready = hasOpenssl() && ["storescu", "storescp", "echoscu"].every(hasTool);
const HTTP = { enabled: true, bind: "127.0.0.1", port: 0 };
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function api(server: MiniPacs, path: string, init?: RequestInit) {
  const r = await fetch(`http://127.0.0.1:${server.httpPort}${path}`, init);
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text);
}

/** A route of everything to DEST, a [[known_ae]] over TLS at `port`. */
function destinationToml(port: number): string {
  return [
    "[forward]",
    "retry_max_s = 1",
    "[[known_ae]]",
    'ae_title = "DEST"',
    'host = "127.0.0.1"',
    `port = ${port}`,
    "tls = true",
    "[[route]]",
    'destination = "DEST"',
  ].join("\n");
}

Deno.test({
  name: "TLS out: forwarding and the Peers page's C-ECHO reach a tls = true AE over TLS with " +
    "our certificate; the audit trail records what was forwarded, to whom, over TLS",
  ignore: !ready,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-tls-out-" });
    const c = await makeCertificates(`${dir}/certs`);
    const probe = await c.issue("probe.example");
    const dest = await c.issue("dest.example", { san: "DNS:localhost,IP:127.0.0.1" });
    // storescp +tls requires a client certificate from the test CA: ours is the server's.
    const scp = await startTlsStorescp(c, dest, probe);
    let pacs: MiniPacs | undefined;
    try {
      pacs = await startMiniPacs({
        http: HTTP,
        extraToml: [
          tlsToml(c),
          destinationToml(scp.port),
          "[audit]",
          `path = ${JSON.stringify(`${dir}/audit.log`)}`,
        ].join("\n"),
      });
      const study = newStudyUid();
      const images = [
        await writeSmallImage(dir, "CT", study),
        await writeSmallImage(dir, "CT", study),
      ];
      await storescuTo(pacs.port, images.map((o) => o.path));
      for (let i = 0; i < 200 && (await scp.files()).length < 2; i++) await delay(50);
      assert.equal((await scp.files()).length, 2, "storescp +tls received both objects");
      const view = await api(pacs, "/api/forward");
      assert.equal(view.destinations[0].queued, 0);
      assert.equal(view.destinations[0].lastError, null);
      // One line per batch forwarded: the two objects may have gone in one or two.
      const forwarded = (l: AuditLine) =>
        l.EventID === "DICOM Instances Transferred" && l.DestinationUserID === "DEST";
      await waitForLine(`${dir}/audit.log`, forwarded);
      let lines: AuditLine[] = [];
      for (let i = 0; i < 100; i++) { // bounded: about 5 s
        lines = (await auditLines(`${dir}/audit.log`)).filter(forwarded);
        if (lines.reduce((n, l) => n + (l.NumberOfInstances as number), 0) >= 2) break;
        await delay(50);
      }
      assert.deepEqual(
        lines.flatMap((l) => l.SOPInstanceUID as string[]).sort(),
        images.map((o) => o.sop).sort(),
      );
      for (const l of lines) {
        assert.equal(l.EventTypeCode, "C-STORE");
        assert.equal(l.UserID, "MINIPACS", "sent by this server (a route)");
        assert.equal(l.EventOutcomeIndicator, 0);
        assert.equal(
          (l.TLS as { CertificateSubject: string }).CertificateSubject,
          "CN=dest.example",
        );
      }

      const echo = await api(pacs, "/api/peers/DEST/echo", { method: "POST" });
      assert.equal(echo.ok, true, echo.message);
    } finally {
      await pacs?.cleanup();
      await scp.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
