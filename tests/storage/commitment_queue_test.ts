// Storage commitment requests kept in the index until their N-EVENT-REPORT is answered.
import assert from "node:assert/strict";
import type { CommitmentResult } from "../../src/core/services/commitment.ts";
import { CommitmentQueue } from "../../src/storage/commitment_queue.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import { CT_IMAGE, withTempDir } from "./fixtures.ts";

const result = (n: number): CommitmentResult => ({
  transactionUid: `2.25.${n}`,
  committed: [{ sopClassUid: CT_IMAGE, sopInstanceUid: `1.16.${n}` }],
  failed: [{ sopClassUid: CT_IMAGE, sopInstanceUid: `1.16.${n}.9`, reason: 0x0112 }],
});

Deno.test("CommitmentQueue: requests wait until answered, retries wait their turn, all survive a reopen", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/index.sqlite`;
    let index = IndexDb.open(path);
    try {
      const queue = new CommitmentQueue(index);
      assert.equal(queue.count(), 0);
      assert.equal(queue.nextAttempt(), null);
      const a = queue.add("MODALITY", result(1), 1000);
      const b = queue.add("OTHER", result(2), 2000);
      assert.deepEqual(queue.due(0).map((p) => p.id), [a, b], "oldest first, due at once");
      assert.deepEqual(queue.due(0)[0].result, result(1));
      queue.retryLater(a, "connection refused", 5000);
      assert.deepEqual(queue.due(4999).map((p) => p.id), [b]);
      const retried = queue.due(5000).find((p) => p.id === a)!;
      assert.equal(retried.attempts, 1);
      assert.equal(retried.lastError, "connection refused");
      assert.equal(retried.callingAe, "MODALITY");
      assert.equal(queue.nextAttempt(), 0);
      queue.remove(b);
      assert.equal(queue.nextAttempt(), 5000);
      assert.equal(queue.count(), 1);
    } finally {
      index.close();
    }
    index = IndexDb.open(path);
    try {
      const queue = new CommitmentQueue(index);
      assert.equal(queue.count(), 1, "the request still owed a report is kept");
      assert.deepEqual(queue.due(5000).map((p) => p.result.transactionUid), ["2.25.1"]);
      assert.equal(queue.due(5000, 0).length, 0, "limit respected");
    } finally {
      index.close();
    }
  });
});
