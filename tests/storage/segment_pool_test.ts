import assert from "node:assert/strict";
import { JOURNAL_DIR, SEGMENT_HEADER_LENGTH, SEGMENT_MAGIC } from "../../src/storage/journal.ts";
import { SegmentWriter } from "../../src/storage/segment_writer.ts";
import { homePathFor } from "../../src/storage/layout.ts";
import type { FsObjectStore } from "../../src/storage/object_store.ts";
import type { InstanceRecord } from "../../src/core/ports.ts";
import {
  copyTree,
  datasetFor,
  equalBytes,
  expectedPart10,
  listFiles,
  makeRecord,
  MemoryLogger,
  noise,
  openStore,
  readAll,
  recordInfo,
  scanAll,
  storeObject,
  withTempDir,
} from "./fixtures.ts";

async function writeRecord(seg: SegmentWriter, uid: string, bytes: Uint8Array, seq: number) {
  seg.beginRecord(uid, bytes.subarray(0, 10));
  for (let o = 10; o < bytes.length; o += 16_384) seg.append(bytes.subarray(o, o + 16_384));
  const done = seg.finishRecord(seq, recordInfo(uid));
  await done.durable;
  seg.acceptRecord();
  return done;
}

/** A segment "old" holding three large records (seq 100..102), closed. */
async function oldSegment(root: string): Promise<string> {
  await Deno.mkdir(`${root}/${JOURNAL_DIR}`, { recursive: true });
  const seg = await SegmentWriter.create(root, "old", true);
  for (let i = 0; i < 3; i++) {
    await writeRecord(seg, `1.9.${i}`, noise(`old${i}`, 200_000), 100 + i);
  }
  seg.close();
  return seg.segment;
}

Deno.test("scanSegment() ends a reused segment at its older records without a torn report", async () => {
  await withTempDir(async (root) => {
    const old = await oldSegment(root);
    const before = (await Deno.stat(`${root}/${old}`)).size;
    const seg = await SegmentWriter.reuse(root, old, "new", true, 200);
    assert.equal(seg.capacity, before);
    assert.equal(seg.minSeq, 200);
    await assert.rejects(() => Deno.stat(`${root}/${old}`), Deno.errors.NotFound);
    // Before any new record: nothing in it is live.
    assert.deepEqual(await scanAll(root, seg.segment), []);
    // Smaller than the old first record: it ends inside older bytes.
    await writeRecord(seg, "1.8.1", noise("n1", 50_000), 200);
    await writeRecord(seg, "1.8.2", noise("n2", 70_000), 201);
    seg.close();
    const items = await scanAll(root, seg.segment);
    assert.deepEqual(items.map((i) => i.kind === "record" && i.entry.sopInstanceUid), [
      "1.8.1",
      "1.8.2",
    ]);
    assert.equal((await Deno.stat(`${root}/${seg.segment}`)).size, before, "no byte appended");
  });
});

