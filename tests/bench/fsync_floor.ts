// The bench disk's floor for a durable answer: how long appending an object's bytes to a file
// and fdatasyncing them takes there. One association is request/answer, so a server that syncs
// each object before its answer, without overlapping the sync with the object's arrival, spends
// at least the sender-bound time per image (storescp's, which never syncs) plus this.
//
//   deno run -A tests/bench/fsync_floor.ts [--dir DIR]

/** Median milliseconds of `rounds` appends of `bytes` to one file, each followed by fdatasync. */
async function appendSync(dir: string, bytes: number, rounds: number): Promise<number> {
  const path = `${dir}/fsync-floor-${bytes}.bin`;
  const file = await Deno.open(path, { write: true, createNew: true });
  const chunk = new Uint8Array(bytes).fill(0x5a);
  const times: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      for (let at = 0; at < chunk.length;) at += file.writeSync(chunk.subarray(at));
      await file.syncData();
      times.push(performance.now() - t0);
    }
  } finally {
    file.close();
    await Deno.remove(path).catch(() => {});
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export interface FsyncFloor {
  /** Median ms of a 512 KiB append + fdatasync. */
  ms512k: number;
  /** Median ms of a 4 KiB append + fdatasync. */
  ms4k: number;
}

/** Measures the floor in a temporary folder under `parent` (default: the system's temp dir). */
export async function measureFsyncFloor(parent?: string, rounds = 40): Promise<FsyncFloor> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-fsync-floor-", dir: parent });
  try {
    const ms4k = await appendSync(dir, 4096, rounds);
    const ms512k = await appendSync(dir, 512 * 1024, rounds);
    return { ms512k, ms4k };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * The line the store benchmark prints: the floor, and with storescp's one-association rate the
 * ratio to storescp that an answer waiting for a whole object's fdatasync after its arrival
 * could reach at most.
 */
export function fsyncFloorLine(floor: FsyncFloor, storescpImagesPerSecond?: number): string {
  const head = `fsync floor: 512 KiB append + fdatasync ${floor.ms512k.toFixed(2)} ms median ` +
    `(4 KiB: ${floor.ms4k.toFixed(2)} ms) on the bench's disk`;
  if (!storescpImagesPerSecond || !Number.isFinite(storescpImagesPerSecond)) return head;
  const perImage = 1000 / storescpImagesPerSecond;
  const ceiling = perImage / (perImage + floor.ms512k);
  return `${head}; storescp took ${perImage.toFixed(2)} ms per image on one association, so ` +
    `a sync after each object's arrival caps one association at ${ceiling.toFixed(2)}x ` +
    `storescp, and a sync of the tail only (4 KiB) at ${
      (perImage / (perImage + floor.ms4k)).toFixed(2)
    }x`;
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--dir");
  const floor = await measureFsyncFloor(i >= 0 ? Deno.args[i + 1] : undefined);
  console.log(fsyncFloorLine(floor));
}
