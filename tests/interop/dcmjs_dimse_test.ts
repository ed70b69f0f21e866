// The npm package dcmjs-dimse as a peer, client and SCP: echo, store, find, move to its SCP,
// get. Its SCP is written like the package's README example, which looks at the first
// transfer syntax of each context only and takes Implicit or Explicit VR LE: an object stored
// in Big Endian reaches it re-encoded on the fallback context, one stored Implicit as stored.
import assert from "node:assert/strict";
import dimse from "dcmjs-dimse";
import { freePort } from "../helpers/peers.ts";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid, TS } from "../helpers/corpus.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";

const { Client, Server, Scp } = dimse;
const { CEchoRequest, CFindRequest, CGetRequest, CMoveRequest, CStoreRequest } = dimse.requests;
const { CStoreResponse } = dimse.responses;
const { PresentationContextResult, Status, StorageClass, TransferSyntax } = dimse.constants;

const ready = ["dump2dcm", "dcmconv"].every(hasTool);

type Request = InstanceType<typeof CEchoRequest>;
type ScpInstance = InstanceType<typeof Scp>;
type Dataset = NonNullable<ReturnType<Request["getDataset"]>>;

interface Received {
  sopInstanceUid: string;
  ts: string;
}

/** What the SCP received, shared by every association it serves. */
const scpReceived: Received[] = [];

/** Like the dcmjs-dimse README's SCP: the first proposed syntax, if Implicit or Explicit VR LE. */
class ReadmeScp extends Scp {
  association: unknown;
  override associationRequested(association: Parameters<ScpInstance["associationRequested"]>[0]) {
    this.association = association;
    const storage = new Set<string>(Object.values(StorageClass));
    for (const c of association.getPresentationContexts()) {
      const context = association.getPresentationContext(c.id);
      if (!storage.has(context.getAbstractSyntaxUid())) {
        context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
        continue;
      }
      // As in the README: setResult() inside the loop ends it after the first syntax.
      for (const ts of context.getTransferSyntaxUids()) {
        if (
          ts === TransferSyntax.ImplicitVRLittleEndian ||
          ts === TransferSyntax.ExplicitVRLittleEndian
        ) {
          context.setResult(PresentationContextResult.Accept, ts);
        } else {
          context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
        }
      }
    }
    this.sendAssociationAccept();
  }
  override cStoreRequest(
    request: Parameters<ScpInstance["cStoreRequest"]>[0],
    callback: Parameters<ScpInstance["cStoreRequest"]>[1],
  ) {
    const dataset = request.getDataset() as Dataset;
    scpReceived.push({
      sopInstanceUid: String(dataset.getElement("SOPInstanceUID")),
      ts: dataset.getTransferSyntaxUid(),
    });
    const response = CStoreResponse.fromRequest(request);
    response.setStatus(Status.Success);
    callback(response);
  }
  override associationReleaseRequested() {
    this.sendAssociationReleaseResponse();
  }
}

interface Outcome {
  responses: Map<Request, { status: number; dataset?: Dataset; completed?: number }[]>;
  stored: Received[];
}

/** Sends requests on one association and waits for it to close (bounded). */
function send(port: number, requests: Request[]): Promise<Outcome> {
  const client = new Client();
  const outcome: Outcome = { responses: new Map(), stored: [] };
  for (const r of requests) {
    outcome.responses.set(r, []);
    r.on("response", (response: Request) => {
      const rsp = response as unknown as {
        getStatus(): number;
        getDataset(): Dataset | undefined;
        getCompleted?(): number;
      };
      outcome.responses.get(r)!.push({
        status: rsp.getStatus(),
        dataset: rsp.getDataset(),
        completed: rsp.getCompleted?.(),
      });
    });
    client.addRequest(r);
  }
  client.on("cStoreRequest", (request: Request, callback: (r: unknown) => void) => {
    const dataset = request.getDataset() as Dataset;
    outcome.stored.push({
      sopInstanceUid: String(dataset.getElement("SOPInstanceUID")),
      ts: dataset.getTransferSyntaxUid(),
    });
    const response = CStoreResponse.fromRequest(request as never);
    response.setStatus(Status.Success);
    callback(response);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("dcmjs-dimse: no end within 30 s")), 30_000);
    client.on("associationRejected", () => (clearTimeout(timer), reject(new Error("rejected"))));
    client.on("networkError", (e: Error) => (clearTimeout(timer), reject(e)));
    client.on("closed", () => (clearTimeout(timer), resolve(outcome)));
    client.send("127.0.0.1", port, "DIMSESCU", "MINIPACS");
  });
}

