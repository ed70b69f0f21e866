// The status the dashboard and GET /api/status show: counters, storage, backlog and events.
import assert from "node:assert/strict";
import { DEFAULT_CONFIG } from "../../src/config.ts";
import { ServerStats } from "../../src/app/stats.ts";
import type { Catalog } from "../../src/storage/catalog.ts";
import { buildStatus, type StatusSources, type StorageView } from "../../src/web/status.ts";

const totals = { patients: 2, studies: 3, series: 4, instances: 50, bytes: 5_000 };

function sources(storage: Partial<StorageView>, now: number): StatusSources {
  const stats = new ServerStats();
  const a = stats.association("1", "10.0.0.1:4000");
  a.accepted!({ id: "1", callingAeTitle: "CT1", calledAeTitle: "MINIPACS", remote: "10.0.0.1" });
  stats.association("2", "10.0.0.2:4000").rejected!(
    { id: "2", callingAeTitle: "NOPE", calledAeTitle: "MINIPACS", remote: "10.0.0.2" },
    "calling_ae",
    'calling AE title "NOPE" is not a known AE',
  );
  return {
    config: DEFAULT_CONFIG,
    stats,
    storage: { root: "/", freeBytes: () => Promise.resolve(1e12), ...storage } as StorageView,
    catalog: { totals: () => totals } as unknown as Catalog,
    dicomPort: 11112,
    httpPort: null,
    now,
  };
}

Deno.test("buildStatus() reports associations, index totals and the newest event first", async () => {
  const s = sources({}, Date.now() + 90_000);
  const status = await buildStatus(s);
  assert.equal(status.aeTitle, DEFAULT_CONFIG.server.aeTitle);
  assert.equal(status.dicomPort, 11112);
  assert.ok(status.uptimeSeconds >= 89 && status.uptimeSeconds <= 91);
  assert.equal(status.associations.open, 1);
  assert.deepEqual(status.associations.sinceStart, { accepted: 1, rejected: 1, aborted: 0 });
  assert.equal(status.storage.instances, 50);
  assert.equal(status.storage.belowMinFree, false);
  assert.equal(status.storesPerMinute.length, 60);
  assert.deepEqual(status.events.map((e) => [e.kind, e.peer.startsWith("NOPE")]), [
    ["rejected", true],
    ["accepted", false],
  ]);
});

Deno.test("buildStatus() flags low free space, an unknown one, and a journal blocked by a full disk", async () => {
  const low = await buildStatus(sources({ freeBytes: () => Promise.resolve(1) }, Date.now()));
  assert.equal(low.storage.freeBytes, 1);
  assert.equal(low.storage.belowMinFree, true);
  const unknown = await buildStatus(
    sources({ freeBytes: () => Promise.reject(new Error("statfs")) }, Date.now()),
  );
  assert.equal(unknown.storage.freeBytes, null);
  assert.equal(unknown.storage.belowMinFree, false, "unknown is not reported as low");
  const blocked = await buildStatus(
    sources({ backlog: { objects: 7, bytes: 700, diskFull: true } }, Date.now()),
  );
  assert.deepEqual(
    [blocked.storage.pendingObjects, blocked.storage.pendingBytes, blocked.storage.journalBlocked],
    [7, 700, true],
  );
});
