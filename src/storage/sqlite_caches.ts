// The page caches of the server's SQLite connections, given back when it goes idle. A
// connection keeps the pages it read (up to its cache_size) for as long as it is open; after
// a broad query they are megabytes that an idle server would hold for nothing.
// `PRAGMA shrink_memory` frees the pages no statement is using; the next query reads them again
// from the OS page cache.
import type { DatabaseSync } from "node:sqlite";

/** Connections opened so far (weakly: a closed or forgotten one drops out). */
const connections = new Set<WeakRef<DatabaseSync>>();

/** Counts `db` among the connections whose caches shrinkCaches() empties; returns it. */
export function trackCache(db: DatabaseSync): DatabaseSync {
  connections.add(new WeakRef(db));
  return db;
}

/** Empties the page cache of every open connection tracked; returns how many it asked. */
export function shrinkCaches(): number {
  let n = 0;
  for (const ref of connections) {
    const db = ref.deref();
    if (!db || !db.isOpen) {
      connections.delete(ref);
      continue;
    }
    try {
      db.exec("PRAGMA shrink_memory");
      n++;
    } catch {
      // busy or closing: its cache stays until the next pass
    }
  }
  return n;
}
