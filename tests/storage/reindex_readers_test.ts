// reindex() with its files read on reader threads: the same index rows and the same skipped
// list, in walk order, as reading them on the reindex thread, over more files than it reads
// ahead; and a reader thread that dies or never starts costs one warning, not the reindex.
import assert from "node:assert/strict";
import { datasetFor, expectedPart10, makeRecord, MemoryLogger, withTempDir } from "./fixtures.ts";
import { reindex, type ReindexOptions } from "../../src/storage/reindex.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import { homePathFor } from "../../src/storage/layout.ts";

/** Every file below `dir` in the order of a walk: each folder's names sorted. */
async function walkOrder(root: string, dir = ""): Promise<string[]> {
  const names: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir ? `${root}/${dir}` : root)) names.push(e);
  names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: string[] = [];
  for (const e of names) {
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory && rel !== "journal") out.push(...await walkOrder(root, rel));
    else if (e.isFile && !rel.startsWith("index.sqlite")) out.push(rel);
  }
  return out;
}

/** Home files of 1,500 instances (more than 8 batches of 128), with strays among them. */
async function makeStore(root: string): Promise<number> {
  // No journal folder at all (a store copied without it): nothing to replay, not an error.
  const day = Date.UTC(2024, 0, 1);
  let n = 0;
  for (let s = 0; s < 15; s++) {
    for (let i = 0; i < 100; i++) {
      const record = makeRecord(`1.77.${s}.${i}`, {
        patientId: `P${s % 4}`,
        studyInstanceUid: `1.77.${s}`,
        seriesInstanceUid: `1.77.${s}.${i % 2}`,
        modality: s % 3 === 0 ? "MR" : "CT",
      });
      const path = `${root}/${await homePathFor(record)}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      const bytes = expectedPart10(record, datasetFor(record, 64), `AE${s}`);
      await Deno.writeFile(path, bytes);
      const when = new Date(day + n * 1000);
      await Deno.utime(path, when, when);
      n++;
      if (i % 37 === 5) {
        // An older copy (skipped), a newer copy (replaces the home file), a cut file.
        await Deno.mkdir(`${root}/stray/${s}`, { recursive: true });
        await Deno.writeFile(`${root}/stray/${s}/old-${i}.dcm`, bytes);
        await Deno.utime(`${root}/stray/${s}/old-${i}.dcm`, new Date(day - 1), new Date(day - 1));
        await Deno.writeFile(`${root}/stray/${s}/new-${i}.dcm`, bytes);
        const later = new Date(day + 10_000_000);
        await Deno.utime(`${root}/stray/${s}/new-${i}.dcm`, later, later);
        await Deno.writeFile(`${root}/stray/${s}/cut-${i}.dcm`, bytes.subarray(0, 150));
        await Deno.writeTextFile(`${root}/stray/${s}/note-${i}.txt`, "hello");
      }
    }
  }
  return n;
}

/** Every instance row with where it points, and the counts of the levels above. */
function indexRows(root: string) {
  const index = IndexDb.open(`${root}/index.sqlite`);
  try {
    const rows = [...index.allInstances()].map((i) => ({
      record: i.record,
      location: i.location,
      meta: { ...i.meta, seq: undefined },
    }));
    return { rows, counts: index.counts() };
  } finally {
    index.close();
  }
}

async function run(root: string, options: ReindexOptions) {
  const logger = new MemoryLogger();
  const progress: string[] = [];
  const result = await reindex(root, logger, (p) => progress.push(p.path), options);
  const warnings = logger.lines.filter((l) => l.level !== "info");
  return { result, progress, rows: indexRows(root), warnings };
}

Deno.test("reindex() on reader threads gives the rows and skipped list of the reindex thread", async () => {
  await withTempDir(async (root) => {
    const homes = await makeStore(root);
    const files = (await walkOrder(root)).filter((p) => p.endsWith(".dcm"));
    const here = await run(root, { readerThreads: 0 });
    assert.equal(here.result.indexed, homes);
    assert.equal(here.rows.rows.length, homes);
    // 3 strays of each kind per study: 45 older copies, 45 replaced homes, 45 cut, 45 notes.
    assert.equal(here.result.skipped.length, 180);
    assert.deepEqual(here.progress, files); // the notes are not counted
    assert.ok(
      here.result.skipped.some((s) => /^older copy of SOP Instance in stray/.test(s.reason)),
    );
    for (const threads of [1, 2]) {
      const there = await run(root, { readerThreads: threads });
      assert.deepEqual(there.result, here.result, `${threads} reader threads`);
      assert.deepEqual(there.progress, here.progress);
      assert.deepEqual(there.rows, here.rows);
      assert.deepEqual(there.warnings, []);
    }
  });
});

Deno.test("reindex() carries on on its own thread when a reader thread dies or cannot start", async () => {
  await withTempDir(async (root) => {
    await makeStore(root);
    const here = await run(root, { readerThreads: 0 });
    const urls = [
      new URL("./reindex_reader_failing_worker.ts", import.meta.url),
      new URL("./no_such_reader_worker.ts", import.meta.url),
    ];
    for (const readerUrl of urls) {
      const there = await run(root, { readerThreads: 1, readerUrl });
      assert.deepEqual(there.result, here.result, readerUrl.pathname);
      assert.deepEqual(there.progress, here.progress);
      assert.deepEqual(there.rows, here.rows);
      assert.equal(there.warnings.length, 1);
      assert.equal(there.warnings[0].level, "warn");
      assert.match(there.warnings[0].message, /^reindex: reader thread failed \(.+\); reading on/);
    }
  });
});
