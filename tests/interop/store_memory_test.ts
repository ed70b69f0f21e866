// A 1 GiB multi-frame object is stored through the real server while its peak resident memory
// stays under 200 MB: the dataset streams to disk, it is never gathered. The object is
// generated on the fly by our SCU, one frame at a time, and never held whole here either.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { CommandField, DATASET_PRESENT } from "../../src/core/dimse/command.ts";
import { EXPLICIT_LE, openAssociation } from "../helpers/scu.ts";
import { startMiniPacs } from "../helpers/server.ts";
import { element } from "../helpers/dataset_writer.ts";
import {
  frame,
  FRAME_BYTES,
  FRAMES,
  hasProc,
  largeMultiframeHead,
  mb,
  MULTIFRAME_GRAYSCALE_BYTE_SC,
  PEAK_RSS_LIMIT,
  peakRss,
  pixel,
  PIXEL_BYTES,
} from "../helpers/large_multiframe.ts";

/** The header, then each frame generated into one reused buffer (the sender copies it). */
async function* dataset(head: Uint8Array): AsyncGenerator<Uint8Array> {
  yield head;
  const bytes = new Uint8Array(FRAME_BYTES);
  for (let f = 0; f < FRAMES; f++) yield frame(f, bytes);
}

Deno.test({
  name: "a 1 GiB multi-frame object is stored while the server's peak RSS stays under 200 MB",
  ignore: !hasProc,
  async fn() {
    const pacs = await startMiniPacs({ server: { max_pdu_length: 131072 } });
    try {
      const base = `2.25.${crypto.getRandomValues(new Uint32Array(2)).join("")}`;
      const sop = `${base}.3`;
      const head = largeMultiframeHead(
        { sop, study: `${base}.1`, series: `${base}.2` },
        { name: "Large^Object", id: "LARGE1" },
        [element(0x00280009, "AT", new Uint8Array([0x18, 0x00, 0x63, 0x10]))], // (0018,1063)
      );
      const assoc = await openAssociation(pacs.port, {
        contexts: [{
          id: 1,
          abstractSyntax: MULTIFRAME_GRAYSCALE_BYTE_SC,
          transferSyntaxes: [EXPLICIT_LE],
        }],
      });
      const rsp = await assoc.request(1, {
        commandField: CommandField.CStoreRq,
        commandDataSetType: DATASET_PRESENT,
        affectedSopClassUid: MULTIFRAME_GRAYSCALE_BYTE_SC,
        affectedSopInstanceUid: sop,
        priority: 0,
      }, dataset(head));
      assert.equal(rsp.command.status, 0);
      await assoc.release();
      const afterStore = peakRss(pacs.child.pid);
      assert.ok(afterStore < PEAK_RSS_LIMIT, `peak RSS after the store: ${mb(afterStore)}`);

      // The materializer copies the object to its home file; that too in bounded memory.
      const db = new DatabaseSync(`${pacs.storage}/index.sqlite`, { readOnly: true });
      let row: { loc_kind: string; home_path: string; size: number } | undefined;
      try {
        const query = db.prepare(
          "SELECT loc_kind, home_path, size FROM instance WHERE sop_instance_uid = ?",
        );
        for (let i = 0; i < 600; i++) {
          row = query.get(sop) as typeof row;
          assert.ok(row, "the object is indexed");
          if (row.loc_kind === "home") break;
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        db.close();
      }
      assert.equal(row?.loc_kind, "home", "materialized within 60 s");
      const afterCopy = peakRss(pacs.child.pid);
      assert.ok(afterCopy < PEAK_RSS_LIMIT, `peak RSS after materializing: ${mb(afterCopy)}`);
      console.log(
        `server peak RSS: ${mb(afterStore)} after the store, ${mb(afterCopy)} after the copy`,
      );
      assert.equal(await pacs.stop(), 0, "clean stop");
      const path = `${pacs.storage}/${row.home_path}`;
      const file = await Deno.open(path, { read: true });
      try {
        const start = new Uint8Array(4096);
        assert.equal(await file.read(start), start.length);
        const { meta, datasetOffset } = decodeFileMetaInformation(start);
        assert.equal(meta.sopInstanceUid, sop);
        const size = (await file.stat()).size;
        assert.equal(size, datasetOffset + head.length + PIXEL_BYTES, "file size");
        assert.equal(row.size, size);
        assert.deepEqual(start.subarray(datasetOffset, datasetOffset + head.length), head);
        // Spot checks across the pixels: first, middle and last frames.
        for (const [f, i] of [[0, 0], [1, 5000], [511, 777777], [FRAMES - 1, FRAME_BYTES - 1]]) {
          const at = datasetOffset + head.length + f * FRAME_BYTES + i;
          await file.seek(at, Deno.SeekMode.Start);
          const one = new Uint8Array(1);
          assert.equal(await file.read(one), 1);
          assert.equal(one[0], pixel(f, i), `pixel ${i} of frame ${f}`);
        }
      } finally {
        file.close();
      }
    } finally {
      await pacs.cleanup();
    }
  },
});
