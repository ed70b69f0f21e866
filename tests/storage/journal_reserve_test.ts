// The journal reserve: free segments pre-written at open so that a fresh store's first
// associations overwrite allocated blocks instead of appending.
import assert from "node:assert/strict";
import { statfs } from "node:fs/promises";
import {
  JOURNAL_DIR,
  readMinSeq,
  SEGMENT_HEADER_LENGTH,
  SEGMENT_MAGIC,
} from "../../src/storage/journal.ts";
import type { FsObjectStore, FsObjectStoreOptions } from "../../src/storage/object_store.ts";
import { SegmentPool } from "../../src/storage/segment_pool.ts";
import {
  copyTree,
  datasetFor,
  equalBytes,
  expectedPart10,
  listFiles,
  makeRecord,
  MemoryLogger,
  openStore,
  readAll,
  scanAll,
  storeObject,
  withTempDir,
} from "./fixtures.ts";

const MIB = 1024 * 1024;
const SEGMENT = 4 * MIB;

/** A reserve of two 4 MiB segments; the materializer waits so objects stay in the journal. */
function reserveOptions(logger = new MemoryLogger(), over: Partial<FsObjectStoreOptions> = {}) {
  return {
    logger,
    materializer: { idleMs: 3_600_000 },
    segmentPool: { maxBytes: SEGMENT },
    journalReserveBytes: 2 * SEGMENT,
    ...over,
  } satisfies Partial<FsObjectStoreOptions>;
}

async function journalFiles(root: string): Promise<string[]> {
  return (await listFiles(root)).filter((f) => f.startsWith(`${JOURNAL_DIR}/`));
}

const isFree = (f: string) => f.endsWith(".free");
const isSeg = (f: string) => f.endsWith(".seg");

async function diskFree(path: string): Promise<number> {
  const s = await statfs(path);
  return Number(s.bavail) * Number(s.bsize);
}

function reserveLines(logger: MemoryLogger) {
  return logger.lines.filter((l) => l.message.startsWith("journal reserve"));
}

/** Asserts a pre-written segment: full size, a header with minSeq >= 1, zeros after it. */
async function assertPrewritten(path: string): Promise<void> {
  const bytes = await Deno.readFile(path);
  assert.equal(bytes.length, SEGMENT, path);
  assert.ok(SEGMENT_MAGIC.every((b, i) => bytes[i] === b), `${path} has the segment magic`);
  const file = await Deno.open(path, { read: true });
  try {
    assert.ok((await readMinSeq(file))! >= 1, `${path} minSeq`);
  } finally {
    file.close();
  }
  const firstNonZero = bytes.subarray(SEGMENT_HEADER_LENGTH).findIndex((b) => b !== 0);
  assert.equal(firstNonZero, -1, `${path} is zero past its header`);
}

Deno.test("a fresh store writes the journal reserve before open() resolves", async () => {
  await withTempDir(async (root) => {
    const logger = new MemoryLogger();
    const store = await openStore(root, reserveOptions(logger));
    try {
      // Nothing was awaited after open(): the files are there, synced and named .free.
      const files = await journalFiles(root);
      assert.deepEqual(files, [`${JOURNAL_DIR}/free-1.free`, `${JOURNAL_DIR}/free-2.free`]);
      for (const f of files) await assertPrewritten(`${root}/${f}`);
      const lines = reserveLines(logger);
      assert.deepEqual(lines.map((l) => l.level), ["info", "info"]);
      // Says how much and why (a sysadmin sees the disk fill by that much at first start).
      assert.match(
        lines[0].message,
        /^journal reserve: writing 8 MiB of journal segments ahead \(storage\.journal_reserve_mb\), so that incoming images overwrite allocated blocks/,
      );
      assert.equal(lines[1].message, "journal reserve: 8 MiB reserved");
      assert.equal(typeof lines[1].fields?.ms, "number");
      assert.equal(lines[1].fields?.freeSegments, 2);
    } finally {
      await store.close();
    }
  });
});

