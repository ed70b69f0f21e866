// `minipacs get`: C-GET from our own server and from DCMTK dcmqrscp into a folder; the files
// written are compared with what was stored, bit for bit.
import assert from "node:assert/strict";
import { getStorageClasses } from "../../src/cli/get.ts";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid } from "../helpers/corpus.ts";
import { startDcmqrscp } from "../helpers/dcmqrscp.ts";
import { datasetOf, readPart10Dir } from "../helpers/part10_files.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";
import { minipacs } from "./cli.ts";

const dcmtk = ["storescu", "dump2dcm", "dcmcjpeg"].every(hasTool);
const CT = CORPUS_CLASSES.find((c) => c.modality === "CT")!;
const SC = CORPUS_CLASSES.find((c) => c.name === "Secondary Capture")!;

async function storeTo(aeTitle: string, port: number, files: string[], flag = "-xe") {
  const r = await run("storescu", [flag, "-aec", aeTitle, "127.0.0.1", String(port), ...files]);
  assert.equal(r.code, 0, r.stderr);
}

async function sameFiles(out: string, objects: CorpusObject[]): Promise<void> {
  const files = await readPart10Dir(out);
  assert.deepEqual([...files.keys()].sort(), objects.map((o) => o.sopInstanceUid).sort());
  for (const o of objects) {
    const f = files.get(o.sopInstanceUid)!;
    assert.equal(f.path, `${out}/${o.sopInstanceUid}.dcm`);
    assert.equal(f.sopClassUid, o.sopClassUid);
    assert.deepEqual(f.dataset, await datasetOf(o.path));
  }
}

Deno.test("get proposes at most 127 storage classes, the common ones first", () => {
  const classes = getStorageClasses();
  assert.equal(classes.length, 127);
  assert.equal(new Set(classes).size, 127);
  assert.equal(classes[0], "1.2.840.10008.5.1.4.1.1.2");
  for (const c of CORPUS_CLASSES.filter((c) => !c.name.includes("retired"))) {
    assert.ok(classes.includes(c.uid), c.name);
  }
});

Deno.test({
  name: "get from MiniPACS into a folder: files equal what was stored; a JPEG arrives decoded",
  ignore: !dcmtk,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-get-cli-" });
    let pacs: MiniPacs | undefined;
    try {
      const study = newUid();
      const series = newUid();
      const ct = [
        await makeObject({ spec: CT, dir, studyInstanceUid: study, seriesInstanceUid: series }),
        await makeObject({ spec: CT, dir, studyInstanceUid: study, seriesInstanceUid: series }),
      ];
      const raw = await makeObject({ spec: SC, dir, studyInstanceUid: newUid() });
      const jpegPath = raw.path.replace(/\.dcm$/, ".jpeg.dcm");
      assert.equal((await run("dcmcjpeg", ["+eb", "+un", raw.path, jpegPath])).code, 0);
      pacs = await startMiniPacs();
      await storeTo("MINIPACS", pacs.port, ct.map((o) => o.path));
      await storeTo("MINIPACS", pacs.port, [jpegPath], "-xy");
      const at = `MINIPACS@127.0.0.1:${pacs.port}`;

      await t.step("a study: the files table, the counts, the folder", async () => {
        const out = `${dir}/out1`;
        const r = await minipacs(["get", at, "-k", `StudyInstanceUID=${study}`, "--out", out]);
        assert.equal(r.code, 0, r.stderr);
        const lines = r.stdout.trim().split("\n");
        assert.deepEqual(lines[0].split(/\s+/), [
          "SOPInstanceUID",
          "SOPClassUID",
          "TransferSyntaxUID",
          "File",
        ]);
        assert.equal(lines.length, 1 + 2 + 2);
        assert.deepEqual(lines.at(-1)!.trim().split(/\s+/), ["2", "0", "0", "0x0000"]);
        assert.match(
          r.stderr,
          /^C-GET MINIPACS@127\.0\.0\.1:\d+ as MINIPACS: completed 2, failed 0, warning 0, status 0x0000 success$/m,
        );
        await sameFiles(out, ct);
        await pacs!.waitForLog(/get done.*completed=2/);
      });

      await t.step(
        "a JPEG object: proposed uncompressed only, it arrives decoded as Explicit VR LE",
        async () => {
          const out = `${dir}/out2`;
          const r = await minipacs([
            "get",
            at,
            "-k",
            `StudyInstanceUID=${raw.studyInstanceUid}`,
            "--out",
            out,
            "--json",
          ]);
          assert.equal(r.code, 0, r.stderr);
          const result = JSON.parse(r.stdout);
          assert.equal(result.status, 0);
          assert.equal(result.completed, 1);
          assert.deepEqual(result.failedSopInstanceUids, []);
          assert.deepEqual(
            result.files.map((f: { sopInstanceUid: string; transferSyntaxUid: string }) => [
              f.sopInstanceUid,
              f.transferSyntaxUid,
            ]),
            [[raw.sopInstanceUid, "1.2.840.10008.1.2.1"]],
          );
          const got = await readPart10Dir(out);
          assert.equal(got.get(raw.sopInstanceUid)?.transferSyntaxUid, "1.2.840.10008.1.2.1");
        },
      );
    } finally {
      await pacs?.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "get from DCMTK dcmqrscp into a folder",
  ignore: !dcmtk || !hasTool("dcmqrscp"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-get-dcmqrscp-" });
    let qr: Awaited<ReturnType<typeof startDcmqrscp>> | undefined;
    try {
      const study = newUid();
      const ct = [
        await makeObject({ spec: CT, dir, studyInstanceUid: study }),
        await makeObject({ spec: CT, dir, studyInstanceUid: study }),
      ];
      qr = await startDcmqrscp(dir);
      await storeTo("QRSCP", qr.port, ct.map((o) => o.path));
      const out = `${dir}/out`;
      const r = await minipacs([
        "get",
        `QRSCP@127.0.0.1:${qr.port}`,
        "-k",
        `StudyInstanceUID=${study}`,
        "-o",
        out,
        "--json",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout);
      assert.equal(result.completed, 2);
      assert.equal(result.files.length, 2);
      await sameFiles(out, ct);
    } finally {
      await qr?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
