// The "open storage" start step: the lock, the store, the workers; a failure gives the lock
// back, and close() releases everything.
import assert from "node:assert/strict";
import { type Config, DEFAULT_CONFIG } from "../../src/config.ts";
import { compressionSyntax, openStorage } from "../../src/app/open_storage.ts";
import {
  JPEG_2000_LOSSLESS,
  JPEG_LS_LOSSLESS,
  RLE_LOSSLESS,
} from "../../src/core/codecs/registry.ts";
import { quietLogger } from "../helpers/scu.ts";

const hooks = { routes: () => [], queued: () => {} };

function config(dir: string, over: Partial<Config> = {}): Config {
  return { ...DEFAULT_CONFIG, storage: { ...DEFAULT_CONFIG.storage, path: dir }, ...over };
}

Deno.test("compressionSyntax(): [storage] compression as its lossless transfer syntax", () => {
  assert.equal(compressionSyntax("jpeg-ls"), JPEG_LS_LOSSLESS);
  assert.equal(compressionSyntax("jpeg2000"), JPEG_2000_LOSSLESS);
  assert.equal(compressionSyntax("rle"), RLE_LOSSLESS);
  assert.equal(compressionSyntax("none"), undefined);
});

Deno.test("the storage folder is opened once at a time; close() lets it be opened again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-open-storage-" });
  try {
    const first = await openStorage(config(dir), quietLogger, hooks);
    assert.equal(first.audit, null, "no audit trail when [audit] path is empty");
    await assert.rejects(openStorage(config(dir), quietLogger, hooks));
    await first.close();
    await first.closeAudit();
    const second = await openStorage(config(dir), quietLogger, hooks);
    await second.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an audit trail that cannot be opened fails the step and gives the lock back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-open-storage-" });
  try {
    const bad = config(dir, { audit: { path: `${dir}/no/such/folder/audit.log`, maxMb: 1 } });
    await assert.rejects(openStorage(bad, quietLogger, hooks), /audit\.path/);
    const ok = await openStorage(config(dir), quietLogger, hooks);
    await ok.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
