// Backpressure on sustained ingest. The journal takes objects faster than the materializer
// takes them home, so when stores never pause the backlog (what a crash leaves to replay, what
// reads come from, what the disk holds twice) would grow without end. Up to the materializer's
// bound (where it starts to work while ingest is busy) a burst goes in at the journal's speed.
// Past it, answers are spaced out, the more the fuller the journal, so the senders settle near
// the rate objects reach their homes with the backlog a little past that bound: a steady rate,
// not a full-speed start and then a cliff. At HARD_FACTOR times the bound a store's answer
// waits for the next batch to go home (a stuck materializer: at most MAX_WAIT_MS).

/** What backpressure needs of the materializer. */
export interface BacklogSource {
  readonly backlog: { objects: number; bytes: number };
  /** Where it starts to run even while ingest is busy: pacing starts there too. */
  readonly backlogBound: { objects: number; bytes: number };
  /** A full disk: it cannot catch up, and waiting would only hold the senders. */
  readonly diskFull: boolean;
  nextProgress(): Promise<void>;
}

/**
 * The materializer's bound in a store: a burst up to this (a modality's 1,000 CT images of
 * 0.5 MiB) goes in at the journal's speed, the materializer waiting for a quiet moment; past
 * it the materializer works beside ingest and answers are paced.
 */
export const PACING_BOUND = { objects: 5000, bytes: 512 * 1024 * 1024 };
/** PACING_BOUND as the materializer's options. */
export const MATERIALIZER_BOUND = {
  maxBacklogObjects: PACING_BOUND.objects,
  maxBacklogBytes: PACING_BOUND.bytes,
};
/** The journal may hold this many times the materializer's bound before stores wait. */
export const HARD_FACTOR = 2;
/** A store waits at most this long in all (a stuck materializer must not hang senders). */
export const MAX_WAIT_MS = 30_000;
/** The spacing of answers when the backlog reaches the hard bound (ms per object). */
export const MAX_SPACING_MS = 1000;

/** How far the backlog is from the bound (0) to the hard bound (1), objects or bytes. */
export function fullness(source: BacklogSource): number {
  const { objects, bytes } = source.backlog;
  const bound = source.backlogBound;
  const part = (have: number, soft: number) => (have - soft) / ((HARD_FACTOR - 1) * soft);
  return Math.min(1, Math.max(0, part(objects, bound.objects), part(bytes, bound.bytes)));
}

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

/**
 * Spaces out the answers of all associations together: past the bound each admitted object
 * takes the next free slot, slots `fullness * MAX_SPACING_MS` apart. At a steady state the
 * spacing is what the materializer needs per object (12 ms for 80 objects/s: the backlog sits
 * about 1% of the way to the hard bound), whatever the number of senders.
 */
export class JournalPacer {
  readonly #source: BacklogSource;
  readonly #maxSpacingMs: number;
  /** performance.now() of the next free slot. */
  #nextSlot = 0;

  constructor(source: BacklogSource, maxSpacingMs = MAX_SPACING_MS) {
    this.#source = source;
    this.#maxSpacingMs = maxSpacingMs;
  }

  /** Resolves when the store may be answered; the ms waited. */
  async admit(): Promise<number> {
    if (this.#source.diskFull) return 0;
    const spacing = fullness(this.#source) * this.#maxSpacingMs;
    const now = performance.now();
    if (spacing === 0) {
      this.#nextSlot = now;
      return await roomInJournal(this.#source);
    }
    const slot = Math.max(now, this.#nextSlot);
    this.#nextSlot = slot + spacing;
    if (slot > now) await new Promise((resolve) => setTimeout(resolve, slot - now));
    return performance.now() - now + await roomInJournal(this.#source);
  }
}

const pacers = new WeakMap<BacklogSource, JournalPacer>();

/** JournalPacer.admit() with one pacer per materializer. */
export function paceAdmission(source: BacklogSource): Promise<number> {
  let pacer = pacers.get(source);
  if (!pacer) pacers.set(source, pacer = new JournalPacer(source));
  return pacer.admit();
}
