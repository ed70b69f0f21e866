import assert from "node:assert/strict";
import { JOURNAL_DIR, SEGMENT_HEADER_LENGTH } from "../../src/storage/journal.ts";
import { SegmentWriter } from "../../src/storage/segment_writer.ts";
import { equalBytes, noise, recordInfo, scanAll, withTempDir } from "./fixtures.ts";

Deno.test("SegmentWriter keeps bytes in order whatever mix of small and large chunks arrives", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/${JOURNAL_DIR}`);
    const seg = await SegmentWriter.create(root, "mix", false);
    const bytes = noise("mix", 700_000);
    seg.beginRecord("1.1", bytes.subarray(0, 300));
    let o = 300;
    for (const n of [3, 200_000, 5, 140_000, 70_000, 1, 262_144, 27_547]) {
      seg.append(bytes.subarray(o, o + n));
      o += n;
    }
    assert.equal(o, bytes.length);
    const { offset, length, durable } = seg.finishRecord(1, recordInfo("1.1"));
    await durable;
    seg.acceptRecord();
    seg.close();
    const file = await Deno.readFile(`${root}/${seg.segment}`);
    assert.ok(equalBytes(file.subarray(offset, offset + length), bytes));
    assert.deepEqual((await scanAll(root, seg.segment)).map((i) => i.kind), ["record"]);
  });
});

Deno.test("SegmentWriter.discardRecord() cuts a new segment back to where the record began", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/${JOURNAL_DIR}`);
    const seg = await SegmentWriter.create(root, "cut", true);
    assert.equal(seg.size, SEGMENT_HEADER_LENGTH);
    seg.beginRecord("1.1", noise("kept", 100));
    seg.append(noise("kept-body", 5_000));
    const kept = seg.finishRecord(7, recordInfo("1.1"));
    await kept.durable;
    seg.acceptRecord();
    const end = seg.size;
    // A refused duplicate: begun, partly written past the write buffer, then discarded.
    seg.beginRecord("1.2", noise("dropped", 100));
    seg.append(noise("dropped-body", 400_000));
    assert.ok(seg.inRecord);
    await seg.discardRecord();
    assert.ok(!seg.inRecord);
    assert.equal(seg.size, end);
    seg.close();
    assert.equal((await Deno.stat(`${root}/${seg.segment}`)).size, end);
    const items = await scanAll(root, seg.segment);
    assert.deepEqual(items.map((i) => i.kind === "record" ? i.entry.sopInstanceUid : i.kind), [
      "1.1",
    ]);
  });
});

Deno.test("SegmentWriter keeps a record that arrives slowly whole while background fdatasyncs run, and drops one discarded mid-way", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/${JOURNAL_DIR}`);
    const seg = await SegmentWriter.create(root, "slow", true);
    const pause = () => new Promise((r) => setTimeout(r, 2));
    // 3 MiB in 64 KiB pieces with pauses: background fdatasyncs start and end along the way,
    // up to the commit.
    const kept = noise("slow-kept", 3 * 1024 * 1024);
    seg.beginRecord("1.1", kept.subarray(0, 200));
    for (let o = 200; o < kept.length; o += 65_536) {
      seg.append(kept.subarray(o, Math.min(o + 65_536, kept.length)));
      await pause();
    }
    const first = seg.finishRecord(1, recordInfo("1.1"));
    await first.durable;
    seg.acceptRecord();
    const end = seg.size;
    // A second record cut off while its background fdatasyncs run.
    seg.beginRecord("1.2", noise("slow-dropped", 200));
    for (let k = 0; k < 8; k++) {
      seg.append(noise(`slow-dropped-${k}`, 131_072));
      if (k % 3 === 0) await pause();
    }
    await seg.discardRecord();
    assert.equal(seg.size, end);
    // The next record goes where the dropped one was.
    seg.beginRecord("1.3", noise("after", 100));
    seg.append(noise("after-body", 300_000));
    const third = seg.finishRecord(2, recordInfo("1.3"));
    await third.durable;
    seg.acceptRecord();
    seg.close();
    const file = await Deno.readFile(`${root}/${seg.segment}`);
    assert.ok(equalBytes(file.subarray(first.offset, first.offset + first.length), kept));
    assert.equal(third.offset > end, true);
    const items = await scanAll(root, seg.segment);
    assert.deepEqual(items.map((i) => i.kind === "record" ? i.entry.sopInstanceUid : i.kind), [
      "1.1",
      "1.3",
    ]);
  });
});

Deno.test("SegmentWriter keeps records whole when several arrive interleaved and one is discarded", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/${JOURNAL_DIR}`);
    const segs = await Promise.all(
      [0, 1, 2].map((k) => SegmentWriter.create(root, `many-${k}`, k !== 2)),
    );
    const objects = segs.map((_, k) => noise(`many-${k}`, 1_500_000 + k * 7_777));
    segs.forEach((seg, k) => seg.beginRecord(`1.${k}`, objects[k].subarray(0, 300)));
    // Interleaved appends while the background fdatasyncs of the others run.
    for (let o = 300; o < 1_600_000; o += 100_000) {
      for (const [k, seg] of segs.entries()) {
        const piece = objects[k].subarray(o, Math.min(o + 100_000, objects[k].length));
        if (piece.length > 0) seg.append(piece);
      }
      await new Promise((r) => setTimeout(r, 0));
    }
    // The third is refused (as a duplicate would be) while the others commit.
    const finished = segs.slice(0, 2).map((seg, k) =>
      seg.finishRecord(k + 1, recordInfo(`1.${k}`))
    );
    await segs[2].discardRecord();
    await Promise.all(finished.map((f) => f.durable));
    for (const [k, seg] of segs.slice(0, 2).entries()) {
      seg.acceptRecord();
      seg.close();
      const file = await Deno.readFile(`${root}/${seg.segment}`);
      const { offset, length } = finished[k];
      assert.ok(equalBytes(file.subarray(offset, offset + length), objects[k]));
      assert.deepEqual((await scanAll(root, seg.segment)).map((i) => i.kind), ["record"]);
    }
    segs[2].close();
    assert.equal((await Deno.stat(`${root}/${segs[2].segment}`)).size, SEGMENT_HEADER_LENGTH);
  });
});
