import assert from "node:assert/strict";
import { statfs } from "node:fs/promises";
import { DatabaseSync } from "node:sqlite";
import {
  datasetFor,
  equalBytes,
  expectedPart10,
  listFiles,
  makeRecord,
  MR_IMAGE,
  openStore,
  readAll,
  storeObject,
  withTempDir,
} from "./fixtures.ts";
import { homePathFor } from "../../src/storage/layout.ts";

Deno.test("commit() makes the object readable as file meta + dataset, then byte-identical in its home file", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root, { materializer: { idleMs: 60_000 } });
    try {
      const record = makeRecord("1.2.3.1.1.1");
      const dataset = datasetFor(record, 300_001);
      const result = await storeObject(store, record, dataset, {
        chunks: [1, 7, 4096, 13, 65536, 3, 262_145],
        callingAe: "CT_SCANNER",
      });
      assert.equal(result, "stored");
      const expected = expectedPart10(record, dataset, "CT_SCANNER");

      const row = store.getInstance(record.sopInstanceUid);
      assert.ok(row);
      assert.equal(row.location.kind, "journal");
      assert.equal(row.location.length, expected.length);
      assert.deepEqual(row.record, record);
      assert.equal(row.meta.callingAe, "CT_SCANNER");
      assert.equal(row.meta.size, expected.length);
      const fromJournal = await store.readObject(record.sopInstanceUid);
      assert.ok(fromJournal);
      assert.equal(fromJournal.transferSyntaxUid, record.transferSyntaxUid);
      assert.equal(fromJournal.sopClassUid, record.sopClassUid);
      assert.equal(fromJournal.length, expected.length);
      assert.ok(equalBytes(await readAll(fromJournal.stream), expected));
      const again = await store.readObject(record.sopInstanceUid);
      assert.ok(again);
      const into = new Uint8Array(expected.length + 100).fill(0xee);
      assert.ok(equalBytes(await again.readAll(into), expected));

      await store.endAssociation("a1");
      await store.drain();
      const home = await homePathFor(record);
      assert.equal(home, "1.2.3.1/1.2.3.1.1/1.2.3.1.1.1.dcm");
      assert.ok(equalBytes(await Deno.readFile(`${root}/${home}`), expected));
      const after = store.getInstance(record.sopInstanceUid);
      assert.deepEqual(after?.location, {
        kind: "home",
        path: home,
        offset: 0,
        length: expected.length,
      });
      const fromHome = await store.readObject(record.sopInstanceUid);
      assert.ok(fromHome && equalBytes(await readAll(fromHome.stream), expected));
      // The segment is gone once materialized and its association ended.
      assert.deepEqual(
        (await listFiles(root)).filter((f) => !f.startsWith("index.sqlite")),
        [home],
      );
    } finally {
      await store.close();
    }
  });
});

Deno.test("objects survive close() and reopen with their bytes and counts", async () => {
  await withTempDir(async (root) => {
    const records = Array.from({ length: 12 }, (_, i) =>
      makeRecord(`1.2.3.9.${i}`, {
        seriesInstanceUid: `1.2.3.9.${i % 3}`,
        studyInstanceUid: `1.2.3.${(i % 3) % 2}`, // each series in one study
      }));
    let store = await openStore(root);
    try {
      for (const r of records) {
        assert.equal(
          await storeObject(store, r, datasetFor(r, 1000 + r.sopInstanceUid.length)),
          "stored",
        );
      }
    } finally {
      await store.close();
    }
    store = await openStore(root);
    try {
      assert.deepEqual(
        { ...store.counts(), bytes: 0, storedBytes: 0 },
        { patients: 1, studies: 2, series: 3, instances: 12, bytes: 0, storedBytes: 0 },
      );
      for (const r of records) {
        const got = await store.readObject(r.sopInstanceUid);
        assert.ok(got);
        const expected = expectedPart10(
          r,
          datasetFor(r, 1000 + r.sopInstanceUid.length),
          "MODALITY",
        );
        assert.ok(equalBytes(await readAll(got.stream), expected));
      }
      assert.equal(await store.readObject("9.9.9"), null);
    } finally {
      await store.close();
    }
  });
});

