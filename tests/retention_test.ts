// Retention by age: exactly the studies whose newest instance is older than N days go, files
// and index rows together; everything else stays byte for byte.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runRetention, scheduleRetention } from "../src/retention.ts";
import type { InstanceRecord } from "../src/core/ports.ts";
import { homePathFor } from "../src/storage/layout.ts";
import {
  datasetFor,
  listFiles,
  makeRecord,
  MemoryLogger,
  openStore,
  storeObject,
  withTempDir,
} from "./storage/fixtures.ts";

const NOW = new Date("2026-06-30T12:00:00.000Z");
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000).toISOString();

/** [record, days since it was received] */
function objects(): [InstanceRecord, number][] {
  const at = (sop: string, study: string, series: string, over: Partial<InstanceRecord> = {}) =>
    makeRecord(sop, { studyInstanceUid: study, seriesInstanceUid: series, ...over });
  return [
    // Study 1.81: every instance old -> deleted (two series).
    [at("1.81.1.1", "1.81", "1.81.1"), 45],
    [at("1.81.2.1", "1.81", "1.81.2"), 40],
    // Study 1.82: one old instance but the newest is recent -> kept whole.
    [at("1.82.1.1", "1.82", "1.82.1"), 400],
    [at("1.82.1.2", "1.82", "1.82.1"), 3],
    // Study 1.83: recent -> kept.
    [at("1.83.1.1", "1.83", "1.83.1", { patientId: "P2", patientName: "Roe^Richard" }), 10],
    // Study 1.84: just past the limit, another patient -> deleted with its patient.
    [at("1.84.1.1", "1.84", "1.84.1", { patientId: "P3", patientName: "Poe^Edgar" }), 30.01],
  ];
}

Deno.test("runRetention() deletes exactly the expired studies, files and rows", async () => {
  await withTempDir(async (root) => {
    const logger = new MemoryLogger();
    const store = await openStore(root, { logger });
    try {
      for (const [record] of objects()) {
        await storeObject(store, record, datasetFor(record, 2048));
      }
      await store.drain();
      // Backdate each instance as if received long ago.
      const db = new DatabaseSync(`${root}/index.sqlite`);
      const set = db.prepare("UPDATE instance SET received_at = ? WHERE sop_instance_uid = ?");
      for (const [record, age] of objects()) set.run(daysAgo(age), record.sopInstanceUid);
      db.close();
      const kept = objects().filter(([r]) => !["1.81", "1.84"].includes(r.studyInstanceUid));
      const keptBytes = new Map<string, Uint8Array>();
      for (const [r] of kept) {
        keptBytes.set(r.sopInstanceUid, await Deno.readFile(`${root}/${await homePathFor(r)}`));
      }

      const result = await runRetention(store, 30, NOW, logger);

      assert.deepEqual(result, { studies: ["1.81", "1.84"], instances: 3 });
      for (const [r] of objects()) {
        const gone = r.studyInstanceUid === "1.81" || r.studyInstanceUid === "1.84";
        const row = store.index.getInstance(r.sopInstanceUid);
        assert.equal(row === undefined, gone, `row of ${r.sopInstanceUid}`);
        const file = `${root}/${await homePathFor(r)}`;
        if (gone) await assert.rejects(Deno.stat(file), Deno.errors.NotFound);
        else assert.deepEqual(await Deno.readFile(file), keptBytes.get(r.sopInstanceUid));
      }
      // Their folders went too; nothing else on disk changed.
      const files = (await listFiles(root)).filter((f) => f.endsWith(".dcm"));
      assert.deepEqual(files.map((f) => f.split("/")[0]).sort(), ["1.82", "1.82", "1.83"]);
      await assert.rejects(Deno.stat(`${root}/1.81`), Deno.errors.NotFound);
      const counts = store.index.counts();
      assert.deepEqual(
        [counts.patients, counts.studies, counts.series, counts.instances],
        [2, 2, 2, 3],
      );
      // One info line per deleted study, naming the UID and no patient data.
      const lines = logger.lines.filter((l) => l.message === "retention: study deleted");
      assert.deepEqual(lines.map((l) => [l.level, l.fields?.study]), [
        ["info", "1.81"],
        ["info", "1.84"],
      ]);
      assert.ok(!JSON.stringify(logger.lines).includes("Poe^Edgar"));
    } finally {
      await store.close();
    }
  });
});

Deno.test("runRetention() with 0 days, or nothing old enough, deletes nothing", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root);
    try {
      const record = makeRecord("1.85.1.1", { studyInstanceUid: "1.85" });
      await storeObject(store, record, datasetFor(record, 256));
      assert.deepEqual(await runRetention(store, 0), { studies: [], instances: 0 });
      assert.deepEqual(await runRetention(store, 1), { studies: [], instances: 0 });
      // A day and a bit later it is due.
      const later = new Date(Date.now() + 1.01 * 86_400_000);
      assert.deepEqual(await runRetention(store, 1, later), { studies: ["1.85"], instances: 1 });
      assert.equal(store.index.counts().instances, 0);
    } finally {
      await store.close();
    }
  });
});

Deno.test("scheduleRetention() runs after the first delay, then each interval, until stopped", async () => {
  await withTempDir(async (root) => {
    const logger = new MemoryLogger();
    const store = await openStore(root, { logger });
    try {
      const schedule = scheduleRetention(store, 7, logger, { firstDelayMs: 20, intervalMs: 30 });
      const runs = () => logger.lines.filter((l) => l.message === "retention done").length;
      assert.equal(runs(), 0, "nothing runs at once");
      for (let i = 0; i < 200 && runs() < 3; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(runs() >= 3, `ran ${runs()} times`);
      await schedule.stop();
      const stoppedAt = runs();
      await new Promise((r) => setTimeout(r, 80));
      assert.equal(runs(), stoppedAt, "no run after stop()");
    } finally {
      await store.close();
    }
  });
});
