import assert from "node:assert/strict";
import { runRetention } from "../../src/storage/retention.ts";
import { reindex } from "../../src/storage/reindex.ts";
import {
  ForwardQueue,
  routeDestinations,
  type RouteRule,
} from "../../src/storage/forward_queue.ts";
import type { FsObjectStore } from "../../src/storage/object_store.ts";
import {
  copyTree,
  datasetFor,
  makeRecord,
  MemoryLogger,
  MR_IMAGE,
  openStore,
  storeObject,
  withTempDir,
} from "./fixtures.ts";

const HOLD = { materializer: { idleMs: 3_600_000 } };

async function openWithQueue(
  root: string,
  routes: RouteRule[],
  told: string[] = [],
): Promise<{ store: FsObjectStore; queue: ForwardQueue }> {
  const queue = new ForwardQueue(() => routes, (d) => told.push(d));
  const store = await openStore(root, { ...HOLD, onIndexOpen: (index) => queue.attach(index) });
  store.addRetentionHold((uid) => queue.holds(uid));
  return { store, queue };
}

Deno.test("routeDestinations() filters by calling AE, modality and SOP class", () => {
  const ct = makeRecord("1.5.1");
  const mr = makeRecord("1.5.2", { modality: "MR", sopClassUid: MR_IMAGE });
  const routes: RouteRule[] = [
    { destination: "A", callingAe: ["CT1"], modality: ["CT"] },
    { destination: "B", sopClasses: [MR_IMAGE] },
    { destination: "C" },
    { destination: "A" },
  ];
  assert.deepEqual(routeDestinations(routes, ct, "CT1"), ["A", "C"]);
  assert.deepEqual(routeDestinations(routes.slice(0, 2), ct, "CT2"), []);
  assert.deepEqual(routeDestinations(routes.slice(0, 3), mr, "CT1"), ["B", "C"]);
  assert.deepEqual(routeDestinations([{ destination: "A", modality: ["mr"] }], mr, "X"), ["A"]);
});

Deno.test("a stored object matching a route is queued once per destination, however often stored", async () => {
  await withTempDir(async (root) => {
    const told: string[] = [];
    const { store, queue } = await openWithQueue(root, [
      { destination: "CENTRAL", modality: ["CT"] },
    ], told);
    try {
      const ct = makeRecord("1.6.1");
      const mr = makeRecord("1.6.2", { modality: "MR", seriesInstanceUid: "1.6.9" });
      assert.equal(await storeObject(store, ct, datasetFor(ct)), "stored");
      await storeObject(store, mr, datasetFor(mr));
      await storeObject(store, ct, datasetFor(ct)); // stored again: still one row
      await new Promise((r) => setTimeout(r, 0));
      assert.ok(told.includes("CENTRAL"));
      const due = queue.due("CENTRAL", Date.now(), 10, new Set());
      assert.deepEqual(due.map((i) => i.sopInstanceUid), ["1.6.1"]);
      assert.equal(due[0].version, 1, "the second store bumped the version");
      assert.deepEqual(queue.summary().map((s) => [s.destination, s.queued]), [["CENTRAL", 1]]);
      // Sent as read before the second store: the newer version stays queued.
      queue.sent({ ...due[0], version: 0 });
      assert.equal(queue.due("CENTRAL", Date.now(), 10, new Set()).length, 1);
      queue.sent(due[0]);
      assert.equal(queue.due("CENTRAL", Date.now(), 10, new Set()).length, 0);
      assert.equal(queue.holds("1.6.1"), false);
    } finally {
      await store.close();
    }
  });
});

Deno.test("the queue survives a reopen, and an index that lost the commit queues again from the journal", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/store`;
    const routes = [{ destination: "CENTRAL" }];
    await (await openWithQueue(root, routes)).store.close();
    await copyTree(root, `${dir}/lost-index`);
    const records = Array.from({ length: 3 }, (_, i) => makeRecord(`1.7.${i}`));
    const { store } = await openWithQueue(root, routes);
    try {
      for (const r of records) await storeObject(store, r, datasetFor(r));
      // The journal as it was; the index as before the stores (a power cut's loss).
      await copyTree(`${root}/journal`, `${dir}/lost-index/journal`);
    } finally {
      await store.close();
    }
    for (const where of [root, `${dir}/lost-index`]) {
      const { store, queue } = await openWithQueue(where, routes);
      try {
        const due = queue.due("CENTRAL", Date.now(), 10, new Set());
        assert.deepEqual(due.map((i) => i.sopInstanceUid).sort(), ["1.7.0", "1.7.1", "1.7.2"]);
      } finally {
        await store.close();
      }
    }
  });
});

Deno.test("retention keeps objects queued or failed for a route; give-up and retry", async () => {
  await withTempDir(async (root) => {
    const { store, queue } = await openWithQueue(root, [{
      destination: "CENTRAL",
      modality: ["CT"],
    }]);
    try {
      const queued = makeRecord("1.8.1", { studyInstanceUid: "1.8" });
      const other = makeRecord("1.9.1", {
        studyInstanceUid: "1.9",
        seriesInstanceUid: "1.9.5",
        modality: "MR",
      });
      await storeObject(store, queued, datasetFor(queued));
      await storeObject(store, other, datasetFor(other));
      const later = new Date(Date.now() + 10 * 86_400_000);
      const r = await runRetention(store, 1, later);
      assert.equal(r.instances, 1);
      assert.ok(store.getInstance("1.8.1"), "the queued object is kept");
      assert.equal(store.getInstance("1.9.1"), undefined, "the other one goes");

      const [item] = queue.due("CENTRAL", Date.now(), 10, new Set());
      queue.retryLater(item, "C-STORE status 0xa700", Date.now() + 60_000, true);
      assert.equal(queue.due("CENTRAL", Date.now() + 120_000, 10, new Set()).length, 0);
      assert.deepEqual(queue.failed().map((f) => [f.sopInstanceUid, f.studyInstanceUid]), [[
        "1.8.1",
        "1.8",
      ]]);
      await runRetention(store, 1, later);
      assert.ok(store.getInstance("1.8.1"), "a failed object is kept too");
      assert.equal(queue.retryFailed("CENTRAL"), 1);
      assert.equal(queue.due("CENTRAL", Date.now(), 10, new Set()).length, 1);
      assert.equal(queue.queueStudy("1.8", "CENTRAL").queued, 0, "already queued");
      assert.equal(queue.queueStudy("1.8", "OTHER").queued, 1);
    } finally {
      await store.close();
    }
  });
});

Deno.test("reindex keeps the forwarding queue and the commitment reports still owed", async () => {
  await withTempDir(async (root) => {
    const routes = [{ destination: "CENTRAL" }];
    const { store } = await openWithQueue(root, routes);
    try {
      for (const uid of ["1.10.1", "1.10.2"]) {
        const r = makeRecord(uid);
        await storeObject(store, r, datasetFor(r));
      }
      store.openCommitmentQueue().add("MODALITY", {
        transactionUid: "2.25.4",
        committed: [],
        failed: [],
      });
    } finally {
      await store.close();
    }
    await reindex(root, new MemoryLogger());
    const { store: again, queue } = await openWithQueue(root, routes);
    try {
      assert.equal(again.counts().instances, 2);
      const due = queue.due("CENTRAL", Date.now(), 10, new Set());
      assert.deepEqual(due.map((i) => i.sopInstanceUid).sort(), ["1.10.1", "1.10.2"]);
      assert.equal(again.openCommitmentQueue().count(), 1);
    } finally {
      await again.close();
    }
  });
});
