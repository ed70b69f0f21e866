// Forwarding with [[route]] commit = true: after sending, MiniPACS asks the destination for
// Storage Commitment (N-ACTION-RQ) and marks the objects committed when the report says so.
// A raw archive answering on the same association, with one object reported failed (sent and
// committed again); a raw archive that reports later on its own association, after a kill -9
// of MiniPACS (the transaction is matched); Orthanc 1.10 as the central archive, reporting on a
// new association to the MiniPACS it knows in DicomModalities.
import assert from "node:assert/strict";
import { CommandField, NO_DATASET } from "../../src/core/dimse/command.ts";
import {
  type CommitmentRef,
  type CommitmentResult,
  decodeActionInformation,
  encodeEventInformation,
  eventReportCommand,
  STORAGE_COMMITMENT_INSTANCE,
  STORAGE_COMMITMENT_PUSH_MODEL,
} from "../../src/core/services/commitment.ts";
import type { DimseService } from "../../src/core/dimse/service_contract.ts";
import { AcceptorAssociation } from "../../src/core/ul/acceptor.ts";
import { RequestorAssociation } from "../../src/core/ul/requestor.ts";
import type { SupportedSyntax } from "../../src/core/ul/negotiation.ts";
import { listenTcp, tcpConnector } from "../../src/net/tcp.ts";
import { freePort } from "../helpers/peers.ts";
import { hasOrthanc, type Orthanc, startOrthanc } from "../helpers/orthanc.ts";
import { quietLogger } from "../helpers/scu.ts";
import { hasTool, type MiniPacs, startMiniPacs, storescuTo } from "../helpers/server.ts";
import {
  CT_IMAGE,
  MR_IMAGE,
  newStudyUid,
  type SmallImage,
  writeSmallImage,
} from "../helpers/small_image.ts";

const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const IMPL_UID = "1.2.826.0.1.3680043.9.7433.1.1";
const dcmtk = hasTool("storescu");
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HTTP = { enabled: true, bind: "127.0.0.1", port: 0 };

interface DestinationView {
  destination: string;
  queued: number;
  awaitingCommitment: number;
  committed: number;
  commitFailures: number;
}

async function destinationView(server: MiniPacs, name: string): Promise<DestinationView> {
  const r = await fetch(`http://127.0.0.1:${server.httpPort}/api/forward`);
  const view = await r.json() as { destinations: DestinationView[] };
  const d = view.destinations.find((x) => x.destination === name);
  assert.ok(d, `${name} is on /api/forward`);
  return d;
}

/** Waits (bounded) until /api/forward shows what `done` looks for. */
async function waitForView(
  server: MiniPacs,
  name: string,
  done: (d: DestinationView) => boolean,
  timeoutMs = 60_000,
): Promise<DestinationView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const d = await destinationView(server, name);
    if (done(d)) return d;
    if (Date.now() > until) throw new Error(`not reached: ${JSON.stringify(d)}\n${server.logs()}`);
    await delay(100);
  }
}

function config(aeTitle: string, port: number): string {
  return [
    "[forward]",
    "retry_max_s = 1",
    "[[known_ae]]",
    `ae_title = "${aeTitle}"`,
    'host = "127.0.0.1"',
    `port = ${port}`,
    "[[route]]",
    `destination = "${aeTitle}"`,
    "commit = true",
  ].join("\n");
}

/** A central archive of our own: takes any C-STORE, answers N-ACTION-RQs as told. */
interface RawArchive {
  /** SOP Instance UIDs received, one entry per copy. */
  stored: string[];
  actions: { transactionUid: string; refs: CommitmentRef[] }[];
  /** Status of each N-EVENT-REPORT-RSP received on the association of the request. */
  reportStatuses: number[];
  close(): void;
}

/**
 * `report`: "here" answers each N-ACTION-RSP with the report on the same association, the
 * objects in `failOnce` failed (0x0110) the first time; "later" reports nothing there.
 */
