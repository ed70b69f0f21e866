// Retention by age: exactly the studies whose newest instance is older than N days go, files
// and index rows together; everything else stays byte for byte. Retention by free space: the
// studies received longest ago go, one at a time, until a (simulated) disk has room again.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  runFreeSpaceRetention,
  runRetention,
  scheduleRetention,
} from "../../src/storage/retention.ts";
import type { InstanceRecord } from "../../src/core/ports.ts";
import { homePathFor } from "../../src/storage/layout.ts";
import { startMiniPacs } from "../helpers/server.ts";
import {
  datasetFor,
  listFiles,
  makeRecord,
  MemoryLogger,
  openStore,
  storeObject,
  withTempDir,
} from "../storage/fixtures.ts";

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
        const row = store.getInstance(r.sopInstanceUid);
        assert.equal(row === undefined, gone, `row of ${r.sopInstanceUid}`);
        const file = `${root}/${await homePathFor(r)}`;
        if (gone) await assert.rejects(Deno.stat(file), Deno.errors.NotFound);
        else assert.deepEqual(await Deno.readFile(file), keptBytes.get(r.sopInstanceUid));
      }
      // Their folders went too; nothing else on disk changed.
      const files = (await listFiles(root)).filter((f) => f.endsWith(".dcm"));
      assert.deepEqual(files.map((f) => f.split("/")[0]).sort(), ["1.82", "1.82", "1.83"]);
      await assert.rejects(Deno.stat(`${root}/1.81`), Deno.errors.NotFound);
      const counts = store.counts();
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
      assert.equal(store.counts().instances, 0);
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
      const schedule = scheduleRetention(store, { days: 7, minFreeBytes: 0 }, logger, {
        firstDelayMs: 20,
        intervalMs: 30,
      });
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

const MIB = 1024 * 1024;

/**
 * Stores one instance per [study, seconds since it was received] and returns the store with
 * a simulated disk: 1000 MiB, of which each study takes 100 MiB.
 */
async function fillingDisk(
  root: string,
  studies: [string, number][],
  logger = new MemoryLogger(),
) {
  const store = await openStore(root, { logger });
  const now = new Date();
  for (const [study] of studies) {
    const record = makeRecord(`${study}.1.1`, {
      studyInstanceUid: study,
      seriesInstanceUid: `${study}.1`,
    });
    await storeObject(store, record, datasetFor(record, 256));
  }
  await store.drain();
  const db = new DatabaseSync(`${root}/index.sqlite`);
  const set = db.prepare("UPDATE instance SET received_at = ? WHERE sop_instance_uid = ?");
  for (const [study, ageS] of studies) {
    set.run(new Date(now.getTime() - ageS * 1000).toISOString(), `${study}.1.1`);
  }
  db.close();
  let calls = 0;
  const freeBytes = () => {
    calls++;
    return Promise.resolve((1000 - 100 * store.counts().studies) * MIB);
  };
  const left = () =>
    studies.map(([s]) => s).filter((s) => store.getInstance(`${s}.1.1`) !== undefined);
  return { store, logger, now, freeBytes, calls: () => calls, left };
}

const HOUR = 3600;

Deno.test("runFreeSpaceRetention() deletes the oldest studies first and stops once above", async () => {
  await withTempDir(async (root) => {
    // Six studies: 400 MiB free. By the time of their newest image: 2.3, 2.1, 2.5, 2.2, ...
    const d = await fillingDisk(root, [
      ["2.1", 48 * HOUR],
      ["2.2", 2 * HOUR],
      ["2.3", 90 * 24 * HOUR],
      ["2.4", 30],
      ["2.5", 24 * HOUR],
      ["2.6", 10],
    ]);
    try {
      const r = await runFreeSpaceRetention(d.store, {
        minFreeBytes: 650 * MIB,
        freeBytes: d.freeBytes,
        now: d.now,
        logger: d.logger,
      });
      // 400 -> 500 -> 600 -> 700 MiB: three studies, the oldest, and no more.
      assert.deepEqual(r.studies, ["2.3", "2.1", "2.5"]);
      assert.equal(r.instances, 3);
      assert.equal(r.freeBytes, 700 * MIB);
      assert.equal(r.below, false);
      assert.deepEqual(d.left(), ["2.2", "2.4", "2.6"]);
      await assert.rejects(Deno.stat(`${root}/2.3`), Deno.errors.NotFound);
      // One info line per study (UID only), then the summary.
      const lines = d.logger.lines.filter((l) => l.message.startsWith("retention"));
      assert.deepEqual(lines.map((l) => [l.level, l.message, l.fields?.study]), [
        ["info", "retention: study deleted", "2.3"],
        ["info", "retention: study deleted", "2.1"],
        ["info", "retention: study deleted", "2.5"],
        ["info", "retention by free space done", undefined],
      ]);
      assert.deepEqual(lines[3].fields, {
        min_free_mb: 650,
        free_mb: 700,
        studies: 3,
        instances: 3,
      });
      assert.ok(!JSON.stringify(d.logger.lines).includes("Doe^Jane"), "no patient data");
    } finally {
      await d.store.close();
    }
  });
});

Deno.test("runFreeSpaceRetention() orders studies by their newest image, not their oldest", async () => {
  await withTempDir(async (root) => {
    const d = await fillingDisk(root, [["3.1", 10 * HOUR], ["3.2", 5 * HOUR]]);
    try {
      // Study 3.1 receives an image an hour ago: its first image is the oldest, but 3.2 goes.
      const late = makeRecord("3.1.1.2", { studyInstanceUid: "3.1", seriesInstanceUid: "3.1.1" });
      await storeObject(d.store, late, datasetFor(late, 256));
      await d.store.drain();
      const db = new DatabaseSync(`${root}/index.sqlite`);
      db.prepare("UPDATE instance SET received_at = ? WHERE sop_instance_uid = ?")
        .run(new Date(d.now.getTime() - HOUR * 1000).toISOString(), "3.1.1.2");
      db.close();
      const r = await runFreeSpaceRetention(d.store, {
        minFreeBytes: 850 * MIB,
        freeBytes: d.freeBytes,
        now: d.now,
      });
      assert.deepEqual(r.studies, ["3.2"]);
      assert.deepEqual(d.left(), ["3.1"]);
    } finally {
      await d.store.close();
    }
  });
});

