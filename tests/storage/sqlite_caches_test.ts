// The idle release's SQLite step: every open connection of the index is asked to give its
// page cache back, a closed one is skipped and forgotten, and the connections work on after.
import assert from "node:assert/strict";
import { IndexDb } from "../../src/storage/index_db.ts";
import { shrinkCaches } from "../../src/storage/sqlite_caches.ts";

Deno.test("shrinkCaches() empties the caches of the open index connections; they work on", async () => {
  const root = await Deno.makeTempDir({ prefix: "minipacs-caches-" });
  const db = IndexDb.open(`${root}/index.sqlite`);
  try {
    const base = shrinkCaches();
    const a = db.openReader();
    const b = db.openReader();
    const read = (r: typeof a) =>
      Number((r.prepare("SELECT count(*) AS n FROM instance").get() as { n: number }).n);
    assert.equal(read(a), 0);
    assert.equal(shrinkCaches(), base + 2, "both readers asked");
    b.close();
    assert.equal(shrinkCaches(), base + 1, "a closed one is skipped");
    assert.equal(read(a), 0, "a reader works on after giving its cache back");
    a.close();
  } finally {
    db.close();
    await Deno.remove(root, { recursive: true });
  }
});