Deno.test("overwrite moving an instance to another study keeps counts right and drops the old home file", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root);
    try {
      const a = makeRecord("1.5.1", { studyInstanceUid: "1.5", seriesInstanceUid: "1.5.0" });
      const b = makeRecord("1.5.2", { studyInstanceUid: "1.5", seriesInstanceUid: "1.5.0" });
      await storeObject(store, a, datasetFor(a));
      await storeObject(store, b, datasetFor(b));
      await store.drain();
      const oldHome = await homePathFor(a);
      await Deno.stat(`${root}/${oldHome}`);

      const moved = makeRecord("1.5.1", {
        patientId: "PID2",
        patientName: "Roe^Rick",
        studyInstanceUid: "1.6",
        seriesInstanceUid: "1.6.0",
        modality: "MR",
        sopClassUid: MR_IMAGE,
      });
      const movedData = datasetFor(moved, 777);
      assert.equal(await storeObject(store, moved, movedData, { assocId: "a2" }), "stored");
      const c = store.counts();
      assert.deepEqual([c.patients, c.studies, c.series, c.instances], [2, 2, 2, 2]);
      await assert.rejects(Deno.stat(`${root}/${oldHome}`), Deno.errors.NotFound);

      const reader = store.openReader();
      try {
        const studies = reader.prepare(
          `SELECT study_instance_uid AS uid, num_series AS s, num_instances AS i,
             modalities_in_study AS m, sop_classes_in_study AS c FROM study ORDER BY uid`,
        ).all().map((r) => ({ ...r }));
        assert.deepEqual(studies, [
          { uid: "1.5", s: 1, i: 1, m: "CT", c: "1.2.840.10008.5.1.4.1.1.2" },
          { uid: "1.6", s: 1, i: 1, m: "MR", c: MR_IMAGE },
        ]);
      } finally {
        reader.close();
      }
      await store.endAssociation("a2");
      await store.drain();
      const got = await store.readObject("1.5.1");
      assert.ok(got);
      assert.equal(got.sopClassUid, MR_IMAGE);
      assert.ok(
        equalBytes(await readAll(got.stream), expectedPart10(moved, movedData, "MODALITY")),
      );
      assert.ok(equalBytes(
        await Deno.readFile(`${root}/${await homePathFor(moved)}`),
        expectedPart10(moved, movedData, "MODALITY"),
      ));
    } finally {
      await store.close();
    }
  });
});

for (const policy of ["ignore", "reject"] as const) {
  Deno.test(`duplicates="${policy}" keeps the stored copy and reports it, also after reopen`, async () => {
    await withTempDir(async (root) => {
      const first = makeRecord("1.7.1");
      const firstData = datasetFor(first, 100);
      const second = makeRecord("1.7.1", { studyDescription: "changed" });
      let store = await openStore(root, { duplicates: policy });
      try {
        assert.equal(await storeObject(store, first, firstData), "stored");
        const outcome = await storeObject(store, second, datasetFor(second, 5000));
        assert.equal(outcome, policy === "ignore" ? "duplicate-ignored" : "duplicate-rejected");
        assert.equal(store.getInstance("1.7.1")?.record.studyDescription, "Chest");
      } finally {
        await store.close();
      }
      store = await openStore(root, { duplicates: "overwrite" });
      try {
        assert.equal(store.counts().instances, 1);
        const got = await store.readObject("1.7.1");
        assert.ok(
          got &&
            equalBytes(await readAll(got.stream), expectedPart10(first, firstData, "MODALITY")),
        );
        assert.equal(store.getInstance("1.7.1")?.record.studyDescription, "Chest");
      } finally {
        await store.close();
      }
    });
  });
}

Deno.test('duplicates="overwrite" replaces the object and counts stay right', async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root);
    try {
      const v1 = makeRecord("1.8.1");
      const v2 = makeRecord("1.8.1", { instanceNumber: "42" });
      const v2Data = datasetFor(v2, 2222);
      await storeObject(store, v1, datasetFor(v1));
      await store.drain();
      assert.equal(await storeObject(store, v2, v2Data), "stored");
      assert.equal(store.counts().instances, 1);
      await store.drain();
      const got = await store.readObject("1.8.1");
      assert.ok(
        got && equalBytes(await readAll(got.stream), expectedPart10(v2, v2Data, "MODALITY")),
      );
      assert.equal(store.getInstance("1.8.1")?.record.instanceNumber, "42");
    } finally {
      await store.close();
    }
  });
});

Deno.test("begin() refuses a second object on an association while one is open", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root);
    try {
      const r = makeRecord("1.10.1");
      const incoming = {
        assocId: "a1",
        callingAeTitle: "X",
        sopClassUid: r.sopClassUid,
        sopInstanceUid: r.sopInstanceUid,
        transferSyntaxUid: r.transferSyntaxUid,
      };
      const w = await store.begin(incoming);
      await assert.rejects(store.begin({ ...incoming, sopInstanceUid: "1.10.2" }), /in progress/);
      // Another association is independent.
      const other = await store.begin({ ...incoming, assocId: "a2", sopInstanceUid: "1.10.3" });
      await other.abort();
      await w.write(datasetFor(r));
      assert.equal(await w.commit(r), "stored");
      const again = await store.begin({ ...incoming, sopInstanceUid: "1.10.4" });
      await again.abort();
    } finally {
      await store.close();
    }
  });
});