Deno.test("the first association writes into a reserve segment; its objects survive a crash and a reopen", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/live`;
    const records = Array.from({ length: 3 }, (_, i) => makeRecord(`1.70.${i}`));
    const data = records.map((r, i) => datasetFor(r, 400_000 + i * 3_331));
    const expected = records.map((r, i) => expectedPart10(r, data[i], "MODALITY"));
    const store = await openStore(root, reserveOptions());
    let segment = "";
    try {
      for (let i = 0; i < records.length; i++) {
        assert.equal(await storeObject(store, records[i], data[i], { chunks: [65_536] }), "stored");
      }
      const files = await journalFiles(root);
      assert.equal(files.filter(isFree).length, 1, "one reserve segment taken");
      const segs = files.filter(isSeg);
      assert.equal(segs.length, 1);
      segment = segs[0];
      // Written into, never appended to: a new segment would be as long as its records.
      assert.equal((await Deno.stat(`${root}/${segment}`)).size, SEGMENT);
      const row = store.getInstance(records[2].sopInstanceUid);
      assert.equal(row?.location.kind, "journal");
      assert.equal(row?.location.path, segment);
      // A crash now: the objects are only in the reused segment.
      await copyTree(root, `${dir}/crash`);
      await copyTree(root, `${dir}/noindex`);
    } finally {
      await store.close();
    }

    // The scan finds exactly the three records and stops quietly at the zeros.
    const items = await scanAll(`${dir}/crash`, segment);
    assert.deepEqual(
      items.map((i) => i.kind === "record" ? i.entry.sopInstanceUid : i.kind),
      records.map((r) => r.sopInstanceUid),
    );
    // Without its index, recovery indexes them again from the journal alone.
    for (const f of await listFiles(`${dir}/noindex`)) {
      if (f.startsWith("index.sqlite")) await Deno.remove(`${dir}/noindex/${f}`);
    }
    for (const copy of [root, `${dir}/crash`, `${dir}/noindex`]) {
      const logger = new MemoryLogger();
      const reopened = await openStore(copy, reserveOptions(logger));
      try {
        assert.equal(reopened.counts().instances, records.length, copy);
        for (let i = 0; i < records.length; i++) {
          const got = await reopened.readObject(records[i].sopInstanceUid);
          assert.ok(got, `${copy}: ${records[i].sopInstanceUid}`);
          assert.ok(equalBytes(await readAll(got.stream), expected[i]), `${copy}: intact`);
        }
        assert.ok(!logger.lines.some((l) => l.level === "warn" || l.level === "error"), copy);
      } finally {
        await reopened.close();
      }
    }
  });
});

async function freeSignature(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of (await journalFiles(root)).filter(isFree)) {
    const s = await Deno.stat(`${root}/${f}`);
    out.push(`${f} ino=${s.ino} mtime=${s.mtime?.getTime()} size=${s.size}`);
  }
  return out;
}

Deno.test("a reopened store finds its reserve and writes nothing; a missing segment is written again", async () => {
  await withTempDir(async (root) => {
    let store = await openStore(root, reserveOptions());
    await store.close();
    const before = await freeSignature(root);
    assert.equal(before.length, 2);
    // Past the file system's timestamp granularity, so a rewrite would show in mtime.
    await new Promise((r) => setTimeout(r, 20));
    let logger = new MemoryLogger();
    store = await openStore(root, reserveOptions(logger));
    await store.close();
    assert.deepEqual(await freeSignature(root), before);
    assert.deepEqual(reserveLines(logger), []);

    // One segment lost: only it is written again.
    await Deno.remove(`${root}/${JOURNAL_DIR}/free-1.free`);
    logger = new MemoryLogger();
    store = await openStore(root, reserveOptions(logger));
    await store.close();
    const after = await freeSignature(root);
    assert.equal(after.length, 2);
    assert.ok(after.includes(before[1]), "the remaining segment is untouched");
    assert.deepEqual(
      reserveLines(logger).map((l) => l.message.replace(/ of journal segments ahead .*/, "")),
      ["journal reserve: writing 4 MiB", "journal reserve: 4 MiB reserved"],
    );
    for (const f of (await journalFiles(root)).filter(isFree)) {
      await assertPrewritten(`${root}/${f}`);
    }
  });
});

Deno.test("open() removes a reserve segment left half-written by a crash", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/${JOURNAL_DIR}`, { recursive: true });
    // The name the first pre-written segment takes, cut short.
    await Deno.writeFile(`${root}/${JOURNAL_DIR}/free-1.prep`, new Uint8Array(100_000));
    await Deno.writeFile(`${root}/${JOURNAL_DIR}/free-9.prep`, new Uint8Array(10));
    const logger = new MemoryLogger();
    const store = await openStore(root, reserveOptions(logger));
    try {
      assert.deepEqual(await journalFiles(root), [
        `${JOURNAL_DIR}/free-1.free`,
        `${JOURNAL_DIR}/free-2.free`,
      ]);
      for (const f of await journalFiles(root)) await assertPrewritten(`${root}/${f}`);
      assert.ok(!logger.lines.some((l) => l.level === "warn"), JSON.stringify(logger.lines));
    } finally {
      await store.close();
    }
  });
});

