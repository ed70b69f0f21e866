// Backpressure on sustained ingest: past the materializer's bound answers are spaced out by how
// full the journal is; at HARD_FACTOR times the bound a store's answer waits for objects to go
// home, so the journal backlog stays bounded however long a sender goes on.
import assert from "node:assert/strict";
import type { CompressionResult } from "../../src/core/dicom/compression.ts";
import {
  type BacklogSource,
  fullness,
  HARD_FACTOR,
  JournalPacer,
  roomInJournal,
} from "../../src/storage/backpressure.ts";
import { datasetFor, makeRecord, openStore, storeObject, withTempDir } from "./fixtures.ts";

const JPEG_LS = "1.2.840.10008.1.2.4.80";

/** A materializer stand-in whose batches go home when the test says. */
function fakeSource(objects: number) {
  let progress: (() => void)[] = [];
  const source = {
    backlog: { objects, bytes: 0 },
    backlogBound: { objects: 10, bytes: 1e12 },
    diskFull: false,
    nextProgress: () => new Promise<void>((r) => progress.push(r)),
    /** A batch went home: the backlog is now `left`. */
    batchDone(left: number) {
      source.backlog = { objects: left, bytes: 0 };
      const waiting = progress;
      progress = [];
      for (const r of waiting) r();
    },
  };
  return source satisfies BacklogSource;
}

Deno.test("roomInJournal() answers at once under the bound and waits past it until batches bring it back", async () => {
  assert.equal(await roomInJournal(fakeSource(HARD_FACTOR * 10 - 1)), 0);
  const source = fakeSource(HARD_FACTOR * 10 + 5);
  let done = false;
  const waiting = roomInJournal(source).then(() => (done = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(done, false, "past the hard bound the store waits");
  source.batchDone(HARD_FACTOR * 10); // still at the bound
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(done, false, "one batch is not enough while still at the bound");
  source.batchDone(HARD_FACTOR * 10 - 1);
  await waiting;
  assert.equal(done, true);
});

Deno.test("JournalPacer answers at once up to the bound, then spaces all answers by how full the journal is", async () => {
  const source = fakeSource(10);
  const pacer = new JournalPacer(source, 200);
  assert.equal(fullness(source), 0);
  assert.ok(await pacer.admit() < 20, "at the bound: no wait");
  // Half way from the bound (10) to the hard bound (HARD_FACTOR * 10): answers 100 ms apart.
  source.backlog = { objects: 10 + (HARD_FACTOR - 1) * 5, bytes: 0 };
  assert.equal(fullness(source), 0.5);
  const t0 = performance.now();
  const done: number[] = [];
  await Promise.all(
    [0, 1, 2].map(() => pacer.admit().then(() => done.push(performance.now() - t0))),
  );
  done.sort((a, b) => a - b);
  assert.ok(done[0] < 50, `the first at once (${done[0]} ms)`);
  assert.ok(done[1] >= 90 && done[2] >= 190, `then one slot each: ${done.map(Math.round)}`);
  source.diskFull = true;
  assert.equal(await pacer.admit(), 0, "a full disk is never waited for");
});

Deno.test("roomInJournal() never holds a sender on a full disk or past its longest wait", async () => {
  const full = fakeSource(1000);
  full.diskFull = true;
  assert.equal(await roomInJournal(full), 0);
  const stuck = fakeSource(1000);
  const waited = await roomInJournal(stuck, 50);
  assert.ok(waited >= 45 && waited < 5000, `waited ${waited} ms`);
});

Deno.test("senders faster than the materializer keep the journal backlog within its hard bound", async () => {
  await withTempDir(async (root) => {
    // Each object takes 40 ms to go home (a slow compressor); stores take a few ms.
    const compressor = async (): Promise<CompressionResult> => {
      await new Promise((r) => setTimeout(r, 40));
      return { compressed: false, reason: "test: kept as received" };
    };
    const bound = 1;
    const store = await openStore(root, {
      compressTo: JPEG_LS,
      compressor,
      materializer: { maxBacklogObjects: bound, batchObjects: 2 },
    });
    try {
      let most = 0;
      const sender = async (a: number) => {
        for (let i = 0; i < 10; i++) {
          const record = makeRecord(`1.4.${a}.${i}`);
          const result = await storeObject(store, record, datasetFor(record, 2048), {
            assocId: `a${a}`,
          });
          assert.equal(result, "stored");
          most = Math.max(most, store.backlog.objects);
        }
      };
      await Promise.all([0, 1, 2].map(sender));
      // Three senders may each have one more on its way in when the bound is checked.
      assert.ok(most <= HARD_FACTOR * bound + 3, `backlog reached ${most}`);
      await store.drain();
      assert.equal(store.counts().instances, 30);
      assert.equal(store.backlog.objects, 0);
    } finally {
      await store.close();
    }
  });
});
