// Which fragments of encapsulated Pixel Data make each frame (PS3.5 A.4).
import assert from "node:assert/strict";
import {
  basicOffsets,
  FrameError,
  framesOfFragments,
} from "../../../src/core/dicom/encapsulated.ts";

// Fragments as items: each value 8 bytes after its item header.
const f = (offset: number, length: number) => ({ offset, length });

Deno.test("one frame takes every fragment; as many fragments as frames, one each", () => {
  const fragments = [f(108, 10), f(126, 10)];
  assert.deepEqual(framesOfFragments(fragments, [], 1), [fragments]);
  assert.deepEqual(framesOfFragments(fragments, [], 2), [[fragments[0]], [fragments[1]]]);
});

Deno.test("otherwise the Basic Offset Table says where each frame starts", () => {
  // Frame 1: two fragments (18 bytes each with header), frame 2: one.
  const fragments = [f(108, 10), f(126, 10), f(144, 10)];
  const frames = framesOfFragments(fragments, [0, 36], 2);
  assert.deepEqual(frames, [[fragments[0], fragments[1]], [fragments[2]]]);
});

Deno.test("several fragments per frame without a table, or a table that fits not, are refused", () => {
  const fragments = [f(108, 10), f(126, 10), f(144, 10)];
  assert.throws(() => framesOfFragments(fragments, [], 2), FrameError);
  assert.throws(() => framesOfFragments(fragments, [0, 100], 2), FrameError);
  assert.throws(() => framesOfFragments([], [], 1), /no fragments/);
});

Deno.test("basicOffsets() reads 32-bit little endian offsets", () => {
  assert.deepEqual(basicOffsets(new Uint8Array([0, 0, 0, 0, 0x24, 0, 0, 0, 1, 1, 0, 0])), [
    0,
    36,
    257,
  ]);
});
