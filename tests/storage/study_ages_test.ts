// The studies retention may delete, read a slice at a time: the same answer as one statement
// over the whole index, through the indexes, with the event loop free between slices.
import assert from "node:assert/strict";
import { IndexDb } from "../../src/storage/index_db.ts";
import { SLICE_SQL, studiesReceivedBefore } from "../../src/storage/study_ages.ts";
import { makeRecord, withTempDir } from "./fixtures.ts";

/** 23 studies of 1-3 instances; study k's newest instance was received on day (k * 7) % 23. */
function fill(index: IndexDb): void {
  let seq = 1;
  for (let k = 0; k < 23; k++) {
    for (let i = 0; i <= k % 3; i++) {
      const day = i === k % 3 ? (k * 7) % 23 : 0; // older instances first, newest last
      const sop = `1.5.${k}.${i}`;
      index.upsertInstance(
        makeRecord(sop, { studyInstanceUid: `1.5.${k}`, seriesInstanceUid: `1.5.${k}.1` }),
        { kind: "home", path: `${sop}.dcm`, offset: 0, length: 10 },
        {
          homePath: `${sop}.dcm`,
          size: 10,
          receivedAt: new Date(Date.UTC(2026, 0, 1 + day)).toISOString(),
          callingAe: "CT1",
          seq: seq++,
        },
      );
    }
  }
}

Deno.test("studiesReceivedBefore() finds the studies whose newest instance is older, oldest first, across slices", async () => {
  await withTempDir(async (dir) => {
    const index = IndexDb.open(`${dir}/index.sqlite`);
    try {
      fill(index);
      const db = index.openReader();
      const before = new Date(Date.UTC(2026, 0, 1 + 10)).toISOString();
      // Day (k * 7) % 23 < 10, ordered by day then UID.
      const expected = Array.from({ length: 23 }, (_, k) => k)
        .filter((k) => (k * 7) % 23 < 10)
        .sort((a, b) => (a * 7) % 23 - (b * 7) % 23 || (`1.5.${a}` < `1.5.${b}` ? -1 : 1))
        .map((k) => `1.5.${k}`);
      for (const perSlice of [1, 2, 5, 50]) {
        assert.deepEqual(
          await studiesReceivedBefore(db, before, perSlice),
          expected,
          `${perSlice}`,
        );
      }
      db.close();
    } finally {
      index.close();
    }
  });
});

Deno.test("studiesReceivedBefore() lets timers run between slices and reads through the indexes", async () => {
  await withTempDir(async (dir) => {
    const index = IndexDb.open(`${dir}/index.sqlite`);
    try {
      fill(index);
      const db = index.openReader();
      const events: string[] = [];
      setTimeout(() => events.push("timer"), 0);
      await studiesReceivedBefore(db, "2027-01-01", 5).then(() => events.push("done"));
      assert.deepEqual(events, ["timer", "done"], "a store's timer is not held up by the walk");
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${SLICE_SQL}`).all(0, 5, "x") as {
        detail: string;
      }[]).map((r) => r.detail);
      assert.ok(!plan.some((d) => /^SCAN (i|se)\b/.test(d)), plan.join("; "));
      assert.ok(plan.some((d) => /SEARCH st USING INTEGER PRIMARY KEY/.test(d)), plan.join("; "));
      db.close();
    } finally {
      index.close();
    }
  });
});
