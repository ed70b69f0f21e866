import assert from "node:assert/strict";
import {
  copyTree,
  datasetFor,
  equalBytes,
  expectedPart10,
  listFiles,
  makeRecord,
  MemoryLogger,
  openStore,
  readAll,
  storeObject,
  withTempDir,
} from "./fixtures.ts";
import { homePathFor } from "../../src/storage/layout.ts";
import { scanSegment } from "../../src/storage/journal.ts";
import type { FsObjectStore } from "../../src/storage/object_store.ts";
import type { InstanceRecord } from "../../src/core/ports.ts";

const HOLD = { materializer: { idleMs: 3_600_000 } };

async function assertStored(store: FsObjectStore, record: InstanceRecord, dataset: Uint8Array) {
  const got = await store.readObject(record.sopInstanceUid);
  assert.ok(got, `${record.sopInstanceUid} present`);
  const bytes = await readAll(got.stream);
  assert.ok(
    equalBytes(bytes, expectedPart10(record, dataset, "MODALITY")),
    `${record.sopInstanceUid} intact`,
  );
}

Deno.test("a segment cut at any offset reopens with every committed record present and no partial file", async () => {
  await withTempDir(async (dir) => {
    const live = `${dir}/live`;
    const snapshot = `${dir}/snapshot`;
    const records = Array.from({ length: 5 }, (_, i) => makeRecord(`1.20.${i}`));
    const datasets = records.map((r, i) => datasetFor(r, 2000 + i * 999));
    const store = await openStore(live, HOLD);
    let segment = "";
    try {
      for (let i = 0; i < records.length; i++) await storeObject(store, records[i], datasets[i]);
      // A sixth object is streaming when the "crash" happens.
      const torn = makeRecord("1.20.99");
      const writer = await store.begin({
        assocId: "a1",
        callingAeTitle: "MODALITY",
        sopClassUid: torn.sopClassUid,
        sopInstanceUid: torn.sopInstanceUid,
        transferSyntaxUid: torn.transferSyntaxUid,
      });
      await writer.write(datasetFor(torn, 400_000));
      await copyTree(live, snapshot);
      await writer.abort();
      segment = (await listFiles(snapshot)).find((f) => f.startsWith("journal/"))!;
    } finally {
      await store.close();
    }
    const full = await Deno.readFile(`${snapshot}/${segment}`);
    const ends: number[] = [];
    for await (const item of scanSegment(snapshot, segment)) {
      if (item.kind === "record") ends.push(item.entry.recordEnd);
    }
    assert.equal(ends.length, 5);
    // Cuts in the torn tail (all committed records must survive), plus cuts into committed
    // records (as after a power cut with durability "none": those records are dropped).
    const cuts = [full.length, ends[4], ends[4] + 1, ends[4] + 17, ends[4] + 200];
    for (let c = ends[4] + 4096; c < full.length; c += 37_111) cuts.push(c);
    for (let c = 16; c < ends[4]; c += 1_301) cuts.push(c);
    assert.ok(cuts.length >= 20);

    for (const cut of cuts) {
      const root = `${dir}/cut-${cut}`;
      await copyTree(snapshot, root);
      await Deno.truncate(`${root}/${segment}`, cut);
      const logger = new MemoryLogger();
      const reopened = await openStore(root, { logger });
      try {
        const kept = ends.filter((e) => e <= cut).length;
        for (let i = 0; i < records.length; i++) {
          if (i < kept) await assertStored(reopened, records[i], datasets[i]);
          else {assert.equal(
              await reopened.readObject(records[i].sopInstanceUid),
              null,
              `cut ${cut}`,
            );}
        }
        assert.equal(reopened.getInstance("1.20.99"), undefined);
        assert.equal(reopened.counts().instances, kept, `cut ${cut}`);
        await reopened.drain();
        const files = (await listFiles(root)).filter((f) => !f.startsWith("index.sqlite"));
        const homes = await Promise.all(records.slice(0, kept).map((r) => homePathFor(r)));
        assert.deepEqual(files, homes.sort(), `cut ${cut}: only complete home files remain`);
        for (let i = 0; i < kept; i++) {
          const bytes = await Deno.readFile(`${root}/${homes[i]}`);
          assert.ok(equalBytes(bytes, expectedPart10(records[i], datasets[i], "MODALITY")));
        }
      } finally {
        await reopened.close();
        await Deno.remove(root, { recursive: true });
      }
    }
  });
});

Deno.test("recovery re-indexes committed records that the index lost", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/store`;
    await (await openStore(root)).close();
    await copyTree(root, `${dir}/empty-index`);
    const records = Array.from({ length: 4 }, (_, i) => makeRecord(`1.21.${i}`));
    const store = await openStore(root, HOLD);
    try {
      for (const r of records) await storeObject(store, r, datasetFor(r));
      await copyTree(`${root}/journal`, `${dir}/empty-index/journal`);
    } finally {
      await store.close();
    }
    const logger = new MemoryLogger();
    const reopened = await openStore(`${dir}/empty-index`, { logger });
    try {
      assert.equal(reopened.counts().instances, 4);
      for (const r of records) await assertStored(reopened, r, datasetFor(r));
      const line = logger.lines.find((l) => l.message === "storage recovery done");
      assert.equal(line?.fields?.replayed, 4);
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("recovery keeps the newest version when a materialized segment is still on disk", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/store`;
    const v1 = makeRecord("1.22.1", { studyInstanceUid: "1.22", seriesInstanceUid: "1.22.1" });
    const v2 = makeRecord("1.22.1", { studyInstanceUid: "1.23", seriesInstanceUid: "1.23.1" });
    const other = makeRecord("1.22.2", { studyInstanceUid: "1.22", seriesInstanceUid: "1.22.1" });
    const store = await openStore(root, HOLD);
    try {
      await storeObject(store, v1, datasetFor(v1, 100), { assocId: "a1" });
      await storeObject(store, other, datasetFor(other, 100), { assocId: "a1" });
      await store.drain(); // home files written; segment a1 stays (association open)
      await storeObject(store, v2, datasetFor(v2, 300), { assocId: "a2" });
      await copyTree(root, `${dir}/crash`);
    } finally {
      await store.close();
    }
    const reopened = await openStore(`${dir}/crash`);
    try {
      await reopened.drain();
      await assertStored(reopened, v2, datasetFor(v2, 300));
      await assertStored(reopened, other, datasetFor(other, 100));
      const files = (await listFiles(`${dir}/crash`)).filter((f) => !f.startsWith("index.sqlite"));
      assert.deepEqual(files, [await homePathFor(other), await homePathFor(v2)].sort());
      assert.deepEqual(
        [reopened.counts().studies, reopened.counts().instances],
        [2, 2],
      );
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("open() removes temp files left by a crash mid-materialization", async () => {
  await withTempDir(async (root) => {
    await (await openStore(root)).close();
    await Deno.writeFile(`${root}/tmp/123-1.tmp`, new Uint8Array(10));
    await Deno.writeFile(`${root}/tmp/124-2.tmp`, new Uint8Array(10));
    const logger = new MemoryLogger();
    const store = await openStore(root, { logger });
    try {
      assert.deepEqual(await listFiles(`${root}/tmp`), []);
      const line = logger.lines.find((l) => l.message === "storage recovery done");
      assert.equal(line?.fields?.removedTempFiles, 2);
    } finally {
      await store.close();
    }
  });
});
