import assert from "node:assert/strict";
import {
  copyTree,
  datasetFor,
  equalBytes,
  expectedPart10,
  makeRecord,
  MemoryLogger,
  openStore,
  readAll,
  storeObject,
  withTempDir,
} from "./fixtures.ts";
import { reindex } from "../../src/storage/reindex.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import { homePathFor } from "../../src/storage/layout.ts";

const HOLD = { materializer: { idleMs: 3_600_000 } };

function snapshot(index: Pick<IndexDb, "allInstances">) {
  return [...index.allInstances()].map((i) => ({
    record: i.record,
    kind: i.location.kind,
    length: i.location.length,
    homePath: i.meta.homePath,
    receivedAt: i.meta.receivedAt,
    callingAe: i.meta.callingAe,
  }));
}

Deno.test("reindex() rebuilds the index from home files and journal segments", async () => {
  await withTempDir(async (dir) => {
    const live = `${dir}/live`;
    const records = [
      makeRecord("1.60.1", { patientName: "Müller^Jürgen", studyInstanceUid: "1.60" }),
      makeRecord("1.60.2", { studyInstanceUid: "1.60", seriesInstanceUid: "1.60.9" }),
      makeRecord("1.61.1", {
        patientId: "P2",
        studyInstanceUid: "1.61",
        seriesInstanceUid: "1.61.1",
        modality: "MR",
      }),
      makeRecord("1.61.2", {
        patientId: "P2",
        studyInstanceUid: "1.61",
        seriesInstanceUid: "1.61.1",
        modality: "MR",
      }),
    ];
    const store = await openStore(live, HOLD);
    let before;
    try {
      // Two objects reach their home files; two stay in the journal.
      await storeObject(store, records[0], datasetFor(records[0]), {
        assocId: "a1",
        callingAe: "CT1",
      });
      await storeObject(store, records[1], datasetFor(records[1]), {
        assocId: "a1",
        callingAe: "CT1",
      });
      await store.endAssociation("a1");
      await store.drain();
      await storeObject(store, records[2], datasetFor(records[2]), {
        assocId: "a2",
        callingAe: "MR1",
      });
      await storeObject(store, records[3], datasetFor(records[3]), {
        assocId: "a2",
        callingAe: "MR1",
      });
      before = snapshot(store);
      await copyTree(live, `${dir}/copy`);
    } finally {
      await store.close();
    }
    const root = `${dir}/copy`;
    // A damaged index: reindex must not even need to open it.
    await Deno.writeTextFile(`${root}/index.sqlite`, "garbage");
    await Deno.remove(`${root}/index.sqlite-wal`).catch(() => {});
    const progress: string[] = [];
    const result = await reindex(root, new MemoryLogger(), (p) => progress.push(p.path));
    assert.equal(result.indexed, 4);
    assert.deepEqual(result.skipped, []);
    assert.equal(progress.length, 4);

    const index = IndexDb.open(`${root}/index.sqlite`);
    try {
      assert.deepEqual(snapshot(index), before);
      assert.deepEqual(
        [before[0].kind, before[1].kind, before[2].kind, before[3].kind],
        ["home", "home", "journal", "journal"],
      );
      const c = index.counts();
      assert.deepEqual([c.patients, c.studies, c.series, c.instances], [2, 2, 3, 4]);
    } finally {
      index.close();
    }
    const reopened = await openStore(root);
    try {
      await reopened.drain();
      for (const r of records) {
        const got = await reopened.readObject(r.sopInstanceUid);
        const ae = r.sopInstanceUid.startsWith("1.60") ? "CT1" : "MR1";
        assert.ok(
          got && equalBytes(await readAll(got.stream), expectedPart10(r, datasetFor(r), ae)),
        );
      }
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("reindex() reports unreadable files and older copies, and indexes the rest", async () => {
  await withTempDir(async (root) => {
    const good = makeRecord("1.62.1");
    const store = await openStore(root);
    try {
      await storeObject(store, good, datasetFor(good));
    } finally {
      await store.close();
    }
    const home = await homePathFor(good);
    const bytes = await Deno.readFile(`${root}/${home}`);
    await Deno.mkdir(`${root}/stray`);
    await Deno.writeFile(`${root}/stray/cut.dcm`, bytes.subarray(0, 200));
    await Deno.writeTextFile(`${root}/stray/notes.txt`, "hello");
    await Deno.writeFile(`${root}/stray/old.dcm`, bytes);
    await Deno.utime(`${root}/stray/old.dcm`, new Date(2000, 0, 1), new Date(2000, 0, 1));

    const result = await reindex(root, new MemoryLogger());
    assert.equal(result.indexed, 1);
    const reasons = Object.fromEntries(result.skipped.map((s) => [s.path, s.reason]));
    assert.deepEqual(Object.keys(reasons).sort(), [
      "stray/cut.dcm",
      "stray/notes.txt",
      "stray/old.dcm",
    ]);
    assert.match(reasons["stray/notes.txt"], /not a \.dcm file/);
    assert.match(reasons["stray/old.dcm"], /older copy/);
    const index = IndexDb.open(`${root}/index.sqlite`);
    try {
      assert.equal(index.getInstance("1.62.1")?.location.path, home);
    } finally {
      index.close();
    }
  });
});
