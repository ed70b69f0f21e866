// One process at a time on a storage folder: a second holder is refused with the first one's
// pid, and a released lock can be taken again.
import assert from "node:assert/strict";
import { LOCK_FILE, lockStorage, StorageLockedError } from "../../src/storage/lock.ts";

Deno.test("lockStorage() refuses a second holder and frees the folder on release", async () => {
  const root = await Deno.makeTempDir({ prefix: "minipacs-lock-" });
  try {
    const first = await lockStorage(root);
    assert.equal((await Deno.readTextFile(`${root}/${LOCK_FILE}`)).trim(), String(Deno.pid));
    const refused = await lockStorage(root).then(() => null, (e) => e);
    assert.ok(refused instanceof StorageLockedError, String(refused));
    assert.match(
      refused.message,
      new RegExp(`in use by another MiniPACS process \\(pid ${Deno.pid}\\)`),
    );
    first.release();
    first.release(); // twice is fine
    const again = await lockStorage(root);
    again.release();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
