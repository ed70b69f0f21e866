// Every association MiniPACS opens to a [[known_ae]] with tls = true goes over TLS with our
// certificate, as C-MOVE's do (tls_services_test.ts): forwarding to a storescp +tls that
// requires a client certificate, the Peers page's C-ECHO, and a storage commitment report on a
// new association to a modality that listens over TLS only. (A tls = true AE with [tls] off is
// refused with the configuration.)
import assert from "node:assert/strict";
import { CommandField, NO_DATASET } from "../../src/core/dimse/command.ts";
import {
  type CommitmentResult,
  decodeEventInformation,
  STORAGE_COMMITMENT_INSTANCE,
  STORAGE_COMMITMENT_PUSH_MODEL,
} from "../../src/core/services/commitment.ts";
import type { DimseService } from "../../src/core/dimse/service_contract.ts";
import { encodeDataset, encodingOf } from "../../src/core/dicom/dataset.ts";
import type { TransportSecurity } from "../../src/core/ports.ts";
import { AcceptorAssociation } from "../../src/core/ul/acceptor.ts";
import { RequestorAssociation } from "../../src/core/ul/requestor.ts";
import { tcpConnector } from "../../src/net/tcp.ts";
import { listenTls, loadTlsMaterial, type TlsListener } from "../../src/net/tls.ts";
import { hasOpenssl, makeCertificates } from "../helpers/certificates.ts";
import { quietLogger } from "../helpers/scu.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";
import { newStudyUid, writeSmallImage } from "../helpers/small_image.ts";
import { startTlsStorescp, tlsToml } from "../helpers/tls_storescp.ts";

const ready = hasOpenssl() && ["storescu", "storescp", "echoscu"].every(hasTool);
const HTTP = { enabled: true, bind: "127.0.0.1", port: 0 };
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function api(server: MiniPacs, path: string, init?: RequestInit) {
  const r = await fetch(`http://127.0.0.1:${server.httpPort}${path}`, init);
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text);
}

