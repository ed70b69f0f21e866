// The materializer's copy thread: records copied bit for bit into their temp home files, with
// the commit's time; a failed batch leaves no temp file and says why (ENOSPC stays ENOSPC to the
// materializer, which then goes one object at a time).
import assert from "node:assert/strict";
import { HomeCopier } from "../../src/storage/home_copier.ts";
import { noise, withTempDir } from "./fixtures.ts";

Deno.test("HomeCopier writes each record's bytes into its temp file on its own thread, with the commit's time", async () => {
  await withTempDir(async (dir) => {
    const segment = `${dir}/journal.seg`;
    const bytes = noise("segment", 3 * 1024 * 1024 + 77);
    await Deno.writeFile(segment, bytes);
    const copier = new HomeCopier();
    try {
      const when = Date.UTC(2026, 0, 2, 3, 4, 5);
      // Across the 1 MiB pieces the thread copies in, and one record of a single byte.
      const records = [[0, 1], [5, 2 * 1024 * 1024 + 3], [3 * 1024 * 1024, 77]];
      const jobs = records.map(([offset, length], k) => ({
        segment,
        offset,
        length,
        tmp: `${dir}/${k}.tmp`,
        mtimeMs: when,
      }));
      jobs.push({
        segment: `${dir}/gone.seg`,
        offset: 0,
        length: 10,
        tmp: `${dir}/x.tmp`,
        mtimeMs: NaN,
      });
      const missing = await copier.copy(jobs, true);
      assert.deepEqual(missing, [3], "a segment removed by hand is reported, not fatal");
      assert.ok(copier.running, "copied on a worker thread");
      for (const [k, [offset, length]] of records.entries()) {
        const got = await Deno.readFile(`${dir}/${k}.tmp`);
        assert.deepEqual(got, bytes.subarray(offset, offset + length), `record ${k} bit for bit`);
        assert.equal((await Deno.stat(`${dir}/${k}.tmp`)).mtime?.getTime(), when);
      }
      await assert.rejects(Deno.stat(`${dir}/x.tmp`), Deno.errors.NotFound);
    } finally {
      copier.close();
    }
  });
});

Deno.test("HomeCopier: a failed batch removes the temp files it wrote and keeps the error's code", async () => {
  await withTempDir(async (dir) => {
    const segment = `${dir}/journal.seg`;
    await Deno.writeFile(segment, noise("short", 4096));
    const copier = new HomeCopier();
    try {
      const jobs = [
        { segment, offset: 0, length: 100, tmp: `${dir}/a.tmp`, mtimeMs: NaN },
        // The journal is shorter than the index says: the batch fails.
        { segment, offset: 4000, length: 500, tmp: `${dir}/b.tmp`, mtimeMs: NaN },
      ];
      await assert.rejects(copier.copy(jobs, true), /shorter than its index says/);
      const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".tmp"));
      assert.deepEqual(left, [], "no temp file left behind");
      // A missing temp folder: the operating system's error code comes back with it.
      const err = await copier.copy(
        [{ segment, offset: 0, length: 10, tmp: `${dir}/no/such/dir/c.tmp`, mtimeMs: NaN }],
        true,
      ).then(() => undefined, (e) => e as Error & { code?: string });
      assert.ok(err, "the batch failed");
      assert.equal(err.code, "ENOENT");
      // And the next batch still goes.
      assert.deepEqual(
        await copier.copy(
          [{ segment, offset: 0, length: 10, tmp: `${dir}/d.tmp`, mtimeMs: NaN }],
          true,
        ),
        [],
      );
      assert.equal((await Deno.readFile(`${dir}/d.tmp`)).length, 10);
    } finally {
      copier.close();
    }
  });
});

Deno.test("HomeCopier stops its thread after a while without a batch", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/s.seg`, noise("idle", 100));
    const copier = new HomeCopier(50);
    try {
      await copier.copy([{
        segment: `${dir}/s.seg`,
        offset: 0,
        length: 100,
        tmp: `${dir}/a.tmp`,
        mtimeMs: NaN,
      }], false);
      assert.ok(copier.running);
      for (let i = 0; i < 100 && copier.running; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(copier.running, false, "the idle thread is stopped");
    } finally {
      copier.close();
    }
  });
});
