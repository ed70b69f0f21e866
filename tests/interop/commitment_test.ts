// Storage Commitment Push Model, MiniPACS as SCP. A raw requester that keeps its association
// open gets the N-EVENT-REPORT on it; one that releases at once and is down when the report
// is due gets it on a new association once it is back, even across a kill -9 of MiniPACS;
// Orthanc 1.10 as the modality gets "all committed" for stored objects and the unknown one
// reported failed (0x0112).
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
import { AcceptorAssociation } from "../../src/core/ul/acceptor.ts";
import { RequestorAssociation } from "../../src/core/ul/requestor.ts";
import { listenTcp, tcpConnector, type TcpListener } from "../../src/net/tcp.ts";
import { freePort } from "../helpers/peers.ts";
import { askCommitment, hasOrthanc, type Orthanc, startOrthanc } from "../helpers/orthanc.ts";
import { quietLogger } from "../helpers/scu.ts";
import { hasTool, type MiniPacs, startMiniPacs, storescuTo } from "../helpers/server.ts";
import {
  newSopUid,
  newStudyUid,
  type SmallImage,
  writeSmallImage,
} from "../helpers/small_image.ts";

const dcmtk = hasTool("storescu");
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

const EXPLICIT_LE = "1.2.840.10008.1.2.1";
/** Action Information: Transaction UID and a Referenced SOP Sequence (PS3.4 J.3.2.1.1). */
function actionInformation(transactionUid: string, refs: { cls: string; sop: string }[]) {
  const ui = (tag: number, s: string) => ({ tag, vr: "UI", value: new TextEncoder().encode(s) });
  return encodeDataset([
    ui(0x00081195, transactionUid),
    {
      tag: 0x00081199,
      vr: "SQ",
      value: new Uint8Array(0),
      items: refs.map((r) => [ui(0x00081150, r.cls), ui(0x00081155, r.sop)]),
    },
  ], encodingOf(EXPLICIT_LE));
}