Deno.test("runFreeSpaceRetention() spares studies that received an image in the last minute", async () => {
  await withTempDir(async (root) => {
    const d = await fillingDisk(root, [["4.1", 5], ["4.2", 2 * HOUR], ["4.3", 50]]);
    try {
      // Out of reach: every study old enough goes, the recent ones stay, and it says so.
      const r = await runFreeSpaceRetention(d.store, {
        minFreeBytes: 2000 * MIB,
        freeBytes: d.freeBytes,
        now: d.now,
        logger: d.logger,
      });
      assert.deepEqual(r.studies, ["4.2"]);
      assert.equal(r.below, true);
      assert.deepEqual(d.left(), ["4.1", "4.3"]);
      const last = d.logger.lines.at(-1)!;
      assert.equal(last.level, "warn");
      assert.match(last.message, /still below retention_min_free_mb/);
    } finally {
      await d.store.close();
    }
  });
});

Deno.test("runFreeSpaceRetention() does nothing when off or when there is room", async () => {
  await withTempDir(async (root) => {
    const d = await fillingDisk(root, [["5.1", 48 * HOUR], ["5.2", 24 * HOUR]]);
    try {
      // Off: free space is not even asked.
      const off = await runFreeSpaceRetention(d.store, {
        minFreeBytes: 0,
        freeBytes: () => Promise.reject(new Error("must not be called")),
        now: d.now,
      });
      assert.deepEqual(off, { studies: [], instances: 0, freeBytes: null, below: false });
      // 800 MiB free, threshold 800 MiB: not below, nothing goes.
      const room = await runFreeSpaceRetention(d.store, {
        minFreeBytes: 800 * MIB,
        freeBytes: d.freeBytes,
        now: d.now,
      });
      assert.deepEqual(room.studies, []);
      assert.equal(d.calls(), 1);
      assert.deepEqual(d.left(), ["5.1", "5.2"]);
    } finally {
      await d.store.close();
    }
  });
});

Deno.test("scheduleRetention() runs retention by free space on its schedule", async () => {
  await withTempDir(async (root) => {
    const d = await fillingDisk(root, [["6.1", 48 * HOUR], ["6.2", 24 * HOUR]]);
    try {
      const schedule = scheduleRetention(
        d.store,
        {
          days: 0,
          minFreeBytes: 850 * MIB,
          freeBytes: d.freeBytes,
        },
        d.logger,
        { firstDelayMs: 20, intervalMs: 60_000 },
      );
      assert.deepEqual(d.left(), ["6.1", "6.2"], "nothing runs at once");
      const done = () => d.logger.lines.some((l) => l.message === "retention by free space done");
      for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
      await schedule.stop();
      assert.ok(done(), "ran once after the first delay");
      assert.deepEqual(d.left(), ["6.2"]);
      assert.ok(!d.logger.lines.some((l) => l.message === "retention done"), "age: off");
    } finally {
      await d.store.close();
    }
  });
});

Deno.test({
  name: "the server reads retention_min_free_mb, warns when it is not above min_free_mb",
  ignore: Deno.build.os === "windows",
  async fn() {
    const pacs = await startMiniPacs({ storage: { min_free_mb: 5, retention_min_free_mb: 5 } });
    try {
      await pacs.waitForLog(
        /WARN\s+configuration: storage\.retention_min_free_mb \(5\) is not above storage\.min_free_mb \(5\)/,
      );
      // A storage key: a reload says it needs a restart.
      const config = `${pacs.dir}/config.toml`;
      const text = await Deno.readTextFile(config);
      await Deno.writeTextFile(
        config,
        text.replace("retention_min_free_mb = 5", "retention_min_free_mb = 50"),
      );
      pacs.child.kill("SIGHUP");
      await pacs.waitForLog(/needs a restart: storage\.retention_min_free_mb/);
    } finally {
      await pacs.cleanup();
    }
    // Above min_free_mb: no warning.
    const fine = await startMiniPacs({ storage: { min_free_mb: 5, retention_min_free_mb: 6 } });
    try {
      assert.doesNotMatch(fine.logs(), /retention_min_free_mb is not above/);
    } finally {
      await fine.cleanup();
    }
  },
});

Deno.test("scheduleRetention() checks free space more often than it runs retention by age", async () => {
  await withTempDir(async (root) => {
    const logger = new MemoryLogger();
    const store = await openStore(root, { logger });
    let checks = 0;
    const freeBytes = () => (checks++, Promise.resolve(1024 * MIB)); // always room
    try {
      const schedule = scheduleRetention(
        store,
        { days: 7, minFreeBytes: 100 * MIB, freeBytes },
        logger,
        { firstDelayMs: 10, intervalMs: 60_000, freeSpaceIntervalMs: 15 },
      );
      for (let i = 0; i < 300 && checks < 4; i++) await new Promise((r) => setTimeout(r, 10));
      await schedule.stop();
      assert.ok(checks >= 4, `free space checked ${checks} times`);
      const ageRuns = logger.lines.filter((l) => l.message === "retention done").length;
      assert.equal(ageRuns, 1, "age retention ran once: its interval has not come round again");
    } finally {
      await store.close();
    }
  });
});
