// Storage Commitment of forwarded objects in the index: a commit = true route keeps an object
// queued until its destination reports it committed; retention_require_commit keeps it from
// retention until then; a report is matched after a reopen; a failure queues it again.
import assert from "node:assert/strict";
import { runRetention } from "../../src/storage/retention.ts";
import { ForwardQueue, type RouteRule } from "../../src/storage/forward_queue.ts";
import type { FsObjectStore } from "../../src/storage/object_store.ts";
import {
  CT_IMAGE,
  datasetFor,
  makeRecord,
  openStore,
  storeObject,
  withTempDir,
} from "./fixtures.ts";

const HOLD = { materializer: { idleMs: 3_600_000 } };
const ROUTES: RouteRule[] = [
  { destination: "CENTRAL", commit: true },
  { destination: "COPY", modality: ["MR"] },
];
const NO_RETRY = (_attempts: number, _queuedAt: number) => ({
  nextAttempt: Date.now() + 60_000,
  giveUp: false,
});

async function open(root: string, requireCommit: boolean) {
  const queue = new ForwardQueue(() => ROUTES, () => {});
  const store: FsObjectStore = await openStore(root, {
    ...HOLD,
    onIndexOpen: (index) => queue.attach(index),
  });
  store.addRetentionHold((uid) => queue.holds(uid, requireCommit));
  return { store, queue, commitments: queue.openCommitments() };
}

/** Stores one CT object per study; returns their SOP Instance UIDs. */
async function storeStudies(store: FsObjectStore, prefix: string, n: number) {
  const uids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = makeRecord(`${prefix}.${i}.1`, {
      studyInstanceUid: `${prefix}.${i}`,
      seriesInstanceUid: `${prefix}.${i}.5`,
    });
    await storeObject(store, r, datasetFor(r));
    uids.push(r.sopInstanceUid);
  }
  return uids;
}

const ref = (sopInstanceUid: string) => ({ sopClassUid: CT_IMAGE, sopInstanceUid });

Deno.test("commit = true: sent objects wait for the report; committed ones leave the queue, failed ones go again, across a reopen", async () => {
  await withTempDir(async (root) => {
    let { store, queue, commitments } = await open(root, true);
    const uids = await storeStudies(store, "1.20", 3);
    try {
      const items = queue.due("CENTRAL", Date.now(), 10, new Set());
      assert.deepEqual(items.map((i) => i.wantCommit), [true, true, true]);
      queue.sentMany(items);
      assert.equal(queue.due("CENTRAL", Date.now(), 10, new Set()).length, 3, "sent, not done");
      commitments.requested(items, "2.25.77");
      assert.equal(queue.due("CENTRAL", Date.now(), 10, new Set()).length, 0, "not sent again");
      assert.deepEqual(queue.summary().map((s) => [s.queued, s.awaitingCommitment]), [[0, 3]]);
    } finally {
      await store.close();
    }
    // The report comes after a restart: the transaction is still known.
    ({ store, queue, commitments } = await open(root, true));
    try {
      const outcome = commitments.reported({
        transactionUid: "2.25.77",
        committed: [ref(uids[0]), ref(uids[1])],
        failed: [{ ...ref(uids[2]), reason: 0x0110 }],
      }, NO_RETRY);
      assert.deepEqual(outcome, { destination: "CENTRAL", committed: 2, failed: 1, gaveUp: 0 });
      const [first] = commitments.forStudy("1.20.0");
      assert.deepEqual([first.destination, first.committed, first.awaiting], ["CENTRAL", 1, 0]);
      assert.ok(first.lastCommittedAt !== null && first.lastCommittedAt <= Date.now());
      assert.deepEqual(commitments.forStudy("1.20.2").map((c) => [c.committed, c.awaiting]), [[
        0,
        1,
      ]]);
      assert.equal(commitments.committedCounts().get("CENTRAL"), 2);
      // The failed one is sent again once its retry time comes, with its error kept.
      const again = queue.due("CENTRAL", Date.now() + 120_000, 10, new Set());
      assert.deepEqual(again.map((i) => [i.sopInstanceUid, i.attempts]), [[uids[2], 1]]);
      // A report sent twice is known (answered success), one never asked for is not.
      assert.equal(
        commitments.reported({ transactionUid: "2.25.77", committed: [], failed: [] }, NO_RETRY)
          .destination,
        "CENTRAL",
      );
      assert.equal(
        commitments.reported({ transactionUid: "2.25.78", committed: [], failed: [] }, NO_RETRY)
          .destination,
        null,
      );
    } finally {
      await store.close();
    }
  });
});

Deno.test("retention_require_commit: retention keeps what is not committed at every commit = true route; without it, only what is still to be sent", async () => {
  for (const requireCommit of [true, false]) {
    await withTempDir(async (root) => {
      const { store, queue, commitments } = await open(root, requireCommit);
      try {
        const [committed, awaiting, unsent] = await storeStudies(store, "1.30", 3);
        const items = queue.due("CENTRAL", Date.now(), 2, new Set());
        queue.sentMany(items);
        commitments.requested(items, "2.25.88");
        commitments.reported(
          { transactionUid: "2.25.88", committed: [ref(committed)], failed: [] },
          NO_RETRY,
        );
        const later = new Date(Date.now() + 10 * 86_400_000);
        await runRetention(store, 1, later);
        const kept = (uid: string) => store.getInstance(uid) !== undefined;
        assert.equal(kept(committed), false, "committed everywhere: retention may delete it");
        assert.equal(kept(unsent), true, "never sent: kept either way");
        assert.equal(
          kept(awaiting),
          requireCommit,
          requireCommit
            ? "sent, not yet committed: kept when commitment is required"
            : "sent, not yet committed: deleted when commitment is not required",
        );
      } finally {
        await store.close();
      }
    });
  }
});