function startRawArchive(
  port: number,
  report: "here" | "later",
  failOnce = new Set<string>(),
): RawArchive {
  const archive: RawArchive = { stored: [], actions: [], reportStatuses: [], close: () => {} };
  const store: DimseService = {
    name: "store",
    commandFields: [CommandField.CStoreRq],
    syntaxes: () => [],
    async handle(req, ctx) {
      await req.dataset?.collect(1 << 24);
      archive.stored.push(req.command.affectedSopInstanceUid ?? "");
      await ctx.send({
        commandField: CommandField.CStoreRsp,
        commandDataSetType: NO_DATASET,
        messageIdBeingRespondedTo: req.command.messageId ?? 0,
        affectedSopClassUid: req.command.affectedSopClassUid,
        affectedSopInstanceUid: req.command.affectedSopInstanceUid,
        status: 0,
      });
    },
  };
  const commitment: DimseService = {
    name: "commitment",
    commandFields: [CommandField.NActionRq],
    syntaxes: () => [],
    async handle(req, ctx) {
      const bytes = await req.dataset!.collect(1 << 20);
      const action = decodeActionInformation(bytes, req.context.transferSyntax);
      archive.actions.push(action);
      await ctx.send({
        commandField: CommandField.NActionRsp,
        commandDataSetType: NO_DATASET,
        messageIdBeingRespondedTo: req.command.messageId ?? 0,
        affectedSopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
        affectedSopInstanceUid: STORAGE_COMMITMENT_INSTANCE,
        actionTypeId: 1,
        status: 0,
      });
      if (report === "later") return;
      const failed = action.refs.filter((r) => failOnce.delete(r.sopInstanceUid));
      const result: CommitmentResult = {
        transactionUid: action.transactionUid,
        committed: action.refs.filter((r) => !failed.includes(r)),
        failed: failed.map((r) => ({ ...r, reason: 0x0110 })),
      };
      const dataset = encodeEventInformation(result, req.context.transferSyntax);
      void ctx.request(req.context.id, eventReportCommand(result), dataset).then(
        (rsp) => archive.reportStatuses.push(rsp.command.status ?? -1),
        () => archive.reportStatuses.push(-1),
      );
    },
  };
  const anySyntax = (uid: string): SupportedSyntax => ({
    abstractSyntax: uid,
    acceptsTransferSyntax: () => true,
  });
  const listener = listenTcp("127.0.0.1", port, (conn) => {
    const assoc = new AcceptorAssociation({
      id: "archive",
      connection: conn,
      logger: quietLogger,
      artimTimeoutMs: 5000,
      idleTimeoutMs: 30_000,
      maxPduLength: 16384,
      services: [store, commitment],
      policy: () => ({
        aeTitle: "CENTRAL",
        checkCalledAe: true,
        maxPduLength: 16384,
        implementationClassUid: IMPL_UID,
        implementationVersionName: "ARCHIVE",
        syntaxes: new Map([
          [CT_IMAGE, anySyntax(CT_IMAGE)],
          [MR_IMAGE, anySyntax(MR_IMAGE)],
          [STORAGE_COMMITMENT_PUSH_MODEL, anySyntax(STORAGE_COMMITMENT_PUSH_MODEL)],
        ]),
      }),
    });
    assoc.run().catch(() => conn.close());
  });
  archive.close = () => listener.close();
  return archive;
}

const copies = (archive: RawArchive, o: SmallImage) =>
  archive.stored.filter((s) => s === o.sop).length;

