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
