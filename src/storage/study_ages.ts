// Which studies retention may delete: those whose newest instance was received before a time.
// The index keeps no per-study receive time, so every instance's is read; on a million
// instances one statement would hold the event loop for seconds (node:sqlite is synchronous)
// and stall every store and query meanwhile. So the studies are read a slice of primary keys
// at a time through the indexes, giving the event loop back between slices.
import type { DatabaseSync } from "node:sqlite";

/** Studies per slice: about 10 ms of reading on a loaded two-core machine. */
export const STUDIES_PER_SLICE = 50;

/** One slice: studies with pk in (from, to], newest receive time before `before`. */
export const SLICE_SQL = `SELECT st.study_instance_uid AS uid, max(i.received_at) AS newest
  FROM study st JOIN series se ON se.study_pk = st.pk JOIN instance i ON i.series_pk = se.pk
  WHERE st.pk > ? AND st.pk <= ? GROUP BY st.pk HAVING newest < ?`;

/**
 * Study Instance UIDs whose newest instance was received before `before` (ISO 8601 UTC, so
 * text order is time order), oldest first (ties by UID).
 */
export async function studiesReceivedBefore(
  db: DatabaseSync,
  before: string,
  perSlice = STUDIES_PER_SLICE,
): Promise<string[]> {
  const last = Number(
    (db.prepare("SELECT coalesce(max(pk), 0) AS pk FROM study").get() as { pk: number }).pk,
  );
  const slice = db.prepare(SLICE_SQL);
  const found: { uid: string; newest: string }[] = [];
  // Bounded: the pk range is fixed before the walk starts.
  for (let from = 0; from < last; from += perSlice) {
    for (const row of slice.iterate(from, from + perSlice, before)) {
      const r = row as { uid: string; newest: string };
      found.push({ uid: r.uid, newest: r.newest });
    }
    await new Promise((r) => setTimeout(r, 0));
  }
  found.sort((a, b) =>
    a.newest < b.newest ? -1 : a.newest > b.newest ? 1 : a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0
  );
  return found.map((f) => f.uid);
}
