// Deleting a study, series or instance: rows, counts, derived keys and files go together, and
// a crash at any point leaves the object fully there or fully gone once the server restarts.
import assert from "node:assert/strict";
import { type DeleteLevel, readTombstones } from "../../src/storage/delete.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import type { FsObjectStore } from "../../src/storage/object_store.ts";
import {
  copyTree,
  datasetFor,
  listFiles,
  makeRecord,
  MR_IMAGE,
  openStore,
  storeObject,
  withTempDir,
} from "./fixtures.ts";

const HOLD = { materializer: { idleMs: 3_600_000 } };

const ctA1 = makeRecord("1.30.1", { studyInstanceUid: "1.30", seriesInstanceUid: "1.30.0.1" });
const ctA2 = makeRecord("1.30.2", { studyInstanceUid: "1.30", seriesInstanceUid: "1.30.0.1" });
const mrA = makeRecord("1.30.3", {
  studyInstanceUid: "1.30",
  seriesInstanceUid: "1.30.0.2",
  modality: "MR",
  sopClassUid: MR_IMAGE,
});
const ctB = makeRecord("1.31.1", { studyInstanceUid: "1.31", seriesInstanceUid: "1.31.0.1" });
const ALL = [ctA1, ctA2, mrA, ctB];

async function storeAll(store: FsObjectStore, records = ALL): Promise<void> {
  for (const r of records) await storeObject(store, r, datasetFor(r));
}

function studyRow(store: FsObjectStore, uid: string) {
  const db = store.openReader();
  try {
    const row = db.prepare(
      `SELECT num_series, num_instances, modalities_in_study, sop_classes_in_study FROM study
       WHERE study_instance_uid = ?`,
    ).get(uid) as Record<string, unknown> | undefined;
    return row ? { ...row } : undefined;
  } finally {
    db.close();
  }
}

/**
 * The durable transaction of a delete without the file removal that follows it (a crash in
 * between), on a second connection to the store's index; the number of instances deleted.
 */
function deleteRowsOnly(root: string, level: DeleteLevel, uid: string): number {
  const index = IndexDb.open(`${root}/index.sqlite`);
  try {
    return index.deleteEntity(level, uid).length;
  } finally {
    index.close();
  }
}

const homeFiles = async (root: string) => (await listFiles(root)).filter((f) => f.endsWith(".dcm"));

Deno.test("delete: a series, then a study, with counts, derived keys, files and folders", async () => {
  await withTempDir(async (dir) => {
    const store = await openStore(dir);
    try {
      await storeAll(store);
      await store.drain();
      assert.equal((await homeFiles(dir)).length, 4);

      const series = await store.deleteEntity("series", "1.30.0.2");
      assert.equal(series.instances, 1);
      assert.deepEqual(series.studies, ["1.30"]);
      assert.deepEqual(studyRow(store, "1.30"), {
        num_series: 1,
        num_instances: 2,
        modalities_in_study: "CT",
        sop_classes_in_study: ctA1.sopClassUid,
      });
      assert.equal(await store.readObject(mrA.sopInstanceUid), null);
      assert.ok(!(await listFiles(dir)).some((f) => f.startsWith("1.30/1.30.0.2")));

      const study = await store.deleteEntity("study", "1.30");
      assert.equal(study.instances, 2);
      assert.equal(studyRow(store, "1.30"), undefined);
      assert.deepEqual(await homeFiles(dir), ["1.31/1.31.0.1/1.31.1.dcm"]);
      // The study's folder went with its last file.
      await assert.rejects(() => Deno.stat(`${dir}/1.30`), Deno.errors.NotFound);
      const counts = store.counts();
      assert.deepEqual([counts.patients, counts.studies, counts.series, counts.instances], [
        1,
        1,
        1,
        1,
      ]);

      const instance = await store.deleteEntity("instance", ctB.sopInstanceUid);
      assert.equal(instance.instances, 1);
      assert.equal(store.counts().patients, 0);
      assert.equal((await store.deleteEntity("study", "9.9.9")).instances, 0);
    } finally {
      await store.close();
    }
  });
});

