// The metadata builder's pass over the index: skipped when nothing was committed since the
// last complete one (a restart of a large, fully built store reads no instance rows), and kept
// to a share of the thread that takes stores while they arrive.
import assert from "node:assert/strict";
import type { DicomWebIndex, MissingMetadata } from "../../../src/storage/dicomweb_db.ts";
import type { InstanceMetadataStore } from "../../../src/storage/instance_metadata.ts";
import { MetadataBuilder } from "../../../src/web/dicomweb/metadata_builder.ts";
import { datasetFor, expectedPart10, makeRecord } from "../../storage/fixtures.ts";

/** An index of `top` as its highest seq, counting the row scans asked of it. */
function fakeIndex(top: number) {
  const calls = { missing: 0 };
  const index = {
    maxSeq: () => top,
    dataVersion: () => 1,
    missingMetadata: (): { rows: MissingMetadata[]; last: number } => {
      calls.missing++;
      return { rows: [], last: 0 };
    },
    close: () => {},
  };
  return { index: index as unknown as DicomWebIndex, calls };
}

function fakeStore(builtThrough: number) {
  const store = {
    through: builtThrough,
    builtThrough: () => store.through,
    setBuiltThrough: (n: number) => (store.through = n),
    putAll: () => {},
    close: () => {},
  };
  return store;
}

async function pass(top: number, builtThrough: number) {
  const { index, calls } = fakeIndex(top);
  const store = fakeStore(builtThrough);
  const builder = new MetadataBuilder({
    index,
    store: store as unknown as InstanceMetadataStore,
    objects: {} as never,
    logger: { log() {} },
    pollMs: 60_000,
  });
  try {
    const built = await builder.buildAll();
    return { built, scans: calls.missing, through: store.through };
  } finally {
    await builder.close();
  }
}

Deno.test("MetadataBuilder reads no rows when nothing was committed since its last pass", async () => {
  const idle = await pass(5000, 5000);
  assert.deepEqual(idle, { built: 0, scans: 0, through: 5000 });
  const behind = await pass(5000, 4000);
  assert.equal(behind.scans, 1, "a newer commit is looked for");
  assert.equal(behind.through, 5000, "and the pass completes");
});

/**
 * An index of `count` materialized instances lacking metadata, each read costing `costMs` of
 * busy work; `arriving`: its data version changes at every look (stores keep committing).
 */
function busyPass(count: number, costMs: number, arriving: boolean) {
  const records = Array.from({ length: count }, (_, k) => makeRecord(`1.77.${k + 1}`));
  const part10 = new Map(records.map((r) => [
    r.sopInstanceUid,
    expectedPart10(r, datasetFor(r, 64), "AE"),
  ]));
  let version = 0;
  let busy = 0;
  const index = {
    maxSeq: () => count,
    dataVersion: () => (arriving ? ++version : version),
    missingMetadata: (after: number, limit: number) => {
      const rows: MissingMetadata[] = records.slice(after, after + limit).map((r, k) => ({
        studyInstanceUid: r.studyInstanceUid,
        seriesInstanceUid: r.seriesInstanceUid,
        sopInstanceUid: r.sopInstanceUid,
        seq: after + k + 1,
        journal: false,
      }));
      return { rows, last: Math.min(count, after + limit) };
    },
    close: () => {},
  };
  const objects = {
    readObjectRange: (uid: string) => {
      const t0 = performance.now();
      while (performance.now() - t0 < costMs) { /* the cost of reading and parsing */ }
      busy += performance.now() - t0;
      const bytes = part10.get(uid)!;
      return Promise.resolve({ bytes, total: bytes.length, seq: Number(uid.split(".")[2]) });
    },
    readObject: () => Promise.resolve(null),
  };
  const store = {
    ...fakeStore(0),
    kept: 0,
    putAll(m: unknown[]) {
      store.kept += m.length;
    },
  };
  const builder = new MetadataBuilder({
    index: index as unknown as DicomWebIndex,
    store: store as unknown as InstanceMetadataStore,
    objects,
    logger: { log() {} },
    pollMs: 60_000,
  });
  return { builder, store, busy: () => busy };
}

Deno.test("MetadataBuilder keeps to a fifth of the thread while stores arrive, and runs at full speed when quiet", async () => {
  for (const arriving of [false, true]) {
    const { builder, store, busy } = busyPass(64, 2, arriving);
    try {
      const t0 = performance.now();
      assert.equal(await builder.buildAll(), 64);
      const wall = performance.now() - t0;
      assert.equal(store.kept, 64, "every instance's metadata is kept");
      assert.equal(store.builtThrough(), 64, "and the pass completes");
      const share = busy() / wall;
      if (arriving) {
        assert.ok(
          share < 0.3,
          `while stores arrive it took ${(100 * share).toFixed(0)}% of the thread`,
        );
      } else {
        assert.ok(
          share > 0.5,
          `when quiet it took only ${(100 * share).toFixed(0)}% of the thread`,
        );
      }
    } finally {
      await builder.close();
    }
  }
});