Deno.test("a reserve that would leave less than min_free is skipped with a warning; the store works", async () => {
  await withTempDir(async (root) => {
    // 8 MiB would fit on the disk, but not above min_free. (A reserve larger than the disk
    // takes the same check; testing it would fill the disk if the check ever broke.)
    const minFreeBytes = await diskFree(root) + 1024 * MIB;
    const logger = new MemoryLogger();
    const store: FsObjectStore = await openStore(root, reserveOptions(logger, { minFreeBytes }));
    try {
      assert.deepEqual(await journalFiles(root), []);
      const lines = reserveLines(logger);
      assert.equal(lines.length, 1);
      assert.equal(lines[0].level, "warn");
      assert.match(lines[0].message, /journal reserve skipped: .*min_free_mb/);
      assert.equal(lines[0].fields?.reserveMb, 8);
      assert.ok(Number(lines[0].fields?.freeMb) > 0);
      const record = makeRecord("1.71.1");
      assert.equal(await storeObject(store, record, datasetFor(record, 10_000)), "stored");
      // A segment created new, as long as its record.
      const segs = (await journalFiles(root)).filter(isSeg);
      assert.equal(segs.length, 1);
      assert.ok((await Deno.stat(`${root}/${segs[0]}`)).size < MIB);
    } finally {
      await store.close();
    }
  });
});

Deno.test("freeBytes() counts the free journal segments as free space", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root, reserveOptions());
    try {
      // Other tests write and delete meanwhile: measure while the disk is quiet.
      for (let attempt = 0;; attempt++) {
        const before = await diskFree(root);
        const reported = await store.freeBytes(true); // the volume asked now, not a second ago
        const after = await diskFree(root);
        if (before === after) {
          assert.equal(reported - before, 2 * SEGMENT);
          break;
        }
        if (attempt === 20) {
          assert.ok(Math.abs(reported - before - 2 * SEGMENT) < SEGMENT, "pool counted");
          break;
        }
      }
    } finally {
      await store.close();
    }
  });
});

Deno.test("SegmentPool: the reserve sets the room, bytes and minSeq of pre-written segments", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/${JOURNAL_DIR}`);
    const opts = { root, maxBytes: MIB, reserveBytes: 6 * MIB };
    const pool = await SegmentPool.open(opts);
    assert.equal(pool.maxSegments, 6, "six segments of 1 MiB, more than the default four");
    assert.equal(pool.reserveShortfall, 6 * MIB);
    pool.noteSeq(41_000);
    assert.equal(await pool.fillReserve(), 6 * MIB);
    assert.equal(pool.available, 6);
    assert.equal(pool.bytes, 6 * MIB);
    assert.equal(pool.reserveShortfall, 0);
    assert.equal(await pool.fillReserve(), 0);
    for (const f of (await journalFiles(root)).filter(isFree)) {
      const file = await Deno.open(`${root}/${f}`, { read: true });
      try {
        assert.equal(await readMinSeq(file), 41_001, f);
        assert.equal((await file.stat()).size, MIB, f);
      } finally {
        file.close();
      }
    }
    // Taken: the pool counts what is left; a reopen finds them all again.
    assert.ok(pool.take());
    assert.equal(pool.bytes, 5 * MIB);
    assert.equal(pool.reserveShortfall, MIB);
    const again = await SegmentPool.open(opts);
    assert.equal(again.available, 6);
    assert.equal(again.bytes, 6 * MIB);
    // Without a reserve, the default room of four.
    assert.equal((await SegmentPool.open({ root, maxBytes: MIB })).maxSegments, 4);
  });
});

Deno.test("after a crash with objects in the journal, open() writes no reserve: their segment refills it once home", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/live`;
    const store = await openStore(root, reserveOptions());
    try {
      for (let i = 0; i < 3; i++) {
        const record = makeRecord(`1.72.${i}`);
        assert.equal(await storeObject(store, record, datasetFor(record, 100_000)), "stored");
      }
      await copyTree(root, `${dir}/crash`); // killed here: three objects only in the journal
    } finally {
      await store.close();
    }
    const logger = new MemoryLogger();
    const reopened = await openStore(`${dir}/crash`, reserveOptions(logger));
    try {
      // Start-up wrote nothing: one free segment and the one holding the three objects.
      assert.deepEqual(reserveLines(logger), []);
      const files = await journalFiles(`${dir}/crash`);
      assert.equal(files.filter(isFree).length, 1, files.join(" "));
      assert.equal(files.filter(isSeg).length, 1, files.join(" "));
      assert.equal(reopened.backlog.objects, 3);
      await reopened.drain();
      assert.equal(reopened.journalReserveBytes, 2 * SEGMENT, "the segment went back to the pool");
    } finally {
      await reopened.close();
    }
    // The next start finds the whole reserve and writes nothing either.
    const again = new MemoryLogger();
    await (await openStore(`${dir}/crash`, reserveOptions(again))).close();
    assert.deepEqual(reserveLines(again), []);
    assert.equal((await journalFiles(`${dir}/crash`)).filter(isFree).length, 2);
  });
});