Deno.test({
  name: "forward commit: a destination reporting on the same association; the object it did " +
    "not commit is sent and committed again; /api/forward, metrics and the study page show it",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-fwdcommit-" });
    const archivePort = freePort();
    let server: MiniPacs | undefined;
    let archive: RawArchive | undefined;
    try {
      const study = newStudyUid();
      const objects: SmallImage[] = [];
      for (let i = 0; i < 3; i++) objects.push(await writeSmallImage(dir, "CT", study));
      archive = startRawArchive(archivePort, "here", new Set([objects[1].sop]));
      server = await startMiniPacs({ http: HTTP, extraToml: config("CENTRAL", archivePort) });
      await storescuTo(server.port, objects.map((o) => o.path));
      const d = await waitForView(server, "CENTRAL", (d) => d.committed === 3);
      assert.equal(d.awaitingCommitment, 0);
      assert.equal(d.queued, 0);
      assert.equal(d.commitFailures, 1);
      assert.deepEqual(objects.map((o) => copies(archive!, o)), [1, 2, 1], "the failed one again");
      assert.ok(archive.actions.length >= 2, "a second N-ACTION for the object sent again");
      assert.deepEqual(
        archive.actions.at(-1)!.refs.map((r) => r.sopInstanceUid),
        [objects[1].sop],
      );
      for (let i = 0; i < 50 && archive.reportStatuses.length < archive.actions.length; i++) {
        await delay(50);
      }
      assert.deepEqual(archive.reportStatuses, archive.actions.map(() => 0), "reports answered");
      assert.match(server.logs(), /storage commitment at CENTRAL failed for some objects/);
      assert.match(server.logs(), /storage committed at CENTRAL/);
      const base = `http://127.0.0.1:${server.httpPort}`;
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /minipacs_forward_committed\{destination="CENTRAL"\} 3/);
      assert.match(metrics, /minipacs_forward_awaiting_commitment\{destination="CENTRAL"\} 0/);
      const page = await (await fetch(`${base}/studies/${study}`)).text();
      assert.match(page, /committed at CENTRAL<\/span> 3 object\(s\)/);
    } finally {
      archive?.close();
      await server?.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "forward commit: a report that comes on the destination's own association after a " +
    "kill -9 of MiniPACS is matched; nothing is sent again",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-fwdcommit-" });
    const archivePort = freePort();
    let server: MiniPacs | undefined;
    let archive: RawArchive | undefined;
    try {
      const study = newStudyUid();
      const objects = [
        await writeSmallImage(dir, "CT", study),
        await writeSmallImage(dir, "CT", study),
      ];
      archive = startRawArchive(archivePort, "later");
      const extraToml = config("CENTRAL", archivePort);
      server = await startMiniPacs({ http: HTTP, extraToml });
      await storescuTo(server.port, objects.map((o) => o.path));
      await waitForView(server, "CENTRAL", (d) => d.awaitingCommitment === 2);
      await server.stop("SIGKILL");
      server = await startMiniPacs({ http: HTTP, extraToml, storagePath: server.storage });
      const waiting = await destinationView(server, "CENTRAL");
      assert.deepEqual([waiting.queued, waiting.awaitingCommitment], [0, 2], "still awaited");

      // The archive reports on an association it opens, in the SCP role (PS3.4 J.3.3.3).
      const connection = await tcpConnector.connect("127.0.0.1", server.port, 5000);
      const assoc = await new RequestorAssociation({
        id: "archive-report",
        connection,
        logger: quietLogger,
        artimTimeoutMs: 5000,
        idleTimeoutMs: 0,
        maxPduLength: 16384,
        callingAeTitle: "CENTRAL",
        calledAeTitle: "MINIPACS",
        implementationClassUid: IMPL_UID,
        implementationVersionName: "ARCHIVE",
        presentationContexts: [{
          id: 1,
          abstractSyntax: STORAGE_COMMITMENT_PUSH_MODEL,
          transferSyntaxes: [EXPLICIT_LE],
        }],
        roleSelections: [{
          sopClassUid: STORAGE_COMMITMENT_PUSH_MODEL,
          scuRole: false,
          scpRole: true,
        }],
      }).open();
      try {
        assert.equal(assoc.contextFor(STORAGE_COMMITMENT_PUSH_MODEL)?.requestorIsScp, true);
        const statuses = [];
        for (const action of archive.actions) {
          const result = {
            transactionUid: action.transactionUid,
            committed: action.refs,
            failed: [],
          };
          const rsp = await assoc.request(
            1,
            eventReportCommand(result),
            encodeEventInformation(result, EXPLICIT_LE),
          );
          statuses.push(rsp.command.status);
        }
        assert.deepEqual(statuses, archive.actions.map(() => 0));
        const unknown = { transactionUid: "2.25.999", committed: [], failed: [] };
        const rsp = await assoc.request(
          1,
          eventReportCommand(unknown),
          encodeEventInformation(unknown, EXPLICIT_LE),
        );
        assert.equal(rsp.command.status, 0x0110, "a transaction none of ours");
      } finally {
        await assoc.release();
      }
      const d = await waitForView(server, "CENTRAL", (d) => d.committed === 2, 10_000);
      assert.deepEqual([d.queued, d.awaitingCommitment], [0, 0]);
      assert.deepEqual(objects.map((o) => copies(archive!, o)), [1, 1], "nothing sent again");
    } finally {
      archive?.close();
      await server?.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "forward commit: Orthanc 1.10 as the central archive reports on a new association; " +
    "the objects are committed at ORTHANC",
  ignore: !dcmtk || !hasOrthanc(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-fwdcommit-" });
    const orthancPort = freePort();
    let server: MiniPacs | undefined;
    let orthanc: Orthanc | undefined;
    try {
      server = await startMiniPacs({ http: HTTP, extraToml: config("ORTHANC", orthancPort) });
      // Orthanc knows MiniPACS as a modality (DicomModalities): it sends the report there.
      orthanc = await startOrthanc(server.port, orthancPort);
      const study = newStudyUid();
      const objects: SmallImage[] = [];
      for (let i = 0; i < 3; i++) objects.push(await writeSmallImage(dir, "CT", study));
      await storescuTo(server.port, objects.map((o) => o.path));
      const d = await waitForView(server, "ORTHANC", (d) => d.committed === 3);
      assert.deepEqual([d.queued, d.awaitingCommitment, d.commitFailures], [0, 0, 0]);
      const instances = await (await orthanc.api("/instances")).json() as string[];
      assert.equal(instances.length, 3);
      assert.match(server.logs(), /storage committed at ORTHANC/);
    } finally {
      await orthanc?.stop();
      await server?.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
