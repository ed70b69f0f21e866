// The median the benchmarks quote: of paired ratios, of rounds, of per-block figures.

/** The median of some numbers, NaN ones left out (NaN for none). */
export function medianOf(xs: number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}
