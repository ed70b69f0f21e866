// The materializer: journaled objects reach their home files in quiet moments, or once the
// backlog passes its bound, and finished journal segments go.
import assert from "node:assert/strict";
import { homePathFor } from "../../src/storage/layout.ts";
import {
  datasetFor,
  equalBytes,
  expectedPart10,
  listFiles,
  makeRecord,
  openStore,
  readAll,
  storeObject,
  withTempDir,
} from "./fixtures.ts";

Deno.test("the materializer waits for a quiet moment, then moves objects home on its own", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root, { materializer: { idleMs: 250 } });
    try {
      const r = makeRecord("1.11.1");
      await storeObject(store, r, datasetFor(r));
      const home = `${root}/${await homePathFor(r)}`;
      // Right after the commit nothing is materialized yet (ingest has priority).
      await assert.rejects(Deno.stat(home), Deno.errors.NotFound);
      assert.equal(store.backlog.objects, 1);
      let found = false;
      for (let i = 0; i < 150 && !found; i++) {
        await new Promise((ok) => setTimeout(ok, 20));
        found = store.getInstance("1.11.1")?.location.kind === "home";
      }
      assert.ok(found, "object materialized within 3 s of idling");
      await Deno.stat(home);
    } finally {
      await store.close();
    }
  });
});

Deno.test("drain() brings home only the newest copy of an object stored twice, dated when received", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root, {
      durability: "none",
      materializer: { idleMs: 3_600_000 },
    });
    try {
      const first = makeRecord("1.14.1");
      const second = makeRecord("1.14.1", { seriesDescription: "again" });
      await storeObject(store, first, datasetFor(first, 5000));
      await storeObject(store, second, datasetFor(second, 7000));
      assert.equal(store.backlog.objects, 2);
      await store.endAssociation("a1");
      await store.drain();
      assert.equal(store.backlog.objects, 0);
      const path = `${root}/${await homePathFor(second)}`;
      const home = await Deno.readFile(path);
      assert.ok(equalBytes(home, expectedPart10(second, datasetFor(second, 7000), "MODALITY")));
      // Without durability there is no segment pool: the ended segment is deleted.
      assert.deepEqual((await listFiles(root)).filter((f) => f.startsWith("journal/")), []);
      const stored = await store.readObject("1.14.1");
      assert.ok(stored && equalBytes(await readAll(stored.stream), home));
      const row = store.getInstance("1.14.1")!;
      assert.equal(row.location.kind, "home");
      const mtime = (await Deno.stat(path)).mtime!.getTime();
      assert.ok(Math.abs(mtime - Date.parse(row.meta.receivedAt)) < 1000, "dated when received");
    } finally {
      await store.close();
    }
  });
});

Deno.test("a long association rolls over to new segments and materialized ones are deleted while it goes on", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root, {
      segmentMaxBytes: 1,
      materializer: { idleMs: 3_600_000 },
    });
    try {
      const records = [1, 2, 3].map((i) => makeRecord(`1.12.${i}`));
      for (const r of records) await storeObject(store, r, datasetFor(r));
      const segments = (await listFiles(root)).filter((f) => f.startsWith("journal/"));
      assert.equal(segments.length, 3, "one segment per object at this size limit");
      await store.drain();
      // Only the segment still taking records remains.
      const left = (await listFiles(root)).filter((f) => f.startsWith("journal/"));
      assert.deepEqual(left, [segments.sort().at(-1)]);
      for (const r of records) {
        const got = await store.readObject(r.sopInstanceUid);
        assert.ok(
          got &&
            equalBytes(await readAll(got.stream), expectedPart10(r, datasetFor(r), "MODALITY")),
        );
      }
    } finally {
      await store.close();
    }
  });
});

Deno.test("a batch from many segments goes home bit for bit through parallel copies, and a failed pass leaves every object in the journal and no temp file", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root, {
      segmentMaxBytes: 1,
      materializer: { idleMs: 3_600_000 },
    });
    try {
      const records = [1, 2, 3, 4, 5, 6, 7].map((i) => makeRecord(`1.15.${i}`));
      const sizes = [100, 70_000, 3, 1_500_000, 9_000, 260_000, 40];
      for (const [k, r] of records.entries()) await storeObject(store, r, datasetFor(r, sizes[k]));
      // No temp file can be made: the pass fails in every copy, and nothing moves.
      await Deno.remove(`${root}/tmp`, { recursive: true });
      await Deno.writeTextFile(`${root}/tmp`, "not a folder");
      await assert.rejects(store.drain());
      assert.equal(store.backlog.objects, records.length);
      for (const r of records) {
        assert.equal(store.getInstance(r.sopInstanceUid)?.location.kind, "journal");
        await assert.rejects(Deno.stat(`${root}/${await homePathFor(r)}`), Deno.errors.NotFound);
      }
      await Deno.remove(`${root}/tmp`);
      await Deno.mkdir(`${root}/tmp`);
      await store.drain();
      assert.equal(store.backlog.objects, 0);
      assert.deepEqual(await listFiles(`${root}/tmp`), []);
      for (const [k, r] of records.entries()) {
        const home = await Deno.readFile(`${root}/${await homePathFor(r)}`);
        assert.ok(equalBytes(home, expectedPart10(r, datasetFor(r, sizes[k]), "MODALITY")));
        assert.equal(store.getInstance(r.sopInstanceUid)?.location.kind, "home");
      }
    } finally {
      await store.close();
    }
  });
});
