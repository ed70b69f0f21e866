// The writer of one incoming object (journal_object_writer.ts): bytes into the association's
// segment, commit through the store, abort that leaves nothing behind.
import assert from "node:assert/strict";
import {
  datasetFor,
  listFiles,
  makeRecord,
  openStore,
  storeObject,
  withTempDir,
} from "./fixtures.ts";

Deno.test("abort() leaves no row and nothing is replayed at the next open", async () => {
  await withTempDir(async (root) => {
    let store = await openStore(root);
    try {
      const kept = makeRecord("1.9.1");
      await storeObject(store, kept, datasetFor(kept));
      const dropped = makeRecord("1.9.2");
      const writer = await store.begin({
        assocId: "a1",
        callingAeTitle: "X",
        sopClassUid: dropped.sopClassUid,
        sopInstanceUid: dropped.sopInstanceUid,
        transferSyntaxUid: dropped.transferSyntaxUid,
      });
      await writer.write(datasetFor(dropped, 100_000));
      await writer.abort();
      assert.equal(store.getInstance("1.9.2"), undefined);
      assert.throws(() => writer.write(new Uint8Array(2)));
      // The association goes on: the next object is fine.
      const next = makeRecord("1.9.3");
      assert.equal(await storeObject(store, next, datasetFor(next)), "stored");
    } finally {
      await store.close();
    }
    store = await openStore(root);
    try {
      assert.equal(store.getInstance("1.9.2"), undefined);
      assert.equal(await store.readObject("1.9.2"), null);
      assert.equal(store.counts().instances, 2);
      assert.ok(!(await listFiles(root)).some((f) => f.includes("1.9.2")));
    } finally {
      await store.close();
    }
  });
});

Deno.test("a committed writer takes no more bytes and frees the association for the next object", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root);
    try {
      const r = makeRecord("1.13.1");
      const writer = await store.begin({
        assocId: "a1",
        callingAeTitle: "X",
        sopClassUid: r.sopClassUid,
        sopInstanceUid: r.sopInstanceUid,
        transferSyntaxUid: r.transferSyntaxUid,
      });
      await writer.write(datasetFor(r));
      assert.equal(await writer.commit(r), "stored");
      assert.throws(() => writer.write(new Uint8Array(4)), /writer is closed/);
      await assert.rejects(writer.commit(r), /writer is closed/);
      // Aborting a finished writer changes nothing.
      await writer.abort();
      assert.ok(await store.readObject("1.13.1"));
      const next = makeRecord("1.13.2");
      assert.equal(await storeObject(store, next, datasetFor(next)), "stored");
    } finally {
      await store.close();
    }
  });
});
