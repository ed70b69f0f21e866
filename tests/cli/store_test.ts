// `minipacs store`: against our own server and against DCMTK storescp, a peer we did not write.
import assert from "node:assert/strict";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { STORAGE_SOP_CLASSES } from "../../src/core/dicom/sop_classes.ts";
import { DEFLATED_EXPLICIT_VR_LE } from "../../src/core/dicom/transfer_syntaxes.ts";
import { type Part10File, planAssociations, scanPart10 } from "../../src/cli/store.ts";
import { CORPUS_CLASSES, type CorpusObject, makeCorpus, makeObject } from "../helpers/corpus.ts";
import { hasTool, startMiniPacs } from "../helpers/server.ts";
import { datasetFor, expectedPart10, makeRecord } from "../storage/fixtures.ts";
import { minipacs, startStoreScp } from "./cli.ts";
import { CommandField, NO_DATASET } from "../../src/core/dimse/command.ts";
import type { DimseService } from "../../src/core/dimse/service_contract.ts";
import { AcceptorAssociation } from "../../src/core/ul/acceptor.ts";
import { listenTcp } from "../../src/net/tcp.ts";
import { quietLogger } from "../helpers/scu.ts";

const dcmtk = hasTool("storescp") && hasTool("dump2dcm") && hasTool("dcmcjpeg");

function dataset(bytes: Uint8Array): Uint8Array {
  return bytes.subarray(decodeFileMetaInformation(bytes).datasetOffset);
}

/** What a peer receives: the file's dataset, a deflated stream of odd length NUL-padded. */
async function sentDataset(o: CorpusObject): Promise<Uint8Array> {
  const d = dataset(await Deno.readFile(o.path));
  if (d.length % 2 === 0 || o.transferSyntaxUid !== DEFLATED_EXPLICIT_VR_LE) return d;
  const padded = new Uint8Array(d.length + 1);
  padded.set(d);
  return padded;
}

/** A folder: the corpus in a subfolder, plus a text file and a PDF that are not DICOM. */
async function corpusFolder(): Promise<{ dir: string; corpus: CorpusObject[] }> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-store-src-" });
  await Deno.mkdir(`${dir}/images/nested`, { recursive: true });
  const corpus = await makeCorpus(`${dir}/images/nested`);
  await Deno.writeTextFile(`${dir}/README.txt`, "not an image\n");
  return { dir, corpus };
}

