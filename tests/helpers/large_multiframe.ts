// A 1 GiB multi-frame grayscale object generated one frame at a time, never held whole, and the
// peak resident memory of the server that takes it (the store and STOW-RS memory checks).
import assert from "node:assert/strict";
import { concat, element, us } from "./dataset_writer.ts";

export const MULTIFRAME_GRAYSCALE_BYTE_SC = "1.2.840.10008.5.1.4.1.1.7.2";
export const ROWS = 1024;
export const COLUMNS = 1024;
export const FRAMES = 1024;
export const FRAME_BYTES = ROWS * COLUMNS;
export const PIXEL_BYTES = FRAME_BYTES * FRAMES; // 1 GiB
export const PEAK_RSS_LIMIT = 200 * 1024 * 1024;

/** True where /proc can tell a process's peak memory; otherwise prints a skip line. */
export const hasProc = (() => {
  try {
    Deno.statSync("/proc/self/status");
    return true;
  } catch {
    console.log("SKIP: /proc is not available; the server's peak memory cannot be read");
    return false;
  }
})();

/**
 * The dataset up to and including the Pixel Data element header (OB, 1 GiB), Explicit VR
 * Little Endian; the pixels follow as `frames()` yields them.
 */
export function largeMultiframeHead(
  uids: { sop: string; study: string; series: string },
  patient: { name: string; id: string },
  extra: Uint8Array[] = [],
): Uint8Array {
  const pixelHeader = element(0x7fe00010, "OB", new Uint8Array(0));
  new DataView(pixelHeader.buffer).setUint32(8, PIXEL_BYTES, true);
  return concat([
    element(0x00080016, "UI", MULTIFRAME_GRAYSCALE_BYTE_SC),
    element(0x00080018, "UI", uids.sop),
    element(0x00080060, "CS", "OT"),
    element(0x00100010, "PN", patient.name),
    element(0x00100020, "LO", patient.id),
    element(0x0020000d, "UI", uids.study),
    element(0x0020000e, "UI", uids.series),
    element(0x00280002, "US", us(1)),
    element(0x00280004, "CS", "MONOCHROME2"),
    element(0x00280008, "IS", String(FRAMES)),
    ...extra,
    element(0x00280010, "US", us(ROWS)),
    element(0x00280011, "US", us(COLUMNS)),
    element(0x00280100, "US", us(8)),
    element(0x00280101, "US", us(8)),
    element(0x00280102, "US", us(7)),
    element(0x00280103, "US", us(0)),
    pixelHeader,
  ]);
}

/** Byte i of frame f: cheap to generate and to check at any offset. */
export const pixel = (frame: number, i: number) => (frame * 7 + (i >> 10)) & 0xff;

/** Frame f's pixels, written into `into` (a reused buffer) or a new one. */
export function frame(f: number, into = new Uint8Array(FRAME_BYTES)): Uint8Array {
  for (let row = 0; row < ROWS; row++) {
    into.fill(pixel(f, row * COLUMNS), row * COLUMNS, (row + 1) * COLUMNS);
  }
  return into;
}

/** The peak resident memory (VmHWM) of a process, in bytes. */
export function peakRss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
  assert.ok(kb, "VmHWM in /proc/<pid>/status");
  return Number(kb[1]) * 1024;
}

export const mb = (n: number) => `${(n / 1048576).toFixed(0)} MB`;
