// The metadata builder's pass over the index: skipped when nothing was committed since the
// last complete one (a restart of a large, fully built store reads no instance rows).
import assert from "node:assert/strict";
import type { DicomWebIndex, MissingMetadata } from "../../../src/storage/dicomweb_db.ts";
import type { InstanceMetadataStore } from "../../../src/storage/instance_metadata.ts";
import { MetadataBuilder } from "../../../src/web/dicomweb/metadata_builder.ts";

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
