// Backpressure on sustained ingest. The materializer copies objects from the journal to their
// homes in quiet moments, or without waiting once its backlog passes a bound; when stores never
// pause, the journal still takes them faster than they go home, and the backlog (what a crash
// leaves to replay, what reads come from, what the disk holds twice) grows without end. Past
// HARD_FACTOR times that bound a store's answer waits for the next batch to go home, so the
// senders slow to the rate objects reach their homes. A burst below the bound is not slowed.

/** What backpressure needs of the materializer. */
export interface BacklogSource {
  readonly backlog: { objects: number; bytes: number };
  /** Where it starts to run even while ingest is busy. */
  readonly backlogBound: { objects: number; bytes: number };
  /** A full disk: it cannot catch up, and waiting would only hold the senders. */
  readonly diskFull: boolean;
  nextProgress(): Promise<void>;
}

/** The journal may hold this many times the materializer's bound before stores wait. */
export const HARD_FACTOR = 2;
/** A store waits at most this long in all (a stuck materializer must not hang senders). */
export const MAX_WAIT_MS = 30_000;

/** True while the backlog is past the hard bound. */
export function overHardBound(source: BacklogSource): boolean {
  const { objects, bytes } = source.backlog;
  const bound = source.backlogBound;
  return objects >= HARD_FACTOR * bound.objects || bytes >= HARD_FACTOR * bound.bytes;
}

/**
 * Resolves at once while the backlog is under the hard bound, otherwise once batches have
 * brought it back under (or the disk is full, or MAX_WAIT_MS passed). Returns the ms waited.
 */
export async function roomInJournal(
  source: BacklogSource,
  maxWaitMs = MAX_WAIT_MS,
): Promise<number> {
  if (!overHardBound(source) || source.diskFull) return 0;
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, maxWaitMs)));
  try {
    // Bounded by maxWaitMs: `late` settles every wait after it.
    while (overHardBound(source) && !source.diskFull && performance.now() - t0 < maxWaitMs) {
      await Promise.race([source.nextProgress(), late]);
    }
  } finally {
    clearTimeout(timer);
  }
  return performance.now() - t0;
}
