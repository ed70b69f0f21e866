// The instances under a study, a series or one instance, for downloads, sends and lists.
import assert from "node:assert/strict";
import { instancesUnder } from "../../src/storage/entity_instances.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import { makeRecord, MR_IMAGE, withTempDir } from "./fixtures.ts";

Deno.test("instancesUnder() lists by series number then Instance Number as numbers", async () => {
  await withTempDir((dir) => {
    const index = IndexDb.open(`${dir}/index.sqlite`);
    const reader = index.openReader();
    try {
      let seq = 1;
      const put = (uid: string, series: string, seriesNumber: string, instanceNumber: string) =>
        index.upsertInstance(
          makeRecord(uid, {
            seriesInstanceUid: series,
            seriesNumber,
            instanceNumber,
            ...(series === "3.2" ? { sopClassUid: MR_IMAGE } : {}),
          }),
          { kind: "home", path: `h/${uid}.dcm`, offset: 0, length: 100 + seq },
          {
            homePath: `h/${uid}.dcm`,
            size: 500,
            receivedAt: "2024-05-06T07:08:09.000Z",
            callingAe: "AE",
            seq: seq++,
          },
        );
      put("1.17.1", "3.10", "10", "2");
      put("1.17.2", "3.2", "2", "10");
      put("1.17.3", "3.2", "2", "9");
      put("1.17.4", "3.10", "10", "1");
      const study = instancesUnder(reader, "study", "1.2.3.1");
      // Series 2 before series 10, and instance 9 before 10: numbers, not text.
      assert.deepEqual(study.map((i) => i.sopInstanceUid), [
        "1.17.3",
        "1.17.2",
        "1.17.4",
        "1.17.1",
      ]);
      assert.deepEqual(study[0], {
        studyInstanceUid: "1.2.3.1",
        seriesInstanceUid: "3.2",
        sopInstanceUid: "1.17.3",
        sopClassUid: MR_IMAGE,
        transferSyntaxUid: makeRecord("x").transferSyntaxUid,
        instanceNumber: "9",
        size: 103,
        homePath: "h/1.17.3.dcm",
        receivedAt: "2024-05-06T07:08:09.000Z",
      });
      assert.deepEqual(
        instancesUnder(reader, "series", "3.10").map((i) => i.sopInstanceUid),
        ["1.17.4", "1.17.1"],
      );
      assert.equal(instancesUnder(reader, "instance", "1.17.2").length, 1);
      assert.equal(instancesUnder(reader, "study", "1.2.3.1", 2).length, 2, "at most the limit");
      assert.deepEqual(instancesUnder(reader, "study", "9.9.9"), []);
    } finally {
      reader.close();
      index.close();
    }
  });
});
