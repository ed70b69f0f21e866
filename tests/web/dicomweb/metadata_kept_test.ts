// Each instance's DICOMweb metadata is computed once after it is stored and kept beside the
// index: series metadata is answered from those rows (after a restart too), a deleted
// instance's row goes with it, and a reindex drops them all to be computed again.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { reindex } from "../../../src/storage/reindex.ts";
import { METADATA_FILE } from "../../../src/storage/instance_metadata.ts";
import { startMiniPacs } from "../../helpers/server.ts";
import { CORPUS_CLASSES, makeObject } from "../../helpers/corpus.ts";
import { dicomWebFixture, dicomWebReady, get, json, storeCorpus } from "./fixture.ts";

type Json = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string }>;

/** The kept rows: SOP Instance UID -> JSON. */
function keptRows(storage: string): Map<string, string> {
  const db = new DatabaseSync(`${storage}/${METADATA_FILE}`, { readOnly: true });
  try {
    const rows = db.prepare("SELECT sop_instance_uid AS sop, json FROM instance_json")
      .all() as { sop: string; json: string }[];
    return new Map(rows.map((r) => [r.sop, r.json]));
  } finally {
    db.close();
  }
}

/** Waits until `count` rows are kept (the builder runs once the server is quiet). */
async function waitForRows(storage: string, count: number): Promise<Map<string, string>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    let rows = new Map<string, string>();
    try {
      rows = keptRows(storage);
    } catch { /* not created yet */ }
    if (rows.size >= count) return rows;
    if (Date.now() > deadline) throw new Error(`${rows.size} of ${count} rows kept`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

Deno.test({
  name: "DICOMweb metadata is kept once per instance, served from there, deleted and rebuilt",
  ignore: !dicomWebReady,
  async fn(t) {
    const f = await dicomWebFixture();
    const storage = f.pacs.storage;
    const [ct] = f.ct;
    const series = `${f.root}/studies/${ct.studyInstanceUid}/series/${ct.seriesInstanceUid}`;
    let restarted: Awaited<ReturnType<typeof startMiniPacs>> | undefined;
    try {
      await t.step("every stored instance gets its row without being asked", async () => {
        const kept = await waitForRows(storage, f.all.length);
        for (const obj of f.all) assert.ok(kept.has(obj.sopInstanceUid), obj.sopInstanceUid);
        const one = JSON.parse(kept.get(ct.sopInstanceUid)!) as Json;
        assert.equal(one["00080018"].Value![0], ct.sopInstanceUid);
        assert.match(one["7FE00010"].BulkDataURI!, /^studies\/.+\/bulk\/7FE00010$/, "relative");
      });
      await t.step("series metadata after a restart is answered from the kept rows", async () => {
        // Mark one kept row; the answer must carry the mark, so it was not read from the file.
        await f.pacs.stop();
        const db = new DatabaseSync(`${storage}/${METADATA_FILE}`);
        const row = JSON.parse(keptRows(storage).get(ct.sopInstanceUid)!) as Json;
        row["00081030"] = { vr: "LO", Value: ["KEPT ROW"] };
        db.prepare("UPDATE instance_json SET json = ? WHERE sop_instance_uid = ?")
          .run(JSON.stringify(row), ct.sopInstanceUid);
        db.close();
        restarted = await startMiniPacs({
          http: { enabled: true, port: 0, bind: "127.0.0.1" },
          storagePath: storage,
        });
        const root = `http://127.0.0.1:${restarted.httpPort}/dicom-web`;
        const url = series.replace(f.root, root);
        const r = await get(`${url}/metadata`, "application/dicom+json");
        assert.equal(r.status, 200);
        const list = json(r.body) as Json[];
        assert.equal(list.length, 3);
        const marked = list.find((i) => i["00080018"].Value![0] === ct.sopInstanceUid)!;
        assert.deepEqual(marked["00081030"].Value, ["KEPT ROW"]);
        assert.ok(marked["7FE00010"].BulkDataURI!.startsWith(`${root}/studies/`), "made absolute");
      });
      await t.step("deleting an instance deletes its row", async () => {
        const base = `http://127.0.0.1:${restarted!.httpPort}`;
        const r = await fetch(`${base}/api/instances/${ct.sopInstanceUid}`, { method: "DELETE" });
        assert.equal(r.status, 200, await r.text());
        const kept = keptRows(storage);
        assert.equal(kept.has(ct.sopInstanceUid), false);
        assert.equal(kept.size, f.all.length - 1);
      });
      await t.step("a reindex drops the rows; the server computes them again", async () => {
        await restarted!.stop();
        const logger = { log: () => {} };
        await reindex(storage, logger);
        assert.throws(() => keptRows(storage), "the file is gone");
        restarted = await startMiniPacs({
          http: { enabled: true, port: 0, bind: "127.0.0.1" },
          storagePath: storage,
        });
        const kept = await waitForRows(storage, f.all.length - 1);
        const row = JSON.parse(kept.get(f.ct[1].sopInstanceUid)!) as Json;
        assert.equal(row["00080018"].Value![0], f.ct[1].sopInstanceUid);
        assert.equal(kept.has(ct.sopInstanceUid), false);
      });
      await t.step("a new copy of an instance gets its metadata computed again", async () => {
        const old = f.ct[1];
        const copy = await makeObject({
          spec: CORPUS_CLASSES.find((c) => c.name === "CT Image")!,
          dir: f.dir,
          sopInstanceUid: old.sopInstanceUid,
          studyInstanceUid: old.studyInstanceUid,
          seriesInstanceUid: old.seriesInstanceUid,
          instanceNumber: 1,
          patientId: "PAT-CT",
          patientName: "Doe^John",
          rows: 32,
          more: "(0018,0050) DS [7.5]\n",
        });
        await storeCorpus(restarted!.port, "MINIPACS", [copy]);
        const deadline = Date.now() + 60_000;
        for (;;) {
          const row = JSON.parse(keptRows(storage).get(old.sopInstanceUid)!) as Json;
          if (row["00180050"]?.Value?.[0] === 7.5) break;
          assert.ok(Date.now() < deadline, "the new copy's metadata was not kept");
          await new Promise((r) => setTimeout(r, 200));
        }
      });
    } finally {
      await restarted?.cleanup();
      await f.close();
    }
  },
});
