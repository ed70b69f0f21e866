// "Did you mean": the known name nearest to a misspelt key or section.

/** Edit distance (insert, delete, replace, swap of neighbours), for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** The known name closest to `name`, if close enough to be a typo (or a plural, a dash...). */
export function nearest(name: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replaceAll("-", "_");
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(norm(name), norm(k));
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** The message for an unknown key, with the nearest known one when there is one. */
export function unknownKey(key: string, known: readonly string[]): string {
  const guess = nearest(key, known);
  return `unknown key${guess ? `; did you mean ${guess}?` : ""} (known keys: ${known.join(", ")})`;
}
