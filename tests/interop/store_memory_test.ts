// A 1 GiB multi-frame object is stored through the real server while its peak resident memory
// stays under 200 MB: the dataset streams to disk, it is never gathered. The object is
// generated on the fly by our SCU, one frame at a time, and never held whole here either.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { CommandField, DATASET_PRESENT } from "../../src/core/dimse/command.ts";
import { EXPLICIT_LE, openAssociation } from "../helpers/scu.ts";
import { startMiniPacs } from "../helpers/server.ts";
import { concat, element, us } from "../helpers/dataset_writer.ts";

const MULTIFRAME_GRAYSCALE_BYTE_SC = "1.2.840.10008.5.1.4.1.1.7.2";
const ROWS = 1024;
const COLUMNS = 1024;
const FRAMES = 1024;
const FRAME_BYTES = ROWS * COLUMNS;
const PIXEL_BYTES = FRAME_BYTES * FRAMES; // 1 GiB
const PEAK_RSS_LIMIT = 200 * 1024 * 1024;

const hasProc = (() => {
  try {
    Deno.statSync("/proc/self/status");
    return true;
  } catch {
    console.log("SKIP: /proc is not available; the server's peak memory cannot be read");
    return false;
  }
})();

/** One Explicit VR Little Endian element (PS3.5 7.1.2); the value is padded to even length. */

/** Everything up to and including the Pixel Data element header (OB, 1 GiB). */
function header(sop: string, study: string, series: string): Uint8Array {
  const pixelHeader = element(0x7fe00010, "OB", new Uint8Array(0));
  new DataView(pixelHeader.buffer).setUint32(8, PIXEL_BYTES, true);
  return concat([
    element(0x00080016, "UI", MULTIFRAME_GRAYSCALE_BYTE_SC),
    element(0x00080018, "UI", sop),
    element(0x00080060, "CS", "OT"),
    element(0x00100010, "PN", "Large^Object"),
    element(0x00100020, "LO", "LARGE1"),
    element(0x0020000d, "UI", study),
    element(0x0020000e, "UI", series),
    element(0x00280002, "US", us(1)),
    element(0x00280004, "CS", "MONOCHROME2"),
    element(0x00280008, "IS", String(FRAMES)),
    element(0x00280009, "AT", new Uint8Array([0x18, 0x00, 0x63, 0x10])), // (0018,1063)
    element(0x00280010, "US", us(ROWS)),
    element(0x00280011, "US", us(COLUMNS)),
    element(0x00280100, "US", us(8)),
    element(0x00280101, "US", us(8)),
    element(0x00280102, "US", us(7)),
    element(0x00280103, "US", us(0)),
    pixelHeader,
  ]);
}

/** Byte i of frame f: cheap to generate and to check at any offset. */
const pixel = (frame: number, i: number) => (frame * 7 + (i >> 10)) & 0xff;

/** The header, then each frame generated into one reused buffer (the sender copies it). */
async function* dataset(head: Uint8Array): AsyncGenerator<Uint8Array> {
  yield head;
  const frame = new Uint8Array(FRAME_BYTES);
  for (let f = 0; f < FRAMES; f++) {
    for (let row = 0; row < ROWS; row++) {
      frame.fill(pixel(f, row * COLUMNS), row * COLUMNS, (row + 1) * COLUMNS);
    }
    yield frame;
  }
}

function peakRss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
  assert.ok(kb, "VmHWM in /proc/<pid>/status");
  return Number(kb[1]) * 1024;
}

const mb = (n: number) => `${(n / 1048576).toFixed(0)} MB`;

Deno.test({
  name: "a 1 GiB multi-frame object is stored while the server's peak RSS stays under 200 MB",
  ignore: !hasProc,
  async fn() {
    const pacs = await startMiniPacs({ server: { max_pdu_length: 131072 } });
    try {
      const base = `2.25.${crypto.getRandomValues(new Uint32Array(2)).join("")}`;
      const sop = `${base}.3`;
      const head = header(sop, `${base}.1`, `${base}.2`);
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