Deno.test("hostile UIDs are stored inside the storage tree only", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/store`;
    const store = await openStore(root);
    try {
      const record = makeRecord("../../x", {
        studyInstanceUid: "1.2/../../3",
        seriesInstanceUid: "..",
      });
      const data = datasetFor(record, 64);
      assert.equal(await storeObject(store, record, data, { assocId: "../../evil" }), "stored");
      await store.endAssociation("../../evil");
      await store.drain();
      const home = await homePathFor(record);
      assert.match(home, /^h[0-9a-f]{64}\/h[0-9a-f]{64}\/h[0-9a-f]{64}\.dcm$/);
      const got = await store.readObject("../../x");
      assert.ok(
        got && equalBytes(await readAll(got.stream), expectedPart10(record, data, "MODALITY")),
      );
      const outside = [];
      for await (const e of Deno.readDir(dir)) outside.push(e.name);
      assert.deepEqual(outside, ["store"]);
      assert.ok((await listFiles(root)).includes(home));
    } finally {
      await store.close();
    }
  });
});

Deno.test("freeBytes() reports the free space of the storage volume", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root);
    try {
      const free = await store.freeBytes();
      const s = await statfs(root);
      const expected = Number(s.bavail) * Number(s.bsize);
      assert.ok(free > 0);
      assert.ok(Math.abs(free - expected) < 1024 * 1024 * 1024, `${free} vs ${expected}`);
    } finally {
      await store.close();
    }
  });
});

Deno.test("objects committed at once on several associations are findable when answered, a series under another study refused", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root, { materializer: { idleMs: 60_000 } });
    const reader = store.openReader();
    const found = (uid: string) =>
      (reader.prepare("SELECT count(*) AS n FROM instance WHERE sop_instance_uid = ?")
        .get(uid) as { n: number }).n;
    try {
      const first = makeRecord("1.2.3.1.1.1");
      assert.equal(await storeObject(store, first, datasetFor(first, 20_000)), "stored");
      const records = Array.from(
        { length: 8 },
        (_, k) => makeRecord(`1.2.3.1.1.${k + 2}`, k === 5 ? { studyInstanceUid: "1.2.3.9" } : {}),
      );
      const seen: Record<string, { result: string; found: number }> = {};
      await Promise.all(
        records.map((r, k) =>
          storeObject(store, r, datasetFor(r, 20_000 + 4099 * k), { assocId: `a${k}` })
            .then((result) => {
              // Read by another connection as the answer would go out.
              seen[r.sopInstanceUid] = { result, found: found(r.sopInstanceUid) };
            })
        ),
      );
      for (const [k, r] of records.entries()) {
        assert.deepEqual(
          seen[r.sopInstanceUid],
          k === 5 ? { result: "series-in-other-study", found: 0 } : { result: "stored", found: 1 },
          r.sopInstanceUid,
        );
      }
      assert.equal(store.counts().instances, 8);
      assert.equal(store.counts().studies, 1);
    } finally {
      reader.close();
      await store.close();
    }
  });
});

Deno.test("an index row that fails fails only its own store among those committed together", async () => {
  await withTempDir(async (root) => {
    const bad = "1.2.3.1.1.4";
    const store = await openStore(root, {
      materializer: { idleMs: 60_000 },
      onIndexOpen: (index) =>
        index.onInstanceWritten((record) => {
          if (record.sopInstanceUid === bad) throw new Error("index write refused");
        }),
    });
    try {
      const records = Array.from({ length: 6 }, (_, k) => makeRecord(`1.2.3.1.1.${k + 1}`));
      const results = await Promise.allSettled(
        records.map((r, k) =>
          storeObject(store, r, datasetFor(r, 20_000 + 4099 * k), { assocId: `a${k}` })
        ),
      );
      assert.deepEqual(
        results.map((r) => r.status === "fulfilled" ? r.value : String(r.reason)),
        records.map((r) => r.sopInstanceUid === bad ? "Error: index write refused" : "stored"),
      );
      assert.equal(store.getInstance(bad), undefined);
      assert.equal(store.counts().instances, 5);
    } finally {
      await store.close();
    }
  });
});

Deno.test("once the materializer has caught up, index.sqlite alone holds every row (WAL checkpointed)", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root, { materializer: { idleMs: 60_000 } });
    try {
      for (let k = 1; k <= 10; k++) {
        const r = makeRecord(`1.2.3.1.1.${k}`);
        assert.equal(await storeObject(store, r, datasetFor(r, 10_000)), "stored");
      }
      await store.drain();
      // A copy of the database file without its WAL, as a file-level backup would take it.
      await Deno.mkdir(`${root}/copy`);
      await Deno.copyFile(`${root}/index.sqlite`, `${root}/copy/index.sqlite`);
      const copy = new DatabaseSync(`${root}/copy/index.sqlite`);
      try {
        const row = copy.prepare(
          "SELECT count(*) AS n, sum(loc_kind = 'home') AS home FROM instance",
        ).get();
        assert.deepEqual({ ...row }, { n: 10, home: 10 });
      } finally {
        copy.close();
      }
    } finally {
      await store.close();
    }
  });
});
