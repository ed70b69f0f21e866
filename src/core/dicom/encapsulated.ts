// Encapsulated Pixel Data (PS3.5 A.4): a Basic Offset Table item, then fragments; which
// fragments make up each frame.

/** One item of encapsulated Pixel Data: where its value is, in the Part 10 bytes. */
export interface Fragment {
  offset: number;
  length: number;
}

export class FrameError extends Error {}

/**
 * The fragments of each frame (PS3.5 A.4.1, A.4.2): all of them for a single frame; one each
 * when there are as many as frames; else as the Basic Offset Table says.
 */
export function framesOfFragments(
  fragments: readonly Fragment[],
  basicOffsetTable: readonly number[],
  numberOfFrames: number,
): Fragment[][] {
  if (fragments.length === 0) throw new FrameError("Pixel Data has no fragments");
  if (numberOfFrames <= 1) return [fragments.slice()];
  if (fragments.length === numberOfFrames) return fragments.map((f) => [f]);
  if (basicOffsetTable.length !== numberOfFrames) {
    throw new FrameError(
      `${fragments.length} fragments for ${numberOfFrames} frames and no Basic Offset Table`,
    );
  }
  // Offsets in the table count from the first fragment's item header (8 bytes before it).
  const base = fragments[0].offset - 8;
  const frames: Fragment[][] = basicOffsetTable.map(() => []);
  let frame = 0;
  for (const fragment of fragments) {
    const start = fragment.offset - 8 - base;
    while (frame + 1 < basicOffsetTable.length && start >= basicOffsetTable[frame + 1]) frame++;
    frames[frame].push(fragment);
  }
  if (frames.some((f) => f.length === 0)) {
    throw new FrameError("the Basic Offset Table does not match the fragments");
  }
  return frames;
}

/** The Basic Offset Table's entries (32-bit little endian offsets). */
export function basicOffsets(value: Uint8Array): number[] {
  const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const out: number[] = [];
  for (let i = 0; i + 4 <= value.length; i += 4) out.push(dv.getUint32(i, true));
  return out;
}