const finalOf = (o: Outcome, r: Request) => o.responses.get(r)!.at(-1)!;

Deno.test({
  name: "dcmjs-dimse as client and SCP: echo, store, find, move to its SCP, get",
  ignore: !ready,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-dimse-" });
    const scpPort = freePort();
    const server = new Server(ReadmeScp);
    server.listen(scpPort);
    let pacs: MiniPacs | undefined;
    try {
      pacs = await startMiniPacs({
        extraToml: `[[known_ae]]\nae_title = "DIMSESCP"\nhost = "127.0.0.1"\nport = ${scpPort}\n`,
      });
      const port = pacs.port;
      const study = newUid();
      const patientId = `DIMSE${study.slice(-5)}`;
      const objects: CorpusObject[] = [];
      for (const [tool, ts] of [["+ti", TS.implicitLE], ["+tb", TS.explicitBE]] as const) {
        const o = await makeObject({
          spec: CORPUS_CLASSES[0],
          dir,
          studyInstanceUid: study,
          patientId,
        });
        const path = o.path.replace(/\.dcm$/, `.${ts}.dcm`);
        assert.equal((await run("dcmconv", [tool, o.path, path])).code, 0);
        objects.push({ ...o, path, transferSyntaxUid: ts });
      }
      const [implicit, bigEndian] = objects;

      await t.step("C-ECHO", async () => {
        const echo = new CEchoRequest();
        const o = await send(port, [echo]);
        assert.equal(finalOf(o, echo).status, Status.Success);
      });

      await t.step("C-STORE of an Implicit VR LE and a Big Endian object", async () => {
        const stores = objects.map((x) => new CStoreRequest(x.path));
        const o = await send(port, stores);
        for (const s of stores) assert.equal(finalOf(o, s).status, Status.Success);
        await pacs!.waitForLog(/stored .*peer=DIMSESCU@.* sop_class="CT Image Storage"/);
      });

      await t.step("C-FIND at STUDY level finds the study", async () => {
        const find = CFindRequest.createStudyFindRequest({
          PatientID: patientId,
          StudyInstanceUID: "",
          NumberOfStudyRelatedInstances: "",
        });
        const o = await send(port, [find]);
        const rsps = o.responses.get(find)!;
        assert.equal(rsps.at(-1)!.status, Status.Success);
        const matches = rsps.filter((r) => r.status === Status.Pending);
        assert.equal(matches.length, 1);
        assert.equal(matches[0].dataset?.getElement("StudyInstanceUID"), study);
      });

      await t.step(
        "C-MOVE to its SCP: Implicit as stored, Big Endian on the fallback",
        async () => {
          scpReceived.length = 0;
          const move = CMoveRequest.createStudyMoveRequest("DIMSESCP", study);
          const o = await send(port, [move]);
          assert.equal(finalOf(o, move).status, Status.Success, pacs!.logs().slice(-2000));
          const got = new Map(scpReceived.map((r) => [r.sopInstanceUid, r.ts]));
          assert.equal(got.size, 2);
          assert.equal(got.get(implicit.sopInstanceUid), TS.implicitLE);
          assert.equal(got.get(bigEndian.sopInstanceUid), TS.explicitLE);
        },
      );

      await t.step("C-GET: both objects on the caller's association", async () => {
        const get = CGetRequest.createStudyGetRequest(study);
        const o = await send(port, [get]);
        assert.equal(finalOf(o, get).status, Status.Success, pacs!.logs().slice(-2000));
        const got = new Map(o.stored.map((r) => [r.sopInstanceUid, r.ts]));
        // dcmjs-dimse proposes Implicit VR LE first for every storage class: that one wins.
        assert.equal(got.get(implicit.sopInstanceUid), TS.implicitLE);
        assert.equal(got.get(bigEndian.sopInstanceUid), TS.implicitLE);
      });
    } finally {
      server.close();
      await pacs?.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
