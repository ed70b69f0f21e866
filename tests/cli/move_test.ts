// `minipacs move`: C-MOVE from our own server and from DCMTK dcmqrscp to a DCMTK storescp;
// the counts printed (table, JSON), the exit codes, what arrives at the destination.
import assert from "node:assert/strict";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid } from "../helpers/corpus.ts";
import { startDcmqrscp } from "../helpers/dcmqrscp.ts";
import { datasetOf, readPart10Dir } from "../helpers/part10_files.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";
import { minipacs, startStoreScp, type StoreScp } from "./cli.ts";

const dcmtk = ["storescu", "storescp", "dump2dcm"].every(hasTool);
const CT = CORPUS_CLASSES.find((c) => c.modality === "CT")!;
const MR = CORPUS_CLASSES.find((c) => c.modality === "MR")!;

/** A CT study of two instances and an MR study of one. */
async function makeStudies(dir: string): Promise<{ ct: CorpusObject[]; mr: CorpusObject }> {
  const study = newUid();
  const series = newUid();
  const ct = [
    await makeObject({ spec: CT, dir, studyInstanceUid: study, seriesInstanceUid: series }),
    await makeObject({ spec: CT, dir, studyInstanceUid: study, seriesInstanceUid: series }),
  ];
  return { ct, mr: await makeObject({ spec: MR, dir, patientId: "PAT002" }) };
}

async function storeTo(aeTitle: string, port: number, files: string[]): Promise<void> {
  const r = await run("storescu", ["-aec", aeTitle, "127.0.0.1", String(port), ...files]);
  assert.equal(r.code, 0, r.stderr);
}

/** Waits (bounded) until storescp has written `n` files; returns them by SOP Instance UID. */
async function arrived(scp: StoreScp, n: number) {
  for (let i = 0; i < 100; i++) {
    const files = await readPart10Dir(scp.dir);
    if (files.size >= n) return files;
    await new Promise((r) => setTimeout(r, 50));
  }
  return await readPart10Dir(scp.dir);
}

async function sameDatasets(scp: StoreScp, objects: CorpusObject[]): Promise<void> {
  const files = await arrived(scp, objects.length);
  assert.deepEqual([...files.keys()].sort(), objects.map((o) => o.sopInstanceUid).sort());
  for (const o of objects) {
    assert.deepEqual(files.get(o.sopInstanceUid)!.dataset, await datasetOf(o.path));
  }
}

Deno.test({
  name: "move from MiniPACS to a storescp: counts as a table and JSON, unknown destination fails",
  ignore: !dcmtk,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-move-cli-" });
    let pacs: MiniPacs | undefined;
    let scp: StoreScp | undefined;
    try {
      const s = await makeStudies(dir);
      scp = await startStoreScp("STORESCP");
      pacs = await startMiniPacs({
        extraToml: `[[known_ae]]\nae_title = "STORESCP"\nhost = "127.0.0.1"\nport = ${scp.port}\n`,
      });
      await storeTo("MINIPACS", pacs.port, [...s.ct, s.mr].map((o) => o.path));
      const at = `MINIPACS@127.0.0.1:${pacs.port}`;
      const study = s.ct[0].studyInstanceUid;

      await t.step("a study: the table of counts, the files at the destination", async () => {
        const r = await minipacs([
          "move",
          at,
          "--dest",
          "STORESCP",
          "-k",
          `StudyInstanceUID=${study}`,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(r.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/)), [
          ["Completed", "Failed", "Warning", "Status"],
          ["2", "0", "0", "0x0000"],
        ]);
        assert.match(
          r.stderr,
          /^C-MOVE MINIPACS@127\.0\.0\.1:\d+ to STORESCP as MINIPACS: completed 2, failed 0, warning 0, status 0x0000 success$/m,
        );
        await sameDatasets(scp!, s.ct);
        // The server's log names the destination and the counts.
        await pacs!.waitForLog(/move done.*destination=STORESCP.*completed=2/);
      });

      await t.step("an IMAGE-level move as JSON, with our own calling AE", async () => {
        const r = await minipacs([
          "move",
          at,
          "--dest",
          "STORESCP",
          "--level",
          "IMAGE",
          "-k",
          `StudyInstanceUID=${s.mr.studyInstanceUid}`,
          "-k",
          `SeriesInstanceUID=${s.mr.seriesInstanceUid}`,
          "-k",
          `SOPInstanceUID=${s.mr.sopInstanceUid}`,
          "--aet",
          "MOVER",
          "--json",
        ]);
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        assert.equal(out.status, 0);
        assert.equal(out.completed, 1);
        assert.equal(out.failed, 0);
        assert.equal(out.destination, "STORESCP");
        assert.deepEqual(out.failedSopInstanceUids, []);
        await sameDatasets(scp!, [...s.ct, s.mr]);
      });

      await t.step("an unknown destination: 0xA801, exit 1, nothing sent", async () => {
        const r = await minipacs([
          "move",
          at,
          "--dest",
          "NOWHERE",
          "-k",
          `StudyInstanceUID=${study}`,
        ]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /status 0xA801 failure/);
        assert.match(r.stdout, /0xA801/);
      });

      await t.step("no --dest, or a bad level: usage error, exit 2", async () => {
        assert.equal((await minipacs(["move", at, "-k", `StudyInstanceUID=${study}`])).code, 2);
        const bad = await minipacs(["move", at, "--dest", "X", "--level", "FOO"]);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /--level/);
      });
    } finally {
      await pacs?.cleanup();
      await scp?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "move from DCMTK dcmqrscp to a storescp",
  ignore: !dcmtk || !hasTool("dcmqrscp"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-move-dcmqrscp-" });
    let scp: StoreScp | undefined;
    let qr: Awaited<ReturnType<typeof startDcmqrscp>> | undefined;
    try {
      const s = await makeStudies(dir);
      scp = await startStoreScp("STORESCP");
      qr = await startDcmqrscp(dir, [{ aeTitle: "STORESCP", port: scp.port }]);
      await storeTo("QRSCP", qr.port, [...s.ct, s.mr].map((o) => o.path));
      const r = await minipacs([
        "move",
        `QRSCP@127.0.0.1:${qr.port}`,
        "--dest",
        "STORESCP",
        "-k",
        `StudyInstanceUID=${s.ct[0].studyInstanceUid}`,
        "--json",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.completed, 2);
      assert.equal(out.failed, 0);
      await sameDatasets(scp, s.ct);
    } finally {
      await qr?.stop();
      await scp?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
