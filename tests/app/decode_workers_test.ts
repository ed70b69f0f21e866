import assert from "node:assert/strict";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { transcodeWhole } from "../../src/core/dicom/transcode_whole.ts";
import { DecodeWorkers } from "../../src/app/decode_workers.ts";
import { convert, haveTools, nativeObject, REFERENCE_CODECS } from "../helpers/codec_corpus.ts";

const ILE = "1.2.840.10008.1.2";
const tools = haveTools("dcmcjpls", "dcmcjpeg");

async function compressed(dir: string, key: "jpegLs" | "jpegBaseline"): Promise<Uint8Array> {
  const spec = key === "jpegLs"
    ? { rows: 64, columns: 48, samplesPerPixel: 1, bitsAllocated: 16, bitsStored: 12 } as const
    : { rows: 64, columns: 48, samplesPerPixel: 3, bitsAllocated: 8, bitsStored: 8 } as const;
  await Deno.writeFile(`${dir}/${key}.dcm`, nativeObject(spec));
  await convert(REFERENCE_CODECS[key].encode, `${dir}/${key}.dcm`, `${dir}/${key}.c.dcm`);
  return await Deno.readFile(`${dir}/${key}.c.dcm`);
}

Deno.test({
  name:
    "DecodeWorkers decode on worker threads exactly as in-thread, concurrently, and say why not",
  ignore: !tools,
  async fn() {
    const dir = await Deno.makeTempDir();
    const workers = new DecodeWorkers(2);
    try {
      const files = [await compressed(dir, "jpegLs"), await compressed(dir, "jpegBaseline")];
      const jobs = files.flatMap((f) => [f, f, f]).map(async (file) => {
        const { meta, datasetOffset } = decodeFileMetaInformation(file);
        const dataset = file.subarray(datasetOffset);
        const ts = meta.transferSyntaxUid;
        const [there, here] = await Promise.all([
          workers.decode(dataset, ts, ILE, 1 << 24),
          transcodeWhole(dataset, ts, ILE, 1 << 24),
        ]);
        assert.ok(there && here);
        assert.deepEqual(there, here);
        assert.equal(await workers.decode(dataset, ts, ILE, 100), null, "over the limit");
      });
      await Promise.all(jobs);
      const { meta, datasetOffset } = decodeFileMetaInformation(files[0]);
      const broken = files[0].slice(datasetOffset);
      broken.fill(0x55, broken.length - 400, broken.length - 20);
      await assert.rejects(
        workers.decode(broken, meta.transferSyntaxUid, ILE, 1 << 24),
        /cannot decode 1\.2\.840\.10008\.1\.2\.4\.80/,
      );
    } finally {
      workers.close();
      await Deno.remove(dir, { recursive: true });
    }
    await assert.rejects(
      workers.decode(new Uint8Array(8), "1.2.840.10008.1.2.5", ILE, 1),
      /closed/,
    );
  },
});

Deno.test("DecodeWorkers stop a worker left idle and start one again for the next decode", async () => {
  const workers = new DecodeWorkers(1, 100);
  try {
    const rle = "1.2.840.10008.1.2.5"; // not an RLE dataset: the worker answers with an error
    await assert.rejects(workers.decode(new Uint8Array(8), rle, ILE, 1 << 20));
    assert.equal(workers.threads, 1, "a worker started for the decode");
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(workers.threads, 0, "stopped once idle");
    await assert.rejects(workers.decode(new Uint8Array(8), rle, ILE, 1 << 20), /cannot decode/);
    assert.equal(workers.threads, 1, "started again");
  } finally {
    workers.close();
  }
  assert.equal(workers.threads, 0);
});

Deno.test({
  name: "DecodeWorkers write the next decode into the buffer of a released result",
  ignore: !tools,
  async fn() {
    const dir = await Deno.makeTempDir();
    const workers = new DecodeWorkers(1);
    try {
      const file = await compressed(dir, "jpegBaseline");
      const { meta, datasetOffset } = decodeFileMetaInformation(file);
      const dataset = file.subarray(datasetOffset);
      const ts = meta.transferSyntaxUid;
      const here = await transcodeWhole(dataset, ts, ILE, 1 << 24);
      const first = await workers.decode(dataset, ts, ILE, 1 << 24);
      assert.ok(first && here);
      assert.deepEqual(first, here);
      // A released buffer of a size no decode would choose, full of an earlier object.
      const released = new Uint8Array(first.buffer.byteLength + 12345).fill(0xee);
      workers.release(released.subarray(0, 10));
      const second = await workers.decode(dataset, ts, ILE, 1 << 24);
      assert.ok(second);
      assert.equal(released.buffer.byteLength, 0, "the released buffer went to the worker");
      assert.equal(second.buffer.byteLength, first.buffer.byteLength + 12345, "and came back");
      assert.deepEqual(second, here);
    } finally {
      workers.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
