// Datasets written byte by byte in Explicit VR Little Endian (PS3.5 7.1.2), for tests that
// need exact control of what goes on the wire (bad VRs, charsets, huge values).

const LONG_VRS = new Set(["OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR"]);

/** One element; odd values are padded (NUL for UI/OB, space otherwise). */
export function element(tag: number, vr: string, value: Uint8Array | string): Uint8Array {
  let v = typeof value === "string" ? new TextEncoder().encode(value) : value;
  if (v.length % 2) {
    const padded = new Uint8Array(v.length + 1);
    padded.set(v);
    padded[v.length] = vr === "UI" || vr === "OB" ? 0 : 0x20;
    v = padded;
  }
  const long = LONG_VRS.has(vr);
  const out = new Uint8Array((long ? 12 : 8) + v.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, tag >>> 16, true);
  dv.setUint16(2, tag & 0xffff, true);
  out[4] = vr.charCodeAt(0);
  out[5] = vr.charCodeAt(1);
  if (long) dv.setUint32(8, v.length, true);
  else dv.setUint16(6, v.length, true);
  out.set(v, long ? 12 : 8);
  return out;
}

/** A US value. */
export function us(n: number): Uint8Array {
  return new Uint8Array([n & 0xff, (n >> 8) & 0xff]);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}
