// One process at a time on a storage folder: the server and `minipacs reindex` hold an
// exclusive advisory lock (flock) on `<storage>/lock` while they work. The kernel drops it
// when the process dies, so a crash never leaves a stale lock behind.

export const LOCK_FILE = "lock";

/** The storage folder is held by another process. */
export class StorageLockedError extends Error {
  constructor(readonly root: string, readonly holder: string) {
    super(
      `storage ${root} is in use by another MiniPACS process${holder ? ` (pid ${holder})` : ""}; ` +
        "stop it first",
    );
    this.name = "StorageLockedError";
  }
}

export interface StorageLock {
  /** Releases the lock (safe to call twice). */
  release(): void;
}

/** Takes the lock without waiting; throws StorageLockedError when another process holds it. */
export async function lockStorage(root: string): Promise<StorageLock> {
  await Deno.mkdir(root, { recursive: true });
  const path = `${root}/${LOCK_FILE}`;
  const file = await Deno.open(path, { read: true, write: true, create: true });
  let locked = false;
  try {
    locked = await file.tryLock(true);
    if (!locked) {
      const holder = (await Deno.readTextFile(path).catch(() => "")).trim();
      throw new StorageLockedError(root, /^\d+$/.test(holder) ? holder : "");
    }
    // The pid is only a hint for the message above; the flock is what counts.
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  } catch (e) {
    if (locked) await file.unlock().catch(() => {});
    file.close();
    throw e;
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try {
        file.truncateSync(0);
        file.unlockSync();
      } catch {
        // closing the file releases the lock anyway
      } finally {
        file.close();
      }
    },
  };
}