/** Answers N-EVENT-REPORT-RQs 0000 and keeps what they said. */
function reportReceiver(): DimseService & {
  reports: { eventType: number; result: CommitmentResult }[];
} {
  const reports: { eventType: number; result: CommitmentResult }[] = [];
  return {
    name: "report",
    commandFields: [CommandField.NEventReportRq],
    syntaxes: () => [],
    reports,
    async handle(req, ctx) {
      const bytes = req.dataset ? await req.dataset.collect(1 << 20) : new Uint8Array(0);
      reports.push({
        eventType: req.command.eventTypeId ?? 0,
        result: decodeEventInformation(bytes, req.context.transferSyntax),
      });
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

async function openRequester(port: number, receiver: DimseService) {
  const connection = await tcpConnector.connect("127.0.0.1", port, 5000);
  const assoc = new RequestorAssociation({
    id: "modality",
    connection,
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
    services: [receiver],
  });
  return await assoc.open();
}

function nAction(
  assoc: RequestorAssociation,
  transactionUid: string,
  refs: { cls: string; sop: string }[],
) {
  return assoc.request(1, {
    commandField: CommandField.NActionRq,
    commandDataSetType: 0x0000,
    requestedSopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
    requestedSopInstanceUid: STORAGE_COMMITMENT_INSTANCE,
    actionTypeId: 1,
  }, actionInformation(transactionUid, refs));
}

/** The modality's own SCP, where reports on a new association arrive. */
function startModalityScp(port: number, receiver: DimseService): TcpListener {
  return listenTcp("127.0.0.1", port, (conn) => {
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
}

const refOf = (o: SmallImage) => ({ cls: o.sopClassUid, sop: o.sop });

Deno.test({
  name: "commitment: a requester keeping its association open gets the N-EVENT-REPORT on it",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-commit-" });
    let server: MiniPacs | undefined;
    try {
      server = await startMiniPacs();
      const study = newStudyUid();
      const stored = [
        await writeSmallImage(dir, "CT", study),
        await writeSmallImage(dir, "CT", study),
      ];
      await storescuTo(server.port, stored.map((o) => o.path), "MODALITY");
      const receiver = reportReceiver();
      const assoc = await openRequester(server.port, receiver);
      try {
        // All stored: Event Type 1.
        const rsp1 = await nAction(assoc, "2.25.1001", stored.map(refOf));
        assert.equal(rsp1.command.status, 0);
        assert.equal(rsp1.command.commandField, CommandField.NActionRsp);
        // One never stored, one stored under another class: Event Type 2.
        const unknown = { cls: stored[0].sopClassUid, sop: newSopUid() };
        const wrongClass = { cls: "1.2.840.10008.5.1.4.1.1.4", sop: stored[1].sop };
        const rsp2 = await nAction(assoc, "2.25.1002", [refOf(stored[0]), unknown, wrongClass]);
        assert.equal(rsp2.command.status, 0);
        for (let i = 0; i < 100 && receiver.reports.length < 2; i++) await delay(50);
        assert.equal(receiver.reports.length, 2, "both reports on this association");
        const [r1, r2] = [...receiver.reports].sort((a, b) =>
          a.result.transactionUid.localeCompare(b.result.transactionUid)
        );
        assert.equal(r1.eventType, 1);
        assert.equal(r1.result.transactionUid, "2.25.1001");
        assert.deepEqual(
          r1.result.committed.map((c) => c.sopInstanceUid).sort(),
          stored.map((o) => o.sop).sort(),
        );
        assert.deepEqual(r1.result.failed, []);
        assert.equal(r2.eventType, 2);
        assert.deepEqual(r2.result.committed.map((c) => c.sopInstanceUid), [stored[0].sop]);
        assert.deepEqual(
          r2.result.failed.map((f) => [f.sopInstanceUid, f.reason]),
          [[unknown.sop, 0x0112], [stored[1].sop, 0x0119]],
        );
        // A bad request is refused with a status, not dropped.
        const bad = await assoc.request(1, {
          commandField: CommandField.NActionRq,
          commandDataSetType: 0x0000,
          requestedSopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
          requestedSopInstanceUid: STORAGE_COMMITMENT_INSTANCE,
          actionTypeId: 7,
        }, actionInformation("2.25.1003", stored.map(refOf)));
        assert.equal(bad.command.status, 0x0123);
      } finally {
        await assoc.release();
      }
      await server.waitForLog(/reported on the requester's association/);
      assert.doesNotMatch(server.logs(), /reported on a new association/);
    } finally {
      await server?.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "commitment: a requester that releases at once and is down when the report is due " +
    "gets it on a new association once back, across a kill -9 of MiniPACS",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-commit-" });
    const modalityPort = freePort();
    let server: MiniPacs | undefined;
    let scp: TcpListener | undefined;
    try {
      const extraToml = [
        "[forward]",
        "retry_max_s = 1",
        "[[known_ae]]",
        'ae_title = "MODALITY"',
        'host = "127.0.0.1"',
        `port = ${modalityPort}`,
      ].join("\n");
      const http = { enabled: true, bind: "127.0.0.1", port: 0 };
      server = await startMiniPacs({ extraToml, http });
      const stored = await writeSmallImage(dir, "MR", newStudyUid());
      await storescuTo(server.port, [stored.path], "MODALITY");
      const unknown = { cls: stored.sopClassUid, sop: newSopUid() };
      const receiver = reportReceiver();
      const assoc = await openRequester(server.port, receiver);
      const rsp = await nAction(assoc, "2.25.2001", [refOf(stored), unknown]);
      assert.equal(rsp.command.status, 0);
      await assoc.release(); // at once, as Orthanc 1.10 does
      await server.waitForLog(/commitment report to MODALITY not delivered/);
      // Killed while the report waits; it is still owed after the restart.
      await server.stop("SIGKILL");
      server = await startMiniPacs({ extraToml, http, storagePath: server.storage });
      const pending = () =>
        fetch(`http://127.0.0.1:${server!.httpPort}/metrics`).then((r) => r.text()).then((t) =>
          /minipacs_commitment_reports_pending (\d+)/.exec(t)?.[1]
        );
      assert.equal(await pending(), "1", "still owed after the restart");
      await delay(1500);
      scp = startModalityScp(modalityPort, receiver);
      for (let i = 0; i < 200 && receiver.reports.length === 0; i++) await delay(50);
      assert.equal(receiver.reports.length, 1, "one report, on the modality's own SCP");
      const report = receiver.reports[0];
      assert.equal(report.eventType, 2);
      assert.equal(report.result.transactionUid, "2.25.2001");
      assert.deepEqual(report.result.committed.map((c) => c.sopInstanceUid), [stored.sop]);
      assert.deepEqual(report.result.failed.map((f) => [f.sopInstanceUid, f.reason]), [[
        unknown.sop,
        0x0112,
      ]]);
      await server.waitForLog(/storage commitment reported on a new association/);
      assert.equal(await pending(), "0");
      // Delivered once: nothing more comes.
      await delay(2500);
      assert.equal(receiver.reports.length, 1);
    } finally {
      scp?.close();
      await server?.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "commitment: Orthanc 1.10 as the modality gets all committed for stored objects and " +
    "the unknown one failed",
  ignore: !dcmtk || !hasOrthanc(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-commit-" });
    const orthancPort = freePort();
    let server: MiniPacs | undefined;
    let orthanc: Orthanc | undefined;
    try {
      server = await startMiniPacs({
        extraToml: [
          "[[known_ae]]",
          'ae_title = "ORTHANC"',
          'host = "127.0.0.1"',
          `port = ${orthancPort}`,
        ].join("\n"),
      });
      orthanc = await startOrthanc(server.port, orthancPort);
      const study = newStudyUid();
      const stored = [];
      for (let i = 0; i < 3; i++) stored.push(await writeSmallImage(dir, "CT", study));
      await storescuTo(server.port, stored.map((o) => o.path), "MODALITY");
      const ask = (instances: { cls: string; sop: string }[]) => askCommitment(orthanc!, instances);
      const all = await ask(stored.map(refOf));
      assert.equal(all.Status, "Success", JSON.stringify(all));
      assert.deepEqual(
        (all.Success ?? []).map((s) => s.SOPInstanceUID).sort(),
        stored.map((o) => o.sop).sort(),
      );
      const unknown = { cls: stored[0].sopClassUid, sop: newSopUid() };
      const some = await ask([refOf(stored[0]), unknown]);
      assert.equal(some.Status, "Failure", JSON.stringify(some));
      assert.deepEqual((some.Failures ?? []).map((f) => [f.SOPInstanceUID, f.FailureReason]), [[
        unknown.sop,
        0x0112,
      ]]);
      // Orthanc releases right after the N-ACTION-RSP: the reports went on new associations.
      assert.match(server.logs(), /storage commitment reported on a new association/);
    } finally {
      await orthanc?.stop();
      await server?.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