Deno.test("scanSegment() stops at the zeros of a pre-written segment without a torn report", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/${JOURNAL_DIR}`);
    const zeros = new Uint8Array(2 << 20);
    zeros.set(SEGMENT_MAGIC);
    await Deno.writeFile(`${root}/${JOURNAL_DIR}/free-1.free`, zeros);
    const seg = await SegmentWriter.reuse(root, `${JOURNAL_DIR}/free-1.free`, "z", true, 5);
    await writeRecord(seg, "1.8.1", noise("z", 300_000), 5);
    seg.close();
    const items = await scanAll(root, seg.segment);
    assert.deepEqual(items.map((i) => i.kind), ["record"]);
    assert.equal((await Deno.stat(`${root}/${seg.segment}`)).size, 2 << 20);
  });
});

Deno.test("a reused segment refuses a seq below its minSeq", async () => {
  await withTempDir(async (root) => {
    const old = await oldSegment(root);
    const seg = await SegmentWriter.reuse(root, old, "new", true, 200);
    seg.beginRecord("1.8.1", noise("x", 100));
    assert.throws(() => seg.finishRecord(150, recordInfo("1.8.1")), /minSeq/);
    await seg.discardRecord();
    seg.close();
    assert.deepEqual(await scanAll(root, seg.segment), []);
  });
});

Deno.test("discardRecord() in a reused segment keeps the blocks and the record never comes back", async () => {
  await withTempDir(async (root) => {
    const old = await oldSegment(root);
    const before = (await Deno.stat(`${root}/${old}`)).size;
    const seg = await SegmentWriter.reuse(root, old, "new", true, 200);
    await writeRecord(seg, "1.8.1", noise("a", 40_000), 200);
    // Finished and synced, then refused (as a duplicate would be).
    seg.beginRecord("1.8.2", noise("b", 10));
    seg.append(noise("c", 300_000));
    await (seg.finishRecord(201, recordInfo("1.8.2"))).durable;
    await seg.discardRecord();
    assert.equal((await Deno.stat(`${root}/${seg.segment}`)).size, before, "not truncated");
    assert.deepEqual(
      (await scanAll(root, seg.segment)).map((i) => i.kind === "record" && i.entry.seq),
      [200],
    );
    // Aborted mid-stream, part of it already in the file.
    seg.beginRecord("1.8.3", noise("d", 10));
    seg.append(noise("e", 300_000));
    await seg.discardRecord();
    assert.deepEqual((await scanAll(root, seg.segment)).map((i) => i.kind), ["record"]);
    // The next record takes the same place.
    const { offset } = await writeRecord(seg, "1.8.4", noise("f", 20_000), 202);
    seg.close();
    const items = await scanAll(root, seg.segment);
    assert.deepEqual(items.map((i) => i.kind === "record" && i.entry.sopInstanceUid), [
      "1.8.1",
      "1.8.4",
    ]);
    const file = await Deno.readFile(`${root}/${seg.segment}`);
    assert.ok(equalBytes(file.subarray(offset, offset + 20_000), noise("f", 20_000)));
    assert.equal(file.length, before);
  });
});

Deno.test("scanSegment() reports a record torn mid-stream in a reused segment", async () => {
  await withTempDir(async (root) => {
    const old = await oldSegment(root);
    const seg = await SegmentWriter.reuse(root, old, "new", true, 200);
    await writeRecord(seg, "1.8.1", noise("a", 40_000), 200);
    seg.beginRecord("1.8.2", noise("b", 10));
    seg.append(noise("c", 300_000));
    const items = await scanAll(root, seg.segment);
    seg.close();
    assert.deepEqual(items.map((i) => i.kind), ["record", "torn"]);
  });
});

// --- the object store with a segment pool ---------------------------------------------------

const HOLD = { materializer: { idleMs: 3_600_000 }, segmentPool: { minBytes: 0 } };

function freeFiles(files: string[]): string[] {
  return files.filter((f) => f.endsWith(".free"));
}

function segFiles(files: string[]): string[] {
  return files.filter((f) => f.endsWith(".seg"));
}

async function assertStored(store: FsObjectStore, record: InstanceRecord, dataset: Uint8Array) {
  const got = await store.readObject(record.sopInstanceUid);
  assert.ok(got, `${record.sopInstanceUid} present`);
  assert.ok(
    equalBytes(await readAll(got.stream), expectedPart10(record, dataset, "MODALITY")),
    `${record.sopInstanceUid} intact`,
  );
}

Deno.test("a reused segment never brings back older records after a crash at any point", async () => {
  await withTempDir(async (dir) => {
    const live = `${dir}/live`;
    const old = Array.from({ length: 6 }, (_, i) => makeRecord(`1.50.${i}`));
    const oldData = old.map((r, i) => datasetFor(r, 60_000 + i * 7_000));
    const fresh = Array.from(
      { length: 4 },
      (_, i) => makeRecord(`1.51.${i}`, { studyInstanceUid: "1.51", seriesInstanceUid: "1.51.1" }),
    );
    const freshData = fresh.map((r, i) => datasetFor(r, 9_000 + i * 13_000));
    const snapshots: { name: string; live: number }[] = [];
    const snap = async (name: string, liveFresh: number) => {
      await copyTree(live, `${dir}/${name}`);
      snapshots.push({ name, live: liveFresh });
    };
    let oldSegment = "";
    const store = await openStore(live, HOLD);
    try {
      for (let i = 0; i < old.length; i++) await storeObject(store, old[i], oldData[i]);
      oldSegment = segFiles(await listFiles(live))[0];
      // Deleted while its only copy is in the journal.
      assert.ok(await store.deleteObject(old[2].sopInstanceUid));
      await store.endAssociation("a1");
      await store.drain();
      const afterRecycle = await listFiles(live);
      assert.deepEqual(segFiles(afterRecycle), [], "segment left its name");
      assert.equal(freeFiles(afterRecycle).length, 1, "segment kept in the pool");
      await snap("recycled", 0);

      // Taken by the next association: the first begin() rewrites its header.
      const writer = await store.begin({
        assocId: "a2",
        callingAeTitle: "MODALITY",
        sopClassUid: fresh[0].sopClassUid,
        sopInstanceUid: fresh[0].sopInstanceUid,
        transferSyntaxUid: fresh[0].transferSyntaxUid,
      });
      const taken = await listFiles(live);
      assert.deepEqual(freeFiles(taken), [], "free segment taken");
      assert.equal(segFiles(taken).length, 1);
      await snap("taken", 0);
      await writer.abort();
      for (let i = 0; i < 3; i++) {
        await storeObject(store, fresh[i], freshData[i], { assocId: "a2" });
        await snap(`fresh-${i}`, i + 1);
      }
      // The fourth is streaming (partly in the file) at the crash.
      const streaming = await store.begin({
        assocId: "a2",
        callingAeTitle: "MODALITY",
        sopClassUid: fresh[3].sopClassUid,
        sopInstanceUid: fresh[3].sopInstanceUid,
        transferSyntaxUid: fresh[3].transferSyntaxUid,
      });
      await streaming.write(datasetFor(fresh[3], 400_000));
      await snap("streaming", 3);
      await streaming.abort();
    } finally {
      await store.close();
    }

    // A crash after the header was raised but before the rename to a free name.
    const free = freeFiles(await listFiles(`${dir}/recycled`))[0];
    await Deno.rename(`${dir}/recycled/${free}`, `${dir}/recycled/${oldSegment}`);

    const oldHomes = await Promise.all(old.map((r) => homePathFor(r)));
    /** Reopens a crashed copy: which fresh records must, may or must not be there. */
    const check = async (root: string, keep: (i: number) => boolean | "maybe", label: string) => {
      const logger = new MemoryLogger();
      const reopened = await openStore(root, { ...HOLD, logger });
      try {
        assert.equal(reopened.getInstance(old[2].sopInstanceUid), undefined, label);
        for (let i = 0; i < old.length; i++) {
          if (i !== 2) await assertStored(reopened, old[i], oldData[i]);
        }
        let kept = 0;
        for (let i = 0; i < fresh.length; i++) {
          const row = reopened.getInstance(fresh[i].sopInstanceUid);
          const expected = keep(i);
          if (expected === true || (expected === "maybe" && row)) {
            await assertStored(reopened, fresh[i], freshData[i]);
            kept++;
          } else assert.equal(row, undefined, `${label}: ${fresh[i].sopInstanceUid}`);
        }
        assert.equal(reopened.counts().instances, old.length - 1 + kept, label);
        const done = logger.lines.find((l) => l.message === "storage recovery done");
        assert.equal(done?.fields?.replayed ?? 0, 0, `${label}: nothing replayed`);
        await reopened.drain();
        const files = (await listFiles(root)).filter((f) => f.endsWith(".dcm"));
        assert.ok(!files.includes(oldHomes[2]), label);
        assert.equal(files.length, old.length - 1 + kept, label);
      } finally {
        await reopened.close();
      }
    };

    for (const { name, live: liveFresh } of snapshots) {
      const root = `${dir}/${name}`;
      const segment = segFiles(await listFiles(root))[0];
      const full = segment ? await Deno.readFile(`${root}/${segment}`) : new Uint8Array();
      const ends: number[] = [];
      if (segment) {
        const items = await scanAll(root, segment);
        // Only the object streaming at the crash is torn; older bytes end the scan quietly.
        const tornTail = name === "streaming" ? ["torn"] : [];
        assert.deepEqual(items.map((i) => i.kind), [
          ...fresh.slice(0, liveFresh).map(() => "record"),
          ...tornTail,
        ]);
        for (const item of items) if (item.kind === "record") ends.push(item.entry.recordEnd);
      }
      assert.equal(ends.length, liveFresh, name);
      // Lost index: only what the journal holds may come back, never an older record.
      await copyTree(root, `${dir}/${name}-noindex`);
      for (const f of await listFiles(`${dir}/${name}-noindex`)) {
        if (f.startsWith("index.sqlite")) await Deno.remove(`${dir}/${name}-noindex/${f}`);
      }
      const lost = await openStore(`${dir}/${name}-noindex`, HOLD);
      try {
        const uids = [...lost.allInstances()].map((r) => r.record.sopInstanceUid).sort();
        assert.deepEqual(uids, fresh.slice(0, liveFresh).map((r) => r.sopInstanceUid), name);
      } finally {
        await lost.close();
      }
      await copyTree(root, `${dir}/${name}-whole`);
      await check(`${dir}/${name}-whole`, (i) => i < liveFresh, name);
      if (!segment) continue;
      // Cuts and flipped bytes across the reused segment.
      const step = name === "fresh-2" || name === "streaming" ? 23_011 : 61_001;
      for (let at = SEGMENT_HEADER_LENGTH; at < full.length; at += step) {
        for (const how of ["cut", "flip"] as const) {
          const copy = `${dir}/${name}-${how}-${at}`;
          await copyTree(root, copy);
          if (how === "cut") await Deno.truncate(`${copy}/${segment}`, at);
          else {
            const bytes = full.slice();
            bytes[at] ^= 0x5a;
            await Deno.writeFile(`${copy}/${segment}`, bytes);
          }
          const keep = (i: number) =>
            i < liveFresh && ends[i] <= at ? true : how === "flip" && i < liveFresh && "maybe";
          await check(copy, keep, `${name} ${how} ${at}`);
          await Deno.remove(copy, { recursive: true });
        }
      }
    }
  });
});

Deno.test("a segment with a reader still streaming from it is deleted, not reused", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root, HOLD);
    try {
      const record = makeRecord("1.60.1");
      const dataset = datasetFor(record, 3_000_000);
      await storeObject(store, record, dataset);
      const got = await store.readObject(record.sopInstanceUid);
      assert.ok(got);
      await store.endAssociation("a1");
      await store.drain();
      assert.deepEqual(freeFiles(await listFiles(root)), []);
      // Whatever the next association writes, the open stream still reads the object.
      const other = makeRecord("1.60.2");
      await storeObject(store, other, datasetFor(other, 3_000_000), { assocId: "a2" });
      const bytes = await readAll(got.stream);
      assert.ok(equalBytes(bytes, expectedPart10(record, dataset, "MODALITY")));
      // Once the reader is done, the next finished segment goes to the pool.
      await store.endAssociation("a2");
      await store.drain();
      assert.equal(freeFiles(await listFiles(root)).length, 1);
    } finally {
      await store.close();
    }
  });
});

Deno.test("objects stored into reused segments read back intact after a reopen", async () => {
  await withTempDir(async (root) => {
    const records = Array.from({ length: 12 }, (_, i) => makeRecord(`1.61.${i}`));
    const data = records.map((r, i) => datasetFor(r, 200_000 + i * 1_111));
    let store = await openStore(root, HOLD);
    try {
      for (let round = 0; round < 3; round++) {
        for (let i = round * 4; i < round * 4 + 4; i++) {
          await storeObject(store, records[i], data[i], { assocId: `r${round}`, chunks: [16_384] });
        }
        await store.endAssociation(`r${round}`);
        await store.drain();
        assert.equal(freeFiles(await listFiles(root)).length, 1, `round ${round}`);
      }
    } finally {
      await store.close();
    }
    store = await openStore(root, HOLD);
    try {
      for (let i = 0; i < records.length; i++) await assertStored(store, records[i], data[i]);
      assert.equal(freeFiles(await listFiles(root)).length, 1, "the pool survives a restart");
      await storeObject(store, records[0], data[0], { assocId: "again" });
      assert.deepEqual(freeFiles(await listFiles(root)), []);
    } finally {
      await store.close();
    }
  });
});