Deno.test({
  name: "store sends a folder tree to MiniPACS; every dataset arrives unchanged",
  ignore: !dcmtk,
  async fn() {
    const { dir, corpus } = await corpusFolder();
    const pacs = await startMiniPacs();
    try {
      const r = await minipacs(["store", `MINIPACS@127.0.0.1:${pacs.port}`, dir, "--aet", "MOD1"]);
      assert.equal(r.code, 0, r.stderr);
      // README.txt and the corpus' doc.pdf are not DICOM.
      assert.equal(r.stdout.trim(), `stored ${corpus.length}, failed 0, skipped 2 (not DICOM)`);
      const pairs = new Set(corpus.map((c) => `${c.sopClassUid}|${c.transferSyntaxUid}`));
      await pacs.waitForLog(new RegExp(`peer=MOD1@.* contexts=${pairs.size}/${pairs.size}`));
      assert.equal(await pacs.stop(), 0);
      for (const o of corpus) {
        const home = `${pacs.storage}/${o.studyInstanceUid}/${o.seriesInstanceUid}/` +
          `${o.sopInstanceUid}.dcm`;
        const stored = await Deno.readFile(home);
        assert.equal(decodeFileMetaInformation(stored).meta.sourceAeTitle, "MOD1");
        assert.deepEqual(dataset(stored), await sentDataset(o), o.className);
      }
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "store sends to DCMTK storescp; datasets arrive byte-identical",
  ignore: !dcmtk,
  async fn() {
    const { dir, corpus } = await corpusFolder();
    const scp = await startStoreScp();
    try {
      const r = await minipacs(["store", `STORESCP@127.0.0.1:${scp.port}`, dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), `stored ${corpus.length}, failed 0, skipped 2 (not DICOM)`);
      const received = new Map<string, Uint8Array>();
      for await (const e of Deno.readDir(scp.dir)) {
        const bytes = await Deno.readFile(`${scp.dir}/${e.name}`);
        received.set(decodeFileMetaInformation(bytes).meta.sopInstanceUid, bytes);
      }
      assert.equal(received.size, corpus.length);
      for (const o of corpus) {
        const got = received.get(o.sopInstanceUid);
        assert.ok(got, `${o.className} in ${o.transferSyntaxUid} not received`);
        assert.equal(decodeFileMetaInformation(got).meta.transferSyntaxUid, o.transferSyntaxUid);
        assert.deepEqual(dataset(got), await sentDataset(o), o.className);
      }
    } finally {
      await scp.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("store splits more than 128 class/syntax pairs over several associations", async () => {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-store-many-" });
  const pacs = await startMiniPacs();
  try {
    // 130 synthetic objects, each of another storage class: 130 presentation contexts needed.
    const classes = [...STORAGE_SOP_CLASSES.keys()].filter((uid) => uid.includes(".1.1."));
    assert.ok(classes.length >= 130);
    const records = classes.slice(0, 130).map((sopClassUid, i) =>
      makeRecord(`1.2.826.0.1.3680043.9.7433.5.${i + 1}`, {
        sopClassUid,
        studyInstanceUid: "1.2.826.0.1.3680043.9.7433.5",
        seriesInstanceUid: `1.2.826.0.1.3680043.9.7433.5.0.${i + 1}`,
      })
    );
    for (const rec of records) {
      const bytes = expectedPart10(rec, datasetFor(rec, 64), "SRC");
      await Deno.writeFile(`${dir}/${rec.sopInstanceUid}.dcm`, bytes);
    }
    const r = await minipacs(["store", `MINIPACS@127.0.0.1:${pacs.port}`, dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "stored 130, failed 0, skipped 0 (not DICOM)");
    await pacs.waitForLog(/contexts=128\/128/);
    await pacs.waitForLog(/contexts=2\/2/);
  } finally {
    await pacs.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "store reports a file the peer does not accept, and exits 1",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-store-refused-" });
    const ct = CORPUS_CLASSES.find((c) => c.modality === "CT")!;
    const mr = CORPUS_CLASSES.find((c) => c.modality === "MR")!;
    const pacs = await startMiniPacs({ storage: { sop_classes: [ct.uid] } });
    try {
      await makeObject({ spec: ct, dir });
      const refused = await makeObject({ spec: mr, dir });
      const r = await minipacs([
        "store",
        `MINIPACS@127.0.0.1:${pacs.port}`,
        dir,
        `${dir}/no-such-file.dcm`,
      ]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout.trim(), "stored 1, failed 2, skipped 0 (not DICOM)");
      assert.match(r.stderr, new RegExp(`failed: ${refused.path}: .*does not accept MR Image`));
      assert.match(r.stderr, /failed: .*no-such-file\.dcm: no such file or folder/);
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("store to a port where nothing listens fails every file with the reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-store-down-" });
  try {
    const rec = makeRecord("1.2.826.0.1.3680043.9.7433.6.1");
    await Deno.writeFile(`${dir}/a.dcm`, expectedPart10(rec, datasetFor(rec, 64), "SRC"));
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const r = await minipacs(["store", `PACS@127.0.0.1:${port}`, dir]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trim(), "stored 0, failed 1, skipped 0 (not DICOM)");
    assert.match(r.stderr, /a\.dcm: cannot connect to PACS@127\.0\.0\.1:\d+/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store refuses a malformed target or no files with exit 2", async () => {
  const r = await minipacs(["store", "PACS@host", "x.dcm"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /expected AET@host:port, got "PACS@host"/);
  const r2 = await minipacs(["store", "PACS@127.0.0.1:104"]);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /at least one file or folder/);
});

Deno.test("scanPart10() reads the meta of a Part 10 file and skips other files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-scan-" });
  try {
    const rec = makeRecord("1.2.826.0.1.3680043.9.7433.7.1");
    const bytes = expectedPart10(rec, datasetFor(rec, 64), "SRC");
    await Deno.writeFile(`${dir}/a.dcm`, bytes);
    await Deno.writeTextFile(`${dir}/b.txt`, "x".repeat(300));
    await Deno.writeFile(`${dir}/empty`, new Uint8Array(0));
    const a = await scanPart10(`${dir}/a.dcm`);
    assert.ok("file" in a);
    assert.equal(a.file.sopInstanceUid, rec.sopInstanceUid);
    assert.equal(a.file.transferSyntaxUid, rec.transferSyntaxUid);
    assert.equal(a.file.size - a.file.datasetOffset, datasetFor(rec, 64).length);
    assert.match((await scanPart10(`${dir}/b.txt`) as { skipped: string }).skipped, /DICM/);
    assert.match((await scanPart10(`${dir}/empty`) as { skipped: string }).skipped, /too short/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("planAssociations() gives each pair one odd context id, at most 128 per association", () => {
  const files: Part10File[] = [];
  for (let i = 0; i < 300; i++) {
    files.push({
      path: `f${i}`,
      size: 200,
      sopClassUid: `1.2.3.${i % 150}`,
      sopInstanceUid: `1.2.4.${i}`,
      transferSyntaxUid: "1.2.840.10008.1.2.1",
      datasetOffset: 150,
    });
  }
  const plan = planAssociations(files);
  assert.deepEqual(plan.map((b) => b.contexts.length), [128, 22]);
  for (const b of plan) {
    assert.deepEqual(b.contexts.map((c) => c.id), b.contexts.map((_, i) => 2 * i + 1));
    const classes = new Set(b.contexts.map((c) => c.abstractSyntax));
    assert.ok(b.files.every((f) => classes.has(f.sopClassUid)));
  }
  assert.equal(plan[0].files.length + plan[1].files.length, 300);
  // Files keep their order within an association.
  assert.deepEqual(plan[1].files.slice(0, 2).map((f) => f.path), ["f128", "f129"]);
});

/**
 * A storage SCP of our own that misbehaves on one SOP Instance UID: aborts the association
 * at once, or answers only after `hangMs`.
 */
function misbehavingScp(badSopInstanceUid: string, how: "abort" | { hangMs: number }) {
  const received: string[] = [];
  const service: DimseService = {
    name: "store",
    commandFields: [CommandField.CStoreRq],
    *syntaxes() {
      for (const uid of STORAGE_SOP_CLASSES.keys()) {
        yield { abstractSyntax: uid, acceptsTransferSyntax: () => true };
      }
    },
    async handle(req, ctx) {
      const uid = req.command.affectedSopInstanceUid ?? "";
      if (uid === badSopInstanceUid && how === "abort") throw new Error("refusing this one");
      if (req.dataset) { for await (const _ of req.dataset) { /* consume */ } }
      if (uid === badSopInstanceUid && how !== "abort") {
        await new Promise((r) => setTimeout(r, how.hangMs));
      }
      received.push(uid);
      await ctx.send({
        commandField: CommandField.CStoreRsp,
        commandDataSetType: NO_DATASET,
        messageIdBeingRespondedTo: req.command.messageId ?? 0,
        affectedSopClassUid: req.command.affectedSopClassUid,
        affectedSopInstanceUid: uid,
        status: 0,
      });
    },
  };
  const syntaxes = new Map([...service.syntaxes()].map((s) => [s.abstractSyntax, s]));
  const running: Promise<unknown>[] = [];
  const listener = listenTcp("127.0.0.1", 0, (connection) => {
    const assoc = new AcceptorAssociation({
      id: String(running.length + 1),
      connection,
      logger: quietLogger,
      artimTimeoutMs: 5000,
      idleTimeoutMs: 5000,
      maxPduLength: 16384,
      services: [service],
      policy: () => ({
        aeTitle: "FLAKY",
        checkCalledAe: true,
        maxPduLength: 16384,
        implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.9",
        implementationVersionName: "FLAKY",
        syntaxes,
      }),
    });
    running.push(assoc.run().catch(() => {}));
  });
  return {
    port: listener.port,
    received,
    async close() {
      listener.close();
      await listener.done;
      await Promise.all(running);
    },
  };
}

Deno.test("store goes on after a peer aborts mid-transfer: that file fails, the rest are sent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-store-abort-" });
  const uids = ["1", "2", "3", "4"].map((n) => `1.2.826.0.1.3680043.9.7433.8.${n}`);
  const scp = misbehavingScp(uids[1], "abort");
  try {
    for (const [i, uid] of uids.entries()) {
      const rec = makeRecord(uid);
      // The refused one is large: the abort arrives while it is still being sent.
      const bytes = expectedPart10(rec, datasetFor(rec, i === 1 ? 8_000_000 : 64), "SRC");
      await Deno.writeFile(`${dir}/${i}.dcm`, bytes);
    }
    const r = await minipacs(["store", `FLAKY@127.0.0.1:${scp.port}`, dir]);
    assert.equal(r.stdout.trim(), "stored 3, failed 1, skipped 0 (not DICOM)", r.stderr);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /failed: .*1\.dcm: association (aborted|closed)/);
    assert.deepEqual(scp.received.sort(), [uids[0], uids[2], uids[3]]);
  } finally {
    await scp.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store gives up on a peer that stops answering, after --timeout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-store-hang-" });
  const uids = ["1", "2", "3"].map((n) => `1.2.826.0.1.3680043.9.7433.9.${n}`);
  const scp = misbehavingScp(uids[1], { hangMs: 5000 });
  try {
    for (const [i, uid] of uids.entries()) {
      const rec = makeRecord(uid);
      await Deno.writeFile(`${dir}/${i}.dcm`, expectedPart10(rec, datasetFor(rec, 64), "SRC"));
    }
    const started = performance.now();
    const r = await minipacs(["store", `FLAKY@127.0.0.1:${scp.port}`, dir, "--timeout", "1"]);
    assert.ok(performance.now() - started < 4500, "did not wait for the slow answer");
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trim(), "stored 1, failed 2, skipped 0 (not DICOM)", r.stderr);
    assert.match(r.stderr, /failed: .*1\.dcm: no progress for 1 s/);
    assert.match(r.stderr, /failed: .*2\.dcm: not sent: no progress for 1 s/);
  } finally {
    await scp.close();
    await Deno.remove(dir, { recursive: true });
  }
});
