// Reindex keeps what the files cannot tell: the storage commitment reports still owed.
import assert from "node:assert/strict";
import { CommitmentQueue } from "../../src/storage/commitment_queue.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import { carryOverQueues } from "../../src/storage/queue_carry_over.ts";
import { CT_IMAGE, MemoryLogger, withTempDir } from "./fixtures.ts";

Deno.test("carryOverQueues() copies the owed reports of the old index into the new one", async () => {
  await withTempDir(async (dir) => {
    const old = IndexDb.open(`${dir}/old.sqlite`);
    const queue = new CommitmentQueue(old);
    for (const n of [1, 2]) {
      queue.add("MODALITY", {
        transactionUid: `2.25.${n}`,
        committed: [{ sopClassUid: CT_IMAGE, sopInstanceUid: `1.20.${n}` }],
        failed: [],
      });
    }
    old.close();
    const logger = new MemoryLogger();
    const fresh = IndexDb.open(`${dir}/new.sqlite`);
    try {
      assert.equal(await carryOverQueues(fresh, `${dir}/old.sqlite`, logger), 2);
      const kept = new CommitmentQueue(fresh).due(Date.now());
      assert.deepEqual(kept.map((p) => p.result.transactionUid), ["2.25.1", "2.25.2"]);
      // No old index: nothing to carry, nothing said.
      assert.equal(await carryOverQueues(fresh, `${dir}/absent.sqlite`, logger), 0);
      assert.deepEqual(logger.lines, []);
    } finally {
      fresh.close();
    }
  });
});

Deno.test("carryOverQueues() warns and keeps going when the old index cannot be read", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/old.sqlite`, "garbage, not SQLite ".repeat(100));
    const logger = new MemoryLogger();
    const fresh = IndexDb.open(`${dir}/new.sqlite`);
    try {
      assert.equal(await carryOverQueues(fresh, `${dir}/old.sqlite`, logger), 0);
      assert.ok(logger.lines.some((l) => l.level === "warn" && /reindex/.test(l.message)));
      assert.equal(new CommitmentQueue(fresh).count(), 0);
    } finally {
      fresh.close();
    }
  });
});
