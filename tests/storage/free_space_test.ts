// The free space each C-STORE checks: the volume is asked at most once a second, and what the
// journal took since is counted off, so a filling disk is never seen as roomier than it is.
import assert from "node:assert/strict";
import { FreeSpaceGauge } from "../../src/storage/free_space.ts";
import { openStore, withTempDir } from "./fixtures.ts";

Deno.test("FreeSpaceGauge asks the volume once a second and counts off what was written since", async () => {
  let reads = 0;
  let disk = 10_000;
  const gauge = new FreeSpaceGauge(() => Promise.resolve((reads++, disk)), 1000);
  assert.equal(await gauge.bytes(false, 0), 10_000);
  gauge.noteWritten(300);
  disk = 9_000; // someone else wrote too: seen at the next read
  assert.equal(await gauge.bytes(false, 500), 9_700, "within the second: the last answer less 300");
  assert.equal(reads, 1);
  // Many stores at once share one read.
  const many = await Promise.all(Array.from({ length: 50 }, () => gauge.bytes(false, 1e12)));
  assert.equal(reads, 2);
  assert.ok(many.every((b) => b === 9_000), String(many.slice(0, 3)));
  // Retention asks for a fresh figure each time.
  disk = 12_000;
  assert.equal(await gauge.bytes(true), 12_000);
  assert.equal(reads, 3);
});

Deno.test("the store's free space is the volume's (from statfs) plus its free journal segments", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root);
    try {
      const t0 = performance.now();
      const fresh = await store.freeBytes(true);
      assert.ok(fresh > 0);
      store.freeSpace.noteWritten(1024 * 1024);
      const cached = await store.freeBytes();
      // Within the second the volume is not asked again: the same answer, less the MiB.
      if (performance.now() - t0 < 900) assert.equal(cached, fresh - 1024 * 1024);
    } finally {
      await store.close();
    }
  });
});
