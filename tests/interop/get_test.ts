// DCMTK getscu retrieves from MiniPACS on its own association (no reverse connection): what it
// writes (bit-preserving) is compared with what was stored.
import assert from "node:assert/strict";
import { CommandField, NO_DATASET } from "../../src/core/dimse/command.ts";
import { encodeDataset, encodingOf } from "../../src/core/dicom/dataset.ts";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import type {
  DimseRequest,
  DimseResponse,
  DimseService,
  ServiceContext,
} from "../../src/core/dimse/service_contract.ts";
import { RequestorAssociation } from "../../src/core/ul/requestor.ts";
import { tcpConnector } from "../../src/net/tcp.ts";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid, TS } from "../helpers/corpus.ts";
import { hasTool, type MiniPacs, run, type RunResult, startMiniPacs } from "../helpers/server.ts";
import { elementValues } from "../helpers/dataset_values.ts";

const dcmtk = ["getscu", "storescu", "dump2dcm", "dcmcjpeg"].every(hasTool);

const MORE = [
  "(0008,1140) SQ (Sequence with undefined length)",
  "(fffe,e000) na (Item with undefined length)",
  "(0008,1155) UI [1.2.3.4.5.6]",
  "(fffe,e00d) na (ItemDelimitationItem)",
  "(fffe,e0dd) na (SequenceDelimitationItem)",
  "(0009,0010) LO [ACME 1.0]",
  "(0009,1001) LO [private value]",
].join("\n");

interface GetResult extends RunResult {
  status: number;
  completed: number;
  failed: number;
  /** What getscu wrote, by SOP Instance UID. */
  files: Map<string, { ts: string; dataset: Uint8Array }>;
}

