// A 1 GiB multi-frame object is stored by STOW-RS while the server's peak resident memory
// stays under 200 MB: the request streams into the journal, it is never gathered. The body is
// generated here one frame at a time and sent as a stream. It takes about a minute, so it is a
// script beside the benchmarks rather than part of `deno task test`:
//
//   deno run -A tests/bench/stow_memory.ts        (exit 0: stored, read back, under 200 MB)
import assert from "node:assert/strict";
import { encodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { concat } from "../helpers/dataset_writer.ts";
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
} from "../helpers/large_multiframe.ts";
import { startMiniPacs } from "../helpers/server.ts";

function part10Head(sop: string, study: string, series: string): Uint8Array {
  return concat([
    encodeFileMetaInformation({
      sopClassUid: MULTIFRAME_GRAYSCALE_BYTE_SC,
      sopInstanceUid: sop,
      transferSyntaxUid: "1.2.840.10008.1.2.1",
      implementationClassUid: "1.2.3.4",
      implementationVersionName: "TEST",
    }),
    largeMultiframeHead({ sop, study, series }, { name: "Large^Stow", id: "LARGE2" }),
  ]);
}

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
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(
            enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
          );
          controller.enqueue(head);
        },
        pull(controller) {
          if (sent === FRAMES) {
            controller.enqueue(enc.encode(`\r\n--${boundary}--\r\n`));
            controller.close();
            return;
          }
          controller.enqueue(frame(sent++));
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
