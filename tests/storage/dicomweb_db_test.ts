// DICOMweb's reads of the index and its metadata cache.
import assert from "node:assert/strict";
import {
  DicomWebIndex,
  METADATA_CACHE_FILE,
  MetadataCache,
} from "../../src/storage/dicomweb_db.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import { makeRecord, withTempDir } from "./fixtures.ts";

Deno.test("DicomWebIndex: instances of a study, a series or one instance, with their seq", async () => {
  await withTempDir((dir) => {
    const index = IndexDb.open(`${dir}/index.sqlite`);
    const web = new DicomWebIndex(() => index.openReader());
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
    } finally {
      web.close();
      index.close();
    }
  });
});

Deno.test("MetadataCache: JSON valid for its seq only, kept across opens, a damaged file replaced", async () => {
  await withTempDir(async (dir) => {
    let cache = MetadataCache.open(dir);
    cache.putAll([{ sopInstanceUid: "1.19.1", seq: 5, json: '{"a":1}' }]);
    cache.putAll([]);
    assert.equal(cache.get("1.19.1", 5), '{"a":1}');
    assert.equal(cache.get("1.19.1", 6), undefined, "a newer copy is not served stale JSON");
    assert.equal(cache.get("1.19.2", 5), undefined);
    cache.close();
    cache = MetadataCache.open(dir);
    assert.equal(cache.get("1.19.1", 5), '{"a":1}');
    cache.close();
    await Deno.writeTextFile(`${dir}/${METADATA_CACHE_FILE}`, "not a database at all".repeat(200));
    for (const suffix of ["-wal", "-shm"]) {
      await Deno.remove(`${dir}/${METADATA_CACHE_FILE}${suffix}`).catch(() => {});
    }
    cache = MetadataCache.open(dir);
    try {
      assert.equal(cache.get("1.19.1", 5), undefined);
      cache.putAll([{ sopInstanceUid: "1.19.1", seq: 7, json: "{}" }]);
      assert.equal(cache.get("1.19.1", 7), "{}");
    } finally {
      cache.close();
    }
  });
});
