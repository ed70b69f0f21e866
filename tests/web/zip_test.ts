// The streamed ZIP writer: CRC-32 check value, and archives that unzip reads back exactly.
import assert from "node:assert/strict";
import { crc32, zipStream } from "../../src/web/zip.ts";
import { hasTool, run } from "../helpers/server.ts";

Deno.test("crc32() gives the standard check value", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  const a = new TextEncoder().encode("1234");
  const b = new TextEncoder().encode("56789");
  assert.equal(crc32(b, crc32(a)), 0xcbf43926);
});

const streamOf = (...chunks: Uint8Array[]) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (const x of chunks) c.enqueue(x);
      c.close();
    },
  });

Deno.test({
  name: "zipStream() writes entries unzip extracts byte for byte; a gone entry is left out",
  ignore: !hasTool("unzip"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-zip-" });
    try {
      const big = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => (i * 31) & 0xff);
      const archive = zipStream([
        {
          name: "1.2/1.2.3/a.dcm",
          open: () => Promise.resolve(streamOf(big.subarray(0, 1000), big.subarray(1000))),
        },
        { name: "gone.dcm", open: () => Promise.resolve(null) },
        { name: "1.2/1.2.3/empty.dcm", open: () => Promise.resolve(streamOf()) },
        {
          name: "readme.txt",
          open: () => Promise.resolve(streamOf(new TextEncoder().encode("hé"))),
        },
      ]);
      await Deno.writeFile(
        `${dir}/a.zip`,
        new Uint8Array(await new Response(archive).arrayBuffer()),
      );
      const t = await run("unzip", ["-t", `${dir}/a.zip`]);
      assert.equal(t.code, 0, t.stdout);
      assert.equal((await run("unzip", ["-q", `${dir}/a.zip`, "-d", `${dir}/out`])).code, 0);
      assert.deepEqual(await Deno.readFile(`${dir}/out/1.2/1.2.3/a.dcm`), big);
      assert.equal((await Deno.readFile(`${dir}/out/1.2/1.2.3/empty.dcm`)).length, 0);
      assert.equal(await Deno.readTextFile(`${dir}/out/readme.txt`), "hé");
      await assert.rejects(() => Deno.stat(`${dir}/out/gone.dcm`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const hasPython = (() => {
  try {
    return new Deno.Command("/usr/bin/python3", { args: ["-c", "import zipfile"] }).outputSync()
      .success;
  } catch {
    return false;
  }
})();
if (!hasPython) console.log("SKIP: ZIP64 tests need python3 (its zipfile reads the archives)");

/** Runs python3 with a script; its stdout, failing the test on a non-zero exit. */
async function python(script: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("/usr/bin/python3", { args: ["-c", script, ...args] })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return text;
}

Deno.test({
  name: "zipStream() past 65,535 entries writes ZIP64 end records that python's zipfile reads",
  ignore: !hasPython,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-zip64-" });
    try {
      const n = 70_000;
      const entries = Array.from({ length: n }, (_, i) => ({
        name: `DICOM/F${String(i).padStart(7, "0")}`,
        open: () => Promise.resolve(streamOf(new TextEncoder().encode(String(i)))),
      }));
      const file = await Deno.open(`${dir}/many.zip`, { write: true, create: true });
      await zipStream(entries).pipeTo(file.writable);
      const bytes = await Deno.readFile(`${dir}/many.zip`);
      const dv = new DataView(bytes.buffer);
      // The end of central directory says "see ZIP64" (0xFFFF); the ZIP64 record has the count.
      assert.equal(dv.getUint32(bytes.length - 22, true), 0x06054b50);
      assert.equal(dv.getUint16(bytes.length - 22 + 10, true), 0xffff);
      assert.equal(dv.getUint32(bytes.length - 22 - 20, true), 0x07064b50);
      const got = await python(
        `import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
assert z.testzip() is None
print(len(names), names[-1], z.read(names[-1]).decode())`,
        `${dir}/many.zip`,
      );
      assert.equal(got.trim(), `${n} DICOM/F0069999 69999`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "zipStream() with a file over 4 GiB: ZIP64 sizes and offsets (sparse file, no 4 GiB)",
  ignore: !hasPython,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-zip64-" });
    try {
      const mib = new Uint8Array(1024 * 1024);
      const count = 4097; // 4 GiB + 1 MiB of zeros
      const big = new ReadableStream<Uint8Array>({
        start() {},
        pull(c) {
          c.enqueue(mib);
          if (++sent === count) c.close();
        },
      }, { highWaterMark: 0 });
      let sent = 0;
      const archive = zipStream([
        { name: "big.bin", size: count * mib.length, open: () => Promise.resolve(big) },
        {
          name: "after.txt",
          open: () => Promise.resolve(streamOf(new TextEncoder().encode("past 4 GiB"))),
        },
      ]);
      // The zeros are not written: the file is sparse where they are.
      const path = `${dir}/big.zip`;
      const file = await Deno.open(path, { write: true, create: true });
      try {
        for await (const chunk of archive) {
          if (chunk === mib) await file.seek(chunk.length, Deno.SeekMode.Current);
          else await file.write(chunk);
        }
      } finally {
        file.close();
      }
      const used = (await Deno.stat(path)).blocks;
      if (used !== null) assert.ok(used * 512 < 64 * 1024 * 1024, "the test file is sparse");
      const got = await python(
        `import sys, zipfile, zlib
z = zipfile.ZipFile(sys.argv[1])
big, after = z.infolist()
crc = 0
zeros = bytes(1 << 20)
for _ in range(${count}):
    crc = zlib.crc32(zeros, crc)
assert big.CRC == crc, (big.CRC, crc)
print(big.file_size, after.header_offset, z.read("after.txt").decode())`,
        path,
      );
      assert.equal(
        got.trim(),
        `${count * mib.length} ${count * mib.length + 30 + 7 + 20 + 24} past 4 GiB`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
