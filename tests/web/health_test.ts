// GET /healthz's checks: each failing one is named in the answer, the detail goes to the log.
import assert from "node:assert/strict";
import { checkHealth, type HealthSources } from "../../src/web/health.ts";
import type { Catalog } from "../../src/storage/catalog.ts";
import type { StorageView } from "../../src/web/status.ts";
import { TMP_DIR } from "../../src/storage/layout.ts";

async function sources(
  over: { indexFails?: boolean; free?: number | Error; root?: string } = {},
): Promise<{ s: HealthSources; lines: string[]; root: string }> {
  const root = over.root ?? await Deno.makeTempDir();
  if (!over.root) await Deno.mkdir(`${root}/${TMP_DIR}`);
  const lines: string[] = [];
  const catalog = {
    check() {
      if (over.indexFails) throw new Error("database disk image is malformed");
    },
  } as unknown as Catalog;
  const free = over.free ?? 10_000_000;
  const storage = {
    root,
    freeBytes: () => free instanceof Error ? Promise.reject(free) : Promise.resolve(free),
  } as unknown as StorageView;
  return {
    s: {
      storage,
      catalog,
      minFreeBytes: 1_000_000,
      logger: { log: (_l, m, f) => lines.push(`${m} ${JSON.stringify(f)}`) },
    },
    lines,
    root,
  };
}

Deno.test("checkHealth() is ok when the index answers, storage takes a write and space is free", async () => {
  const { s, lines, root } = await sources();
  try {
    const h = await checkHealth(s);
    assert.equal(h.ok, true);
    assert.deepEqual(h.checks, { process: "ok", index: "ok", storage: "ok", disk: "ok" });
    assert.deepEqual(lines, []);
    assert.deepEqual([...Deno.readDirSync(`${root}/${TMP_DIR}`)], [], "the probe file is gone");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkHealth() names the unreadable index and low disk, the detail only in the log", async () => {
  const { s, lines, root } = await sources({ indexFails: true, free: 10 });
  try {
    const h = await checkHealth(s);
    assert.equal(h.ok, false);
    assert.equal(h.checks.index, "index not readable");
    assert.equal(h.checks.disk, "free space below storage.min_free_mb");
    assert.equal(h.checks.storage, "ok");
    assert.ok(!JSON.stringify(h).includes("malformed"), "the answer keeps the detail out");
    assert.ok(lines.some((l) => /health check failed: index .*malformed/.test(l)));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkHealth() fails storage when the folder takes no write, disk when space is unknown", async () => {
  const { s } = await sources({ root: "/nonexistent-minipacs-root", free: new Error("statfs") });
  const h = await checkHealth(s);
  assert.equal(h.ok, false);
  assert.equal(h.checks.storage, "storage not writable");
  assert.equal(h.checks.disk, "free space unknown");
});
