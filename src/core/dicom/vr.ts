// Value Representations as the explicit-VR encodings see them (PS3.5 6.2, 7.1.2).

const words = (text: string) => text.trim().split(/\s+/);

/** VRs whose explicit header has 2 reserved bytes and a 4-byte length (PS3.5 Table 7.1-1). */
export const LONG_VRS: ReadonlySet<string> = new Set(
  words("OB OD OF OL OV OW SQ SV UC UN UR UT UV"),
);

/** VRs with a 2-byte length in explicit VR (PS3.5 Table 7.1-2). */
export const SHORT_VRS: ReadonlySet<string> = new Set(
  words("AE AS AT CS DA DS DT FL FD IS LO LT PN SH SL SS ST TM UI UL US"),
);

/** Every VR of PS3.5 6.2. */
export const KNOWN_VRS: ReadonlySet<string> = new Set([...LONG_VRS, ...SHORT_VRS]);
