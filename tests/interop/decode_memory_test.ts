// A 500-frame RLE object (256 MiB once decoded) is moved from the real server to a storescp
// that takes Implicit VR Little Endian only: it is decoded and sent frame by frame, and the
// server's peak resident memory while doing so stays under 100 MB above what it was idle.
import assert from "node:assert/strict";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { freePort } from "../helpers/peers.ts";
import { minipacs } from "../cli/cli.ts";
import {
  convert,
  encapsulate,
  haveTools,
  nativeObject,
  type NativeSpec,
} from "../helpers/codec_corpus.ts";
import { newUid } from "../helpers/corpus.ts";
import { type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";

const FRAMES = 500;
const SPEC: NativeSpec = {
  rows: 512,
  columns: 512,
  samplesPerPixel: 1,
  bitsAllocated: 16,
  bitsStored: 12,
};
const FRAME_BYTES = 512 * 512 * 2;
const LIMIT = 100 * 1024 * 1024;

const tools = haveTools("dcmcrle", "movescu", "storescp", "echoscu");
const hasProc = (() => {
  try {
    Deno.statSync("/proc/self/clear_refs");
    return true;
  } catch {
    console.log("SKIP: /proc/<pid>/clear_refs is not available; peak memory cannot be read");
    return false;
  }
})();

function memory(pid: number): { rss: number; peak: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)![1]);
  return { rss: kb("VmRSS") * 1024, peak: kb("VmHWM") * 1024 };
}

/** The one fragment of a single-frame encapsulated Part 10 file. */
function onlyFragment(file: Uint8Array): Uint8Array {
  const tail = file.subarray(file.length - 8); // sequence delimiter
  assert.deepEqual([...tail.subarray(0, 4)], [0xfe, 0xff, 0xdd, 0xe0]);
  // Walk back: the last item header is 8 bytes before the fragment; find it from the front.
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let at = file.length - 8;
  for (let i = 0; i < file.length - 8; i++) {
    if (
      dv.getUint32(i, true) === 0xe000fffe &&
      i + 8 + dv.getUint32(i + 4, true) === at && dv.getUint32(i + 4, true) > 64
    ) {
      at = i;
      return file.slice(at + 8, file.length - 8);
    }
  }
  throw new Error("no fragment");
}

Deno.test({
  name: "a 500-frame compressed object is decoded and sent with under 100 MB of peak memory",
  ignore: !tools || !hasProc,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-decode-memory-" });
    await Deno.mkdir(`${dir}/out`);
    const port = freePort();
    const scp = new Deno.Command("storescp", {
      args: ["-aet", "VIEWER", "-od", `${dir}/out`, "+B", "+xi", String(port)],
      env: { TCP_NODELAY: "1" },
      stdout: "null",
      stderr: "null",
    }).spawn();
    let pacs: MiniPacs | undefined;
    try {
      // One frame compressed by dcmcrle, repeated: a multi-frame RLE object of 500 fragments.
      const study = newUid();
      // Bands of 64 equal pixels: RLE keeps the stored object small (about 6 MB).
      const frame = new Uint8Array(FRAME_BYTES);
      const dv = new DataView(frame.buffer);
      for (let i = 0; i < FRAME_BYTES / 2; i++) {
        dv.setUint16(2 * i, ((i >> 9) * 8 + ((i & 511) >> 6) * 100) & 0xfff, true);
      }
      await Deno.writeFile(`${dir}/one.dcm`, nativeObject(SPEC, frame));
      await convert(["dcmcrle"], `${dir}/one.dcm`, `${dir}/one.rle.dcm`);
      const fragment = onlyFragment(await Deno.readFile(`${dir}/one.rle.dcm`));
      const native = nativeObject({ ...SPEC, frames: FRAMES, studyInstanceUid: study }, frame);
      const multi = encapsulate(
        native,
        "1.2.840.10008.1.2.5",
        Array.from({ length: FRAMES }, () => fragment),
      );
      await Deno.writeFile(`${dir}/multi.dcm`, multi);

      for (let i = 0; i < 100; i++) { // bounded: about 10 s
        if ((await run("echoscu", ["-aec", "VIEWER", "127.0.0.1", String(port)])).code === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      pacs = await startMiniPacs({
        extraToml: `[[known_ae]]\nae_title = "VIEWER"\nhost = "127.0.0.1"\nport = ${port}\n`,
      });
      const stored = await minipacs([
        "store",
        `MINIPACS@127.0.0.1:${pacs.port}`,
        `${dir}/multi.dcm`,
      ]);
      assert.equal(stored.code, 0, stored.stderr);

      const pid = pacs.child.pid;
      await Deno.writeTextFile(`/proc/${pid}/clear_refs`, "5"); // peak := current (Linux 4.0+)
      const idle = memory(pid).rss;
      const m = await run("movescu", [
        "-aec",
        "MINIPACS",
        "-aem",
        "VIEWER",
        "-S",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        `StudyInstanceUID=${study}`,
        "127.0.0.1",
        String(pacs.port),
      ]);
      const peak = memory(pid).peak;
      assert.equal(m.code, 0, m.stderr + pacs.logs().slice(-2000));
      const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
      console.log(
        `idle ${mb(idle)}, peak while decoding and sending ${mb(peak)}, stored ${mb(multi.length)}`,
      );
      assert.ok(peak - idle < LIMIT, `peak ${mb(peak)} is ${mb(peak - idle)} above idle`);

      const files = [...Deno.readDirSync(`${dir}/out`)];
      assert.equal(files.length, 1);
      const got = await Deno.readFile(`${dir}/out/${files[0].name}`);
      assert.equal(decodeFileMetaInformation(got).meta.transferSyntaxUid, "1.2.840.10008.1.2");
      const pixels = got.subarray(got.length - FRAMES * FRAME_BYTES);
      assert.equal(
        new DataView(got.buffer, got.length - FRAMES * FRAME_BYTES - 4).getUint32(0, true),
        FRAMES * FRAME_BYTES,
        "Pixel Data length",
      );
      for (const f of [0, 1, FRAMES - 1]) {
        assert.deepEqual(
          pixels.subarray(f * FRAME_BYTES, (f + 1) * FRAME_BYTES),
          frame,
          `frame ${f}`,
        );
      }
    } finally {
      await pacs?.cleanup();
      try {
        scp.kill("SIGTERM");
      } catch { /* gone */ }
      await scp.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
