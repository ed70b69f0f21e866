import assert from "node:assert/strict";
import { JOURNAL_DIR } from "../../src/storage/journal.ts";
import { SegmentWriter } from "../../src/storage/segment_writer.ts";
import { equalBytes, noise, recordInfo, scanAll, withTempDir } from "./fixtures.ts";

/** Writes records (uid -> Part 10 bytes) in odd chunks; returns the writer, still open. */
async function writeRecords(root: string, objects: [string, Uint8Array][]) {
  await Deno.mkdir(`${root}/${JOURNAL_DIR}`, { recursive: true });
  const seg = await SegmentWriter.create(root, "t-1", true);
  let seq = 100;
  for (const [uid, bytes] of objects) {
    seg.beginRecord(uid, bytes.subarray(0, 10));
    for (let o = 10; o < bytes.length; o += 777) seg.append(bytes.subarray(o, o + 777));
    await seg.finishRecord(seq++, recordInfo(uid)).durable;
    seg.acceptRecord();
  }
  return seg;
}

Deno.test("scanSegment() returns each committed record with its exact Part 10 bytes", async () => {
  await withTempDir(async (root) => {
    const objects: [string, Uint8Array][] = [
      ["1.1", noise("a", 5000)],
      ["1.2", noise("b", 1)],
      ["1.3", noise("c", 300_000)],
    ];
    const seg = await writeRecords(root, objects);
    // A discarded record leaves nothing.
    seg.beginRecord("1.4", noise("d", 100));
    seg.append(noise("e", 70_000));
    await seg.discardRecord();
    seg.close();
    const items = await scanAll(root, seg.segment);
    const file = await Deno.readFile(`${root}/${seg.segment}`);
    assert.equal(items.length, 3);
    items.forEach((item, i) => {
      assert.equal(item.kind, "record");
      if (item.kind !== "record") return;
      assert.equal(item.entry.sopInstanceUid, objects[i][0]);
      assert.equal(item.entry.seq, 100 + i);
      const bytes = file.subarray(item.entry.offset, item.entry.offset + item.entry.length);
      assert.ok(equalBytes(bytes, objects[i][1]));
      assert.deepEqual(item.entry.info, recordInfo(objects[i][0]));
    });
    const last = items[2];
    assert.ok(last.kind === "record" && last.entry.recordEnd === file.length);
  });
});

Deno.test("scanSegment() reports a last record cut at any byte as torn and keeps those before", async () => {
  await withTempDir(async (root) => {
    const seg = await writeRecords(root, [["1.1", noise("a", 900)], ["1.2", noise("b", 600)]]);
    seg.close();
    const path = `${root}/${seg.segment}`;
    const full = await Deno.readFile(path);
    const [first] = await scanAll(root, seg.segment);
    assert.ok(first.kind === "record");
    const lastStart = first.entry.recordEnd;
    // Every cut inside the last record, from its first byte to one short of the end.
    for (let cut = lastStart; cut < full.length; cut++) {
      await Deno.writeFile(path, full.subarray(0, cut));
      const items = await scanAll(root, seg.segment);
      assert.equal(items[0].kind, "record", `cut ${cut}`);
      if (cut === lastStart) {
        assert.equal(items.length, 1, `cut ${cut}`);
      } else {
        assert.equal(items.length, 2, `cut ${cut}`);
        assert.equal(items[1].kind, "torn", `cut ${cut}`);
        assert.ok(items[1].kind === "torn" && items[1].offset === lastStart);
      }
    }
  });
});

Deno.test("scanSegment() flags a record whose bytes fail their CRC and goes on to the next", async () => {
  await withTempDir(async (root) => {
    const seg = await writeRecords(root, [["1.1", noise("a", 900)], ["1.2", noise("b", 600)]]);
    seg.close();
    const path = `${root}/${seg.segment}`;
    const bytes = await Deno.readFile(path);
    const [first] = await scanAll(root, seg.segment);
    assert.ok(first.kind === "record");
    bytes[first.entry.offset + 500] ^= 0x10;
    await Deno.writeFile(path, bytes);
    const items = await scanAll(root, seg.segment);
    assert.deepEqual(items.map((i) => i.kind), ["corrupt", "record"]);
  });
});

Deno.test("scanSegment() treats a record that was never committed as torn", async () => {
  await withTempDir(async (root) => {
    const seg = await writeRecords(root, [["1.1", noise("a", 100)]]);
    seg.beginRecord("1.2", noise("b", 200));
    seg.append(noise("c", 300_000)); // more than a write buffer: part reaches the file
    const items = await scanAll(root, seg.segment);
    seg.close();
    assert.deepEqual(items.map((i) => i.kind), ["record", "torn"]);
    assert.ok(items[1].kind === "torn" && /never committed/.test(items[1].reason));
  });
});
