// A Series Instance UID reused under another study is refused (0xC000 and a warning), never
// moved: image A (study S1, series X) stays in S1, as both C-FIND (findscu) and the stored
// files say; image B (study S2, same series X) is not stored.
import assert from "node:assert/strict";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { CORPUS_CLASSES, makeObject, newUid } from "../helpers/corpus.ts";
import { hasTool, run, startMiniPacs } from "../helpers/server.ts";
import { findscu, TAG, valueOf } from "./find_corpus.ts";

const dcmtk = hasTool("findscu") && hasTool("storescu") && hasTool("dump2dcm");
if (!dcmtk) console.log("SKIP: series conflict test needs findscu, storescu, dump2dcm (dcmtk)");

async function storescu(port: number, file: string) {
  return await run("storescu", [
    "-v",
    "-aet",
    "MODALITY",
    "-aec",
    "MINIPACS",
    "127.0.0.1",
    String(port),
    file,
  ]);
}

Deno.test({
  name: "a series reused under another study is refused; the first study keeps its image",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir();
    const pacs = await startMiniPacs();
    try {
      const [s1, s2, x] = [newUid(), newUid(), newUid()];
      const spec = CORPUS_CLASSES[0];
      const a = await makeObject({ spec, dir, studyInstanceUid: s1, seriesInstanceUid: x });
      const b = await makeObject({ spec, dir, studyInstanceUid: s2, seriesInstanceUid: x });
      assert.equal((await storescu(pacs.port, a.path)).code, 0);
      const rb = await storescu(pacs.port, b.path);
      assert.match(rb.stdout + rb.stderr, /Received Store Response \(Error: CannotUnderstand\)/);
      const warn = await pacs.waitForLog(/WARN .*series reused under another study: refused/);
      assert.ok(warn.includes(x) && warn.includes("MODALITY"), warn);

      // C-FIND: S1 is still there with its one image; S2 does not exist; X is in S1.
      const studies = await findscu(pacs.port, "MINIPACS", "S", [
        "0008,0052=STUDY",
        "0020,000D",
        "0020,1208",
      ]);
      const found = studies.responses.map((d) => [
        valueOf(d, TAG.StudyInstanceUID),
        valueOf(d, 0x00201208),
      ]);
      assert.deepEqual(found, [[s1, "1"]]);
      const series = await findscu(pacs.port, "MINIPACS", "S", [
        "0008,0052=SERIES",
        `0020,000D=${s1}`,
        "0020,000E",
      ]);
      assert.deepEqual(series.responses.map((d) => valueOf(d, TAG.SeriesInstanceUID)), [x]);

      // The files: A at home under S1/X, and nothing of B anywhere.
      assert.equal(await pacs.stop(), 0);
      const homeA = `${pacs.storage}/${s1}/${x}/${a.sopInstanceUid}.dcm`;
      const bytes = await Deno.readFile(homeA);
      assert.ok(decodeFileMetaInformation(bytes).datasetOffset > 0);
      await assert.rejects(Deno.stat(`${pacs.storage}/${s2}`), Deno.errors.NotFound);
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