async function storescu(port: number, files: string[]): Promise<void> {
  const r = await run("storescu", [
    "-aet",
    "CT1",
    "-aec",
    "MINIPACS",
    "127.0.0.1",
    String(port),
    ...files,
  ]);
  assert.equal(r.code, 0, r.stderr);
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
    "our certificate",
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
        extraToml: [tlsToml(c), destinationToml(scp.port)].join("\n"),
      });
      const study = newStudyUid();
      const images = [
        await writeSmallImage(dir, "CT", study),
        await writeSmallImage(dir, "CT", study),
      ];
      await storescu(pacs.port, images.map((o) => o.path));
      for (let i = 0; i < 200 && (await scp.files()).length < 2; i++) await delay(50);
      assert.equal((await scp.files()).length, 2, "storescp +tls received both objects");
      const view = await api(pacs, "/api/forward");
      assert.equal(view.destinations[0].queued, 0);
      assert.equal(view.destinations[0].lastError, null);

      const echo = await api(pacs, "/api/peers/DEST/echo", { method: "POST" });
      assert.equal(echo.ok, true, echo.message);
    } finally {
      await pacs?.cleanup();
      await scp.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

/** Answers N-EVENT-REPORT-RQs 0000 and keeps what they said. */
function reportReceiver(): DimseService & { reports: CommitmentResult[] } {
  const reports: CommitmentResult[] = [];
  return {
    name: "report",
    commandFields: [CommandField.NEventReportRq],
    syntaxes: () => [],
    reports,
    async handle(req, ctx) {
      const bytes = req.dataset ? await req.dataset.collect(1 << 20) : new Uint8Array(0);
      reports.push(decodeEventInformation(bytes, req.context.transferSyntax));
      await ctx.send({
        commandField: CommandField.NEventReportRsp,
        commandDataSetType: NO_DATASET,
        messageIdBeingRespondedTo: req.command.messageId ?? 0,
        affectedSopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
        affectedSopInstanceUid: STORAGE_COMMITMENT_INSTANCE,
        eventTypeId: req.command.eventTypeId,
        status: 0,
      });
    },
  };
}

Deno.test({
  name: "TLS out: a storage commitment report on a new association goes over TLS with our " +
    "certificate to a modality that listens over TLS only",
  ignore: !ready,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-tls-out-" });
    const c = await makeCertificates(`${dir}/certs`);
    const modality = await c.issue("modality.example", { san: "DNS:localhost,IP:127.0.0.1" });
    const material = await loadTlsMaterial(
      { certificate: modality.cert, privateKey: modality.key, caCertificates: c.ca },
      { certificate: "certificate", privateKey: "private_key", caCertificates: "ca" },
    );
    const receiver = reportReceiver();
    /** What each connection to the modality's SCP came with. */
    const connections: (TransportSecurity | undefined)[] = [];
    // The modality's own SCP: TLS only, a client certificate from the test CA required.
    const scp: TlsListener = await listenTls({
      hostname: "127.0.0.1",
      port: 0,
      material,
      requireClientCertificate: true,
      handshakeTimeoutMs: 5000,
      logger: quietLogger,
    }, (conn) => {
      connections.push(conn.security);
      const assoc = new AcceptorAssociation({
        id: "modality-scp",
        connection: conn,
        logger: quietLogger,
        artimTimeoutMs: 5000,
        idleTimeoutMs: 10_000,
        maxPduLength: 16384,
        services: [receiver],
        policy: () => ({
          aeTitle: "MODALITY",
          checkCalledAe: true,
          maxPduLength: 16384,
          implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.1",
          implementationVersionName: "MODALITY",
          syntaxes: new Map([[STORAGE_COMMITMENT_PUSH_MODEL, {
            abstractSyntax: STORAGE_COMMITMENT_PUSH_MODEL,
            acceptsTransferSyntax: (ts: string) => ts === EXPLICIT_LE,
            acceptsScpRole: true,
          }]]),
        }),
      });
      assoc.run().catch(() => conn.close());
    });
    let pacs: MiniPacs | undefined;
    try {
      pacs = await startMiniPacs({
        extraToml: [
          tlsToml(c),
          "[[known_ae]]",
          'ae_title = "MODALITY"',
          'host = "127.0.0.1"',
          `port = ${scp.port}`,
          "tls = true",
        ].join("\n"),
      });
      const image = await writeSmallImage(dir, "CT", newStudyUid());
      await storescu(pacs.port, [image.path]);
      // The request comes in clear on the plain port and is released at once (as Orthanc
      // does): the report must go on a new association, to the modality's TLS port.
      const assoc = new RequestorAssociation({
        id: "modality",
        connection: await tcpConnector.connect("127.0.0.1", pacs.port, 5000),
        logger: quietLogger,
        artimTimeoutMs: 5000,
        idleTimeoutMs: 0,
        maxPduLength: 16384,
        callingAeTitle: "MODALITY",
        calledAeTitle: "MINIPACS",
        implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.1",
        implementationVersionName: "MODALITY",
        presentationContexts: [{
          id: 1,
          abstractSyntax: STORAGE_COMMITMENT_PUSH_MODEL,
          transferSyntaxes: [EXPLICIT_LE],
        }],
      });
      await assoc.open();
      const ui = (tag: number, s: string) => ({
        tag,
        vr: "UI",
        value: new TextEncoder().encode(s),
      });
      const rsp = await assoc.request(
        1,
        {
          commandField: CommandField.NActionRq,
          commandDataSetType: 0x0000,
          requestedSopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
          requestedSopInstanceUid: STORAGE_COMMITMENT_INSTANCE,
          actionTypeId: 1,
        },
        encodeDataset([ui(0x00081195, "2.25.3001"), {
          tag: 0x00081199,
          vr: "SQ",
          value: new Uint8Array(0),
          items: [[ui(0x00081150, image.sopClassUid), ui(0x00081155, image.sop)]],
        }], encodingOf(EXPLICIT_LE)),
      );
      assert.equal(rsp.command.status, 0);
      await assoc.release();
      for (let i = 0; i < 200 && receiver.reports.length === 0; i++) await delay(50);
      assert.equal(receiver.reports.length, 1, "the report reached the modality's TLS SCP");
      const [report] = receiver.reports;
      assert.equal(report.transactionUid, "2.25.3001");
      assert.deepEqual(report.committed.map((x) => x.sopInstanceUid), [image.sop]);
      assert.equal(connections.length, 1);
      assert.match(connections[0]?.protocol ?? "", /^TLSv1\.[23]$/);
      assert.match(connections[0]?.peer?.subject ?? "", /CN=localhost/, "our certificate");
      await pacs.waitForLog(/storage commitment reported on a new association/);
    } finally {
      await pacs?.cleanup();
      scp.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
