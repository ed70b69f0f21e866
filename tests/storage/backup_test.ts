// Backup of a storage folder in use: objects still in the journal are copied out of it (checked
// against their records), the copy needs no journal, and restore reads every object back.
import assert from "node:assert/strict";
import { backupStorage, restoreStorage } from "../../src/storage/backup.ts";
import { readCommittedRecord } from "../../src/storage/journal.ts";
import {
  datasetFor,
  equalBytes,
  expectedPart10,
  IMPL_UID,
  IMPL_VERSION,
  listFiles,
  makeRecord,
  MemoryLogger,
  openStore,
  readAll,
  storeObject,
  withTempDir,
} from "./fixtures.ts";

const HOLD = { materializer: { idleMs: 3_600_000 } };

Deno.test("backup: journal and home objects become home files; restore reads them back", async () => {
  await withTempDir(async (dir) => {
    const live = `${dir}/live`;
    const records = Array.from({ length: 6 }, (_, i) => makeRecord(`1.40.${i + 1}`));
    const datasets = records.map((r, i) => datasetFor(r, 3000 + 500 * i));
    const store = await openStore(live, HOLD);
    try {
      for (let i = 0; i < 3; i++) await storeObject(store, records[i], datasets[i]);
      await store.drain(); // three at home
      for (let i = 3; i < 6; i++) await storeObject(store, records[i], datasets[i]); // three in the journal
      const r = await backupStorage(live, `${dir}/backup`, new MemoryLogger());
      assert.deepEqual([r.instances, r.fromJournal, r.deletedMeanwhile], [6, 3, 0]);
    } finally {
      await store.close();
    }
    const files = await listFiles(`${dir}/backup`);
    assert.ok(!files.some((f) => f.startsWith("journal/")), "no journal in the backup");
    assert.ok(files.includes("index.sqlite") && files.includes("backup.json"));
    assert.equal(files.filter((f) => f.endsWith(".dcm")).length, 6);

    const restored = await restoreStorage(`${dir}/backup`, `${dir}/restored`, new MemoryLogger(), {
      implementationClassUid: IMPL_UID,
      implementationVersionName: IMPL_VERSION,
    });
    assert.equal(restored.instances, 6);
    const after = await openStore(`${dir}/restored`);
    try {
      for (const [i, r] of records.entries()) {
        const got = await after.readObject(r.sopInstanceUid);
        assert.ok(got);
        assert.ok(
          equalBytes(await readAll(got.stream), expectedPart10(r, datasets[i], "MODALITY")),
        );
      }
    } finally {
      await after.close();
    }
    await assert.rejects(
      () => backupStorage(`${dir}/live`, `${dir}/backup`, new MemoryLogger()),
      /is not empty/,
    );
  });
});

Deno.test("readCommittedRecord() refuses a record that is not the one indexed", async () => {
  await withTempDir(async (dir) => {
    const store = await openStore(dir, HOLD);
    try {
      const r = makeRecord("1.41.1");
      await storeObject(store, r, datasetFor(r));
      const row = store.getInstance("1.41.1")!;
      const file = await Deno.open(`${dir}/${row.location.path}`, { read: true });
      try {
        const { offset, length } = row.location;
        const ok = await readCommittedRecord(file, offset, length, row.meta.seq);
        assert.ok(ok && equalBytes(ok, expectedPart10(r, datasetFor(r), "MODALITY")));
        assert.equal(await readCommittedRecord(file, offset, length, row.meta.seq + 1), null);
        assert.equal(await readCommittedRecord(file, offset + 2, length, row.meta.seq), null);
      } finally {
        file.close();
      }
    } finally {
      await store.close();
    }
  });
});