Deno.test("delete: objects still in the journal stay deleted after a crash (no replay)", async () => {
  await withTempDir(async (dir) => {
    const live = `${dir}/live`;
    const store = await openStore(live, HOLD);
    try {
      await storeAll(store);
      assert.equal((await store.deleteEntity("study", "1.30")).instances, 3);
      await copyTree(live, `${dir}/crash`); // the power goes here
    } finally {
      await store.close();
    }
    const after = await openStore(`${dir}/crash`, HOLD);
    try {
      for (const r of [ctA1, ctA2, mrA]) {
        assert.equal(await after.readObject(r.sopInstanceUid), null, r.sopInstanceUid);
      }
      assert.ok(await after.readObject(ctB.sopInstanceUid));
      assert.equal(after.counts().instances, 1);
      await after.drain();
      assert.deepEqual(await homeFiles(`${dir}/crash`), ["1.31/1.31.0.1/1.31.1.dcm"]);
    } finally {
      await after.close();
    }
  });
});

Deno.test("delete: a crash after the index commit and before the files go; start-up removes them", async () => {
  await withTempDir(async (dir) => {
    const live = `${dir}/live`;
    const store = await openStore(live);
    try {
      await storeAll(store);
      await store.drain();
      // The durable transaction of a delete, without the file removal that follows it.
      assert.equal(deleteRowsOnly(live, "study", "1.30"), 3);
      await copyTree(live, `${dir}/crash`);
    } finally {
      await store.close();
    }
    const after = await openStore(`${dir}/crash`);
    try {
      assert.deepEqual(await homeFiles(`${dir}/crash`), ["1.31/1.31.0.1/1.31.1.dcm"]);
      assert.equal(after.counts().instances, 1);
      // Kept while the journal still holds their records...
      assert.equal(readTombstones(`${dir}/crash/index.sqlite`).length, 3);
    } finally {
      await after.close();
    }
    // ...and forgotten once it no longer does.
    const later = await openStore(`${dir}/crash`);
    try {
      assert.deepEqual(readTombstones(`${dir}/crash/index.sqlite`), []);
      assert.equal(later.counts().instances, 1);
    } finally {
      await later.close();
    }
  });
});

Deno.test("delete: an instance stored again after its delete survives a crash", async () => {
  await withTempDir(async (dir) => {
    const live = `${dir}/live`;
    const store = await openStore(live, HOLD);
    try {
      await storeAll(store, [ctA1]);
      await store.deleteEntity("instance", ctA1.sopInstanceUid);
      await storeAll(store, [ctA1]);
      await copyTree(live, `${dir}/crash`);
    } finally {
      await store.close();
    }
    const after = await openStore(`${dir}/crash`);
    try {
      assert.ok(await after.readObject(ctA1.sopInstanceUid));
      await after.drain();
      assert.deepEqual(await homeFiles(`${dir}/crash`), ["1.30/1.30.0.1/1.30.1.dcm"]);
    } finally {
      await after.close();
    }
  });
});

Deno.test("delete: reindex after a crash does not bring deleted objects back", async () => {
  const { reindex } = await import("../../src/storage/reindex.ts");
  await withTempDir(async (dir) => {
    const live = `${dir}/live`;
    const store = await openStore(live, HOLD);
    try {
      await storeAll(store);
      await store.drain();
      // Deleted from the index; its home files and journal records are still there.
      assert.equal(deleteRowsOnly(live, "study", "1.30"), 3);
      await copyTree(live, `${dir}/crash`);
    } finally {
      await store.close();
    }
    const result = await reindex(`${dir}/crash`, { log() {} });
    assert.equal(result.indexed, 1);
    const after = await openStore(`${dir}/crash`);
    try {
      assert.equal(after.counts().instances, 1);
      assert.deepEqual(await homeFiles(`${dir}/crash`), ["1.31/1.31.0.1/1.31.1.dcm"]);
    } finally {
      await after.close();
    }
  });
});