async function getscu(port: number, args: string[]): Promise<GetResult> {
  const out = await Deno.makeTempDir({ prefix: "minipacs-getscu-" });
  try {
    const r = await run("getscu", [
      "-d",
      "+B",
      "-od",
      out,
      "-aec",
      "MINIPACS",
      ...args,
      "127.0.0.1",
      String(port),
    ]);
    const text = r.stdout + r.stderr;
    const final = text.slice(text.lastIndexOf("C-GET RSP"));
    const num = (name: string) =>
      Number(new RegExp(`${name} Suboperations\\s*:\\s*(\\d+)`).exec(final)?.[1] ?? NaN);
    const files = new Map<string, { ts: string; dataset: Uint8Array }>();
    for await (const e of Deno.readDir(out)) {
      const bytes = await Deno.readFile(`${out}/${e.name}`);
      const { meta, datasetOffset } = decodeFileMetaInformation(bytes);
      files.set(meta.sopInstanceUid, {
        ts: meta.transferSyntaxUid,
        dataset: bytes.subarray(datasetOffset),
      });
    }
    return {
      ...r,
      status: parseInt(/DIMSE Status\s*:\s*0x([0-9a-f]{4})/i.exec(final)?.[1] ?? "ffff", 16),
      completed: num("Completed"),
      failed: num("Failed"),
      files,
    };
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

const STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3";

/** Our own C-GET requestor over TCP, for what getscu 3.6.7 cannot do or show. */
async function ownGet(
  port: number,
  study: string,
  storage: { sopClassUid: string; transferSyntaxes: string[] }[],
): Promise<{ final: DimseResponse; received: Map<string, { ts: string; dataset: Uint8Array }> }> {
  const received = new Map<string, { ts: string; dataset: Uint8Array }>();
  const viewer: DimseService = {
    name: "store",
    commandFields: [CommandField.CStoreRq],
    syntaxes: () => [],
    async handle(req: DimseRequest, ctx: ServiceContext) {
      const dataset = await req.dataset!.collect(64 * 1024 * 1024);
      received.set(req.command.affectedSopInstanceUid!, {
        ts: req.context.transferSyntax,
        dataset,
      });
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
  const assoc = new RequestorAssociation({
    id: "viewer",
    connection: await tcpConnector.connect("127.0.0.1", port, 5000),
    logger: { log() {} },
    artimTimeoutMs: 5000,
    idleTimeoutMs: 0,
    maxPduLength: 16384,
    callingAeTitle: "VIEWER",
    calledAeTitle: "MINIPACS",
    implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.1",
    implementationVersionName: "TESTSCU",
    presentationContexts: [
      { id: 1, abstractSyntax: STUDY_ROOT_GET, transferSyntaxes: [TS.explicitLE] },
      ...storage.map((s, i) => ({
        id: 3 + 2 * i,
        abstractSyntax: s.sopClassUid,
        transferSyntaxes: s.transferSyntaxes,
      })),
    ],
    roleSelections: [...new Set(storage.map((s) => s.sopClassUid))].map((sopClassUid) => ({
      sopClassUid,
      scuRole: false,
      scpRole: true,
    })),
    services: [viewer],
  });
  await assoc.open();
  try {
    const identifier = encodeDataset([
      { tag: 0x00080052, vr: "CS", value: new TextEncoder().encode("STUDY ") },
      { tag: 0x0020000d, vr: "UI", value: new TextEncoder().encode(study) },
    ], encodingOf(TS.explicitLE));
    const final = await assoc.request(1, {
      commandField: CommandField.CGetRq,
      commandDataSetType: 0,
      affectedSopClassUid: STUDY_ROOT_GET,
      priority: 0,
    }, identifier);
    return { final, received };
  } finally {
    await assoc.release();
  }
}

const datasetOf = (path: string) =>
  Deno.readFile(path).then((b) => b.subarray(decodeFileMetaInformation(b).datasetOffset));

Deno.test({
  name: "getscu retrieves on its own association: levels, conversion, decoding",
  ignore: !dcmtk,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-get-" });
    let pacs: MiniPacs | undefined;
    try {
      pacs = await startMiniPacs();
      const [ct, mr] = [CORPUS_CLASSES[0], CORPUS_CLASSES[1]];
      const study = newUid();
      const [seriesA, seriesB] = [newUid(), newUid()];
      const objects: CorpusObject[] = [];
      for (const [spec, series] of [[ct, seriesA], [ct, seriesA], [mr, seriesB]] as const) {
        objects.push(
          await makeObject({
            spec,
            dir,
            studyInstanceUid: study,
            seriesInstanceUid: series,
            more: MORE,
          }),
        );
      }
      const study2 = newUid();
      const sc = CORPUS_CLASSES.find((c) => c.name === "Secondary Capture")!;
      const plain = await makeObject({ spec: sc, dir, studyInstanceUid: study2 });
      const raw = await makeObject({ spec: sc, dir, studyInstanceUid: study2 });
      const jpegPath = raw.path.replace(/\.dcm$/, ".jpeg.dcm");
      assert.equal((await run("dcmcjpeg", ["+eb", "+un", raw.path, jpegPath])).code, 0);
      const jpeg = { ...raw, path: jpegPath, transferSyntaxUid: TS.jpegBaseline };
      for (const [flag, files] of [["-xe", [...objects, plain]], ["-xy", [jpeg]]] as const) {
        const r = await run("storescu", [
          flag,
          "-aec",
          "MINIPACS",
          "127.0.0.1",
          String(pacs.port),
          ...files.map((o) => o.path),
        ]);
        assert.equal(r.code, 0, r.stderr);
      }
      const port = pacs.port;
      const same = async (got: GetResult, expected: CorpusObject[]) => {
        assert.deepEqual(
          [...got.files.keys()].sort(),
          expected.map((o) => o.sopInstanceUid).sort(),
        );
        for (const o of expected) {
          const f = got.files.get(o.sopInstanceUid)!;
          assert.equal(f.ts, o.transferSyntaxUid);
          assert.deepEqual(f.dataset, await datasetOf(o.path), `${o.className}: dataset bytes`);
        }
      };

      await t.step("STUDY level: every instance comes back byte for byte", async () => {
        const r = await getscu(port, [
          "-S",
          "-k",
          "QueryRetrieveLevel=STUDY",
          "-k",
          `StudyInstanceUID=${study}`,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.status, 0x0000, r.stdout.slice(-2000));
        assert.equal(r.completed, 3);
        await same(r, objects);
      });

      await t.step("SERIES and IMAGE levels select what they name", async () => {
        let r = await getscu(port, [
          "-S",
          "-k",
          "QueryRetrieveLevel=SERIES",
          "-k",
          `StudyInstanceUID=${study}`,
          "-k",
          `SeriesInstanceUID=${seriesB}`,
        ]);
        assert.equal(r.status, 0x0000);
        await same(r, [objects[2]]);
        r = await getscu(port, [
          "-S",
          "-k",
          "QueryRetrieveLevel=IMAGE",
          "-k",
          `StudyInstanceUID=${study}`,
          "-k",
          `SeriesInstanceUID=${seriesA}`,
          "-k",
          `SOPInstanceUID=${objects[1].sopInstanceUid}`,
        ]);
        assert.equal(r.status, 0x0000);
        await same(r, [objects[1]]);
      });

      await t.step(
        "a caller taking Implicit VR LE only gets converted objects, same values",
        async () => {
          // getscu 3.6.7 proposes Explicit VR LE for storage whatever +xi says: our own requestor.
          const { final, received } = await ownGet(port, study, [
            { sopClassUid: ct.uid, transferSyntaxes: [TS.implicitLE] },
            { sopClassUid: mr.uid, transferSyntaxes: [TS.implicitLE] },
          ]);
          assert.equal(final.command.status, 0x0000);
          assert.equal(received.size, 3);
          for (const o of objects) {
            const f = received.get(o.sopInstanceUid)!;
            assert.equal(f.ts, TS.implicitLE);
            const original = await datasetOf(o.path);
            assert.deepEqual(
              elementValues(f.dataset, TS.implicitLE),
              elementValues(original, TS.explicitLE),
            );
            assert.deepEqual(f.dataset.subarray(-512), original.subarray(-512), "pixel data");
          }
        },
      );

      await t.step(
        "a compressed object the caller takes no compressed syntax for comes back decoded",
        async () => {
          const r = await getscu(port, [
            "-S",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            `StudyInstanceUID=${study2}`,
          ]);
          assert.equal(r.status, 0x0000, r.stdout.slice(-2000));
          assert.equal(r.completed, 2);
          assert.equal(r.failed, 0);
          const decoded = r.files.get(jpeg.sopInstanceUid);
          assert.ok(decoded, "the JPEG image came back");
          assert.ok([TS.explicitLE, TS.implicitLE].includes(decoded.ts as never), decoded.ts);
          r.files.delete(jpeg.sopInstanceUid);
          await same(r, [plain]);
          // Our own requestor, taking Implicit VR LE only, gets it decoded too.
          const own = await ownGet(port, study2, [
            { sopClassUid: sc.uid, transferSyntaxes: [TS.implicitLE] },
          ]);
          assert.equal(own.final.command.status, 0x0000);
          assert.equal(own.received.get(jpeg.sopInstanceUid)?.ts, TS.implicitLE);
        },
      );

      await t.step("an unknown study: success with nothing sent", async () => {
        const r = await getscu(port, [
          "-S",
          "-k",
          "QueryRetrieveLevel=STUDY",
          "-k",
          `StudyInstanceUID=${newUid()}`,
        ]);
        assert.equal(r.status, 0x0000);
        assert.equal(r.files.size, 0);
      });
      await pacs.waitForLog(/get done .*completed=2 failed=0/);
    } finally {
      await pacs?.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
