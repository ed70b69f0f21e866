// DICOMweb's reads of the index and its kept metadata.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { DicomWebIndex } from "../../src/storage/dicomweb_db.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import { InstanceMetadataStore, METADATA_FILE } from "../../src/storage/instance_metadata.ts";
import { makeRecord, withTempDir } from "./fixtures.ts";

Deno.test("DicomWebIndex: instances of a study, a series or one instance, with their seq", async () => {
  await withTempDir((dir) => {
    const index = IndexDb.open(`${dir}/index.sqlite`);
    const kept = InstanceMetadataStore.open(dir);
    const web = new DicomWebIndex(() => index.openReader(), dir);
    try {
      let seq = 10;
      const put = (uid: string, series: string, instanceNumber: string) =>
        index.upsertInstance(
          makeRecord(uid, { seriesInstanceUid: series, instanceNumber }),
          { kind: "home", path: `h/${uid}`, offset: 0, length: 1 },
          { homePath: `h/${uid}`, size: 1, receivedAt: "", callingAe: "AE", seq: seq++ },
        );
      put("1.18.1", "3.b", "10");
      put("1.18.2", "3.b", "9");
      put("1.18.3", "3.a", "1");
      const study = { studyInstanceUid: "1.2.3.1" };
      // Series in the order first stored, Instance Number as a number within.
      assert.deepEqual(web.instances(study).map((i) => i.sopInstanceUid), [
        "1.18.2",
        "1.18.1",
        "1.18.3",
      ]);
      assert.deepEqual(web.seriesOf("1.2.3.1"), ["3.b", "3.a"]);
      const one = web.instances({ ...study, seriesInstanceUid: "3.b", sopInstanceUid: "1.18.1" });
      assert.equal(one.length, 1);
      assert.equal(one[0].seq, 10);
      assert.deepEqual(web.instances({ ...study, seriesInstanceUid: "3.z" }), []);
      assert.deepEqual(web.seriesOf("9.9"), []);
      // Kept JSON comes with the list only for the seq it was computed for.
      kept.putAll([
        { sopInstanceUid: "1.18.1", seq: 10, json: "{}" },
        { sopInstanceUid: "1.18.2", seq: 5, json: "{}" },
      ]);
      assert.deepEqual(web.instancesWithMetadata(study).map((i) => i.json), [
        undefined,
        "{}",
        undefined,
      ]);
      const missing = web.missingMetadata(0, 100).rows.map((r) => r.sopInstanceUid);
      assert.deepEqual(missing, ["1.18.2", "1.18.3"]);
      assert.deepEqual(web.missingMetadata(11, 100).rows.map((r) => r.sopInstanceUid), [
        "1.18.3",
      ]);
      // Walked by seq a step at a time: `last` is the highest seq looked at, even when the
      // instance there has its metadata; past the highest, the walk is over.
      const walk = [0, 10, 11, 12].map((after) => web.missingMetadata(after, 1));
      assert.deepEqual(walk.map((w) => w.rows.map((r) => r.sopInstanceUid)), [
        [],
        ["1.18.2"],
        ["1.18.3"],
        [],
      ]);
      assert.deepEqual(walk.map((w) => w.last), [10, 11, 12, 12]);
      // Through the seq index, not a pass over every instance.
      const plan = index.openReader().prepare(
        "EXPLAIN QUERY PLAN SELECT seq FROM instance WHERE seq > ? ORDER BY seq LIMIT ?",
      ).all(0, 1).map((r) => String((r as { detail: string }).detail)).join("; ");
      assert.match(plan, /instance_seq_idx/);
    } finally {
      web.close();
      kept.close();
      index.close();
    }
  });
});

Deno.test("InstanceMetadataStore: JSON valid for its seq only, kept across opens, a damaged file replaced", async () => {
  await withTempDir(async (dir) => {
    let cache = InstanceMetadataStore.open(dir);
    cache.putAll([{ sopInstanceUid: "1.19.1", seq: 5, json: '{"a":1}' }]);
    cache.putAll([]);
    assert.equal(cache.get("1.19.1", 5), '{"a":1}');
    assert.equal(cache.get("1.19.1", 6), undefined, "a newer copy is not served stale JSON");
    assert.equal(cache.get("1.19.2", 5), undefined);
    cache.setBuiltThrough(42);
    cache.close();
    cache = InstanceMetadataStore.open(dir);
    assert.equal(cache.get("1.19.1", 5), '{"a":1}');
    assert.equal(cache.builtThrough(), 42);
    cache.close();
    await Deno.writeTextFile(`${dir}/${METADATA_FILE}`, "not a database at all".repeat(200));
    for (const suffix of ["-wal", "-shm"]) {
      await Deno.remove(`${dir}/${METADATA_FILE}${suffix}`).catch(() => {});
    }
    cache = InstanceMetadataStore.open(dir);
    try {
      assert.equal(cache.get("1.19.1", 5), undefined);
      assert.equal(cache.builtThrough(), 0, "everything is looked at again");
      cache.putAll([{ sopInstanceUid: "1.19.1", seq: 7, json: "{}" }]);
      assert.equal(cache.get("1.19.1", 7), "{}");
    } finally {
      cache.close();
    }
  });
});

Deno.test("InstanceMetadataStore: a file of the earlier layout is started afresh", async () => {
  await withTempDir((dir) => {
    const old = new DatabaseSync(`${dir}/${METADATA_FILE}`);
    old.exec(`CREATE TABLE instance_metadata (
      sop_instance_uid TEXT PRIMARY KEY, seq INTEGER NOT NULL, json TEXT NOT NULL
    ) WITHOUT ROWID`);
    old.prepare("INSERT INTO instance_metadata VALUES ('1.20.1', 1, '{}')").run();
    old.close();
    const store = InstanceMetadataStore.open(dir);
    try {
      assert.equal(store.get("1.20.1", 1), undefined);
      store.putAll([{ sopInstanceUid: "1.20.1", seq: 1, json: "{}" }]);
      assert.equal(store.get("1.20.1", 1), "{}");
    } finally {
      store.close();
    }
    const check = new DatabaseSync(`${dir}/${METADATA_FILE}`, { readOnly: true });
    const tables = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
    check.close();
    assert.deepEqual(tables.map((t) => t.name).sort(), ["built", "instance_json"]);
  });
});
