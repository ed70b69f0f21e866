// Compression at rest (compress_at_rest.ts, run by the materializer): the home file in the
// compressed syntax, the index pointing at it with its syntax and length, and what is kept as
// received (with a warning when the lossless check failed).
import assert from "node:assert/strict";
import type { CompressionResult } from "../../src/core/dicom/compression.ts";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { homePathFor } from "../../src/storage/layout.ts";
import {
  datasetFor,
  equalBytes,
  expectedPart10,
  makeRecord,
  MemoryLogger,
  openStore,
  readAll,
  storeObject,
  withTempDir,
} from "./fixtures.ts";

const JPEG_LS = "1.2.840.10008.1.2.4.80";

async function storeWith(
  root: string,
  compressor: (d: Uint8Array, from: string, to: string) => Promise<CompressionResult>,
) {
  const logger = new MemoryLogger();
  const store = await openStore(root, { compressTo: JPEG_LS, compressor, logger });
  const record = makeRecord("1.2.3.7.1.1");
  const dataset = datasetFor(record, 20_000);
  assert.equal(await storeObject(store, record, dataset, { callingAe: "CT" }), "stored");
  await store.endAssociation("a1");
  await store.drain();
  return { store, record, dataset, logger };
}

Deno.test("compression at rest: a compressed home file; the index keeps the syntax received, reads give the file's", async () => {
  await withTempDir(async (root) => {
    const compressed = new Uint8Array(1000).fill(7);
    const calls: string[] = [];
    const { store, record, dataset } = await storeWith(root, (d, from, to) => {
      calls.push(`${from} -> ${to} (${d.length} bytes)`);
      return Promise.resolve({ compressed: true, dataset: compressed });
    });
    try {
      const received = expectedPart10(record, dataset, "CT");
      assert.deepEqual(calls, [
        `${record.transferSyntaxUid} -> ${JPEG_LS} (${dataset.length} bytes)`,
      ]);
      const home = await Deno.readFile(`${root}/${await homePathFor(record)}`);
      const { meta, datasetOffset } = decodeFileMetaInformation(home);
      assert.equal(meta.transferSyntaxUid, JPEG_LS);
      assert.equal(meta.sopInstanceUid, record.sopInstanceUid);
      assert.equal(meta.sourceAeTitle, "CT");
      assert.ok(equalBytes(home.subarray(datasetOffset), compressed));
      const row = store.getInstance(record.sopInstanceUid)!;
      assert.equal(row.record.transferSyntaxUid, record.transferSyntaxUid, "as received");
      assert.equal(row.location.length, home.length);
      assert.equal(row.meta.size, received.length, "the bytes received are kept");
      const read = await store.readObject(record.sopInstanceUid);
      assert.equal(read?.transferSyntaxUid, JPEG_LS);
      assert.ok(equalBytes(await readAll(read!.stream), home));
      assert.equal(store.counts().storedBytes, home.length);
      assert.equal(store.counts().bytes, received.length);
    } finally {
      await store.close();
    }
  });
});

Deno.test("compression at rest: an image that fails the lossless check is stored as received, with a warning", async () => {
  await withTempDir(async (root) => {
    const { store, record, dataset, logger } = await storeWith(root, () =>
      Promise.resolve({
        compressed: false,
        reason: "frame 1 does not decode to the bytes it came from",
        mismatch: true,
      }));
    try {
      const home = await Deno.readFile(`${root}/${await homePathFor(record)}`);
      assert.ok(equalBytes(home, expectedPart10(record, dataset, "CT")));
      assert.equal(
        store.getInstance(record.sopInstanceUid)?.record.transferSyntaxUid,
        record.transferSyntaxUid,
      );
      const warn = logger.lines.find((l) =>
        l.level === "warn" && /stored as received/.test(l.message)
      );
      assert.ok(warn, "a warn line");
      assert.match(warn.message, /does not decode to the bytes/);
    } finally {
      await store.close();
    }
  });
});

Deno.test("compression at rest: without image attributes the object is stored as received (the real check)", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root, { compressTo: JPEG_LS });
    try {
      const record = makeRecord("1.2.3.7.2.1");
      const dataset = datasetFor(record, 5000);
      await storeObject(store, record, dataset, { callingAe: "CT" });
      await store.endAssociation("a1");
      await store.drain();
      const home = await Deno.readFile(`${root}/${await homePathFor(record)}`);
      assert.ok(equalBytes(home, expectedPart10(record, dataset, "CT")));
    } finally {
      await store.close();
    }
  });
});
