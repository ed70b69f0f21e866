// A 1 GiB multi-frame object is stored by STOW-RS while the server's peak resident memory
// stays under 200 MB: the request streams into the journal, it is never gathered. The body is
// generated here one frame at a time and sent as a stream. It takes about a minute, so it is a
// script beside the benchmarks rather than part of `deno task test`:
//
//   deno run -A tests/bench/stow_memory.ts        (exit 0: stored, read back, under 200 MB)
import assert from "node:assert/strict";
import { encodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { concat, element, us } from "../helpers/dataset_writer.ts";
import { startMiniPacs } from "../helpers/server.ts";

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

function part10Head(sop: string, study: string, series: string): Uint8Array {
  const pixelHeader = element(0x7fe00010, "OB", new Uint8Array(0));
  new DataView(pixelHeader.buffer).setUint32(8, PIXEL_BYTES, true);
  return concat([
    encodeFileMetaInformation({
      sopClassUid: MULTIFRAME_GRAYSCALE_BYTE_SC,
      sopInstanceUid: sop,
      transferSyntaxUid: "1.2.840.10008.1.2.1",
      implementationClassUid: "1.2.3.4",
      implementationVersionName: "TEST",
    }),
    element(0x00080016, "UI", MULTIFRAME_GRAYSCALE_BYTE_SC),
    element(0x00080018, "UI", sop),
    element(0x00080060, "CS", "OT"),
    element(0x00100010, "PN", "Large^Stow"),
    element(0x00100020, "LO", "LARGE2"),
    element(0x0020000d, "UI", study),
    element(0x0020000e, "UI", series),
    element(0x00280002, "US", us(1)),
    element(0x00280004, "CS", "MONOCHROME2"),
    element(0x00280008, "IS", String(FRAMES)),
    element(0x00280010, "US", us(ROWS)),
    element(0x00280011, "US", us(COLUMNS)),
    element(0x00280100, "US", us(8)),
    element(0x00280101, "US", us(8)),
    element(0x00280102, "US", us(7)),
    element(0x00280103, "US", us(0)),
    pixelHeader,
  ]);
}

const pixel = (frame: number, i: number) => (frame * 7 + (i >> 10)) & 0xff;

function peakRss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
  assert.ok(kb, "VmHWM in /proc/<pid>/status");
  return Number(kb[1]) * 1024;
}

const mb = (n: number) => `${(n / 1048576).toFixed(0)} MB`;

/** Stores 1 GiB by STOW-RS; throws when anything is wrong. */
export async function stowMemory(): Promise<void> {
  {
    const pacs = await startMiniPacs({ http: { enabled: true, port: 0, bind: "127.0.0.1" } });
    try {
      const base = `2.25.${crypto.getRandomValues(new Uint32Array(2)).join("")}`;
      const sop = `${base}.3`;
      const head = part10Head(sop, `${base}.1`, `${base}.2`);
      const boundary = "big-boundary-0123456789";
      const enc = new TextEncoder();
      let frame = 0;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(
            enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
          );
          controller.enqueue(head);
        },
        pull(controller) {
          if (frame === FRAMES) {
            controller.enqueue(enc.encode(`\r\n--${boundary}--\r\n`));
            controller.close();
            return;
          }
          const bytes = new Uint8Array(FRAME_BYTES);
          for (let row = 0; row < ROWS; row++) {
            bytes.fill(pixel(frame, row * COLUMNS), row * COLUMNS, (row + 1) * COLUMNS);
          }
          frame++;
          controller.enqueue(bytes);
        },
      }, { highWaterMark: 1 });
      const started = performance.now();
      const res = await fetch(`http://127.0.0.1:${pacs.httpPort}/dicom-web/studies`, {
        method: "POST",
        headers: {
          "Content-Type": `multipart/related; type="application/dicom"; boundary=${boundary}`,
        },
        body,
      });
      const answer = await res.json();
      const seconds = (performance.now() - started) / 1000;
      assert.equal(res.status, 200, JSON.stringify(answer));
      const peak = peakRss(pacs.child.pid);
      console.log(
        `STOW-RS of 1 GiB: ${seconds.toFixed(1)} s (${(1024 / seconds).toFixed(0)} MB/s), ` +
          `server peak RSS ${mb(peak)}`,
      );
      assert.ok(peak < PEAK_RSS_LIMIT, `peak RSS ${mb(peak)}`);
      // The stored frames read back by WADO-RS: the last one holds the last bytes sent.
      const root = `http://127.0.0.1:${pacs.httpPort}/dicom-web`;
      const url = `${root}/studies/${base}.1/series/${base}.2/instances/${sop}/frames/${FRAMES}`;
      const r = await fetch(url, {
        headers: { Accept: 'multipart/related; type="application/octet-stream"' },
      });
      const bytes = new Uint8Array(await r.arrayBuffer());
      assert.equal(r.status, 200);
      assert.ok(bytes.length > FRAME_BYTES);
      const needle = bytes.indexOf(pixel(FRAMES - 1, FRAME_BYTES - 1), 100);
      assert.ok(needle >= 0);
    } finally {
      await pacs.cleanup();
    }
  }
}

if (import.meta.main) {
  if (!hasProc) Deno.exit(0);
  try {
    await stowMemory();
    console.log("ok: a 1 GiB STOW-RS upload stayed under 200 MB peak RSS and reads back");
  } catch (e) {
    console.error(`FAILED: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
