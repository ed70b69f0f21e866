// Person Name matching (PS3.4 C.2.2.2.1, C.2.2.2.4; PS3.5 6.2.1): up to three component groups
// (alphabetic=ideographic=phonetic), each family^given^middle^prefix^suffix.
//
// A query name matches a stored name when, in the same component group:
//  - the whole group matches as the standard's literal and wildcard rules say ("*" and "?" may
//    span components: "*JOHN*" finds "DOE^JOHN"), or
//  - every non-empty component of the query matches the same component of the name, with
//    wildcards inside the component ("DOE^J*" finds "DOE^JOHN^A", "^JOHN" finds every John).
// A query of one group is looked for in every group of the name. Trailing empty components
// and groups are not significant; with case-insensitive matching both sides are compared in
// upper case (Unicode, after NFC normalization), whatever character set each was sent in.

/** A normalized name: groups of components, trailing empty ones removed. */
function groupsOf(value: string, caseInsensitive: boolean): string[][] {
  let v = value.normalize("NFC");
  if (caseInsensitive) v = v.toUpperCase();
  const groups = v.split("=").map((g) => trimEmpty(g.split("^").map((c) => c.trim())));
  return trimEmptyGroups(groups);
}

function trimEmpty(components: string[]): string[] {
  let n = components.length;
  while (n > 0 && components[n - 1] === "") n--;
  return components.slice(0, n);
}

function trimEmptyGroups(groups: string[][]): string[][] {
  let n = groups.length;
  while (n > 0 && groups[n - 1].length === 0) n--;
  return groups.slice(0, n);
}

/**
 * The forms of a stored name the index keeps for searching: `norm` is the alphabetic group and
 * `alt` the ideographic and phonetic groups ("" when absent), both upper case and normalized.
 */
export function pnSearchForms(value: string): { norm: string; alt: string } {
  const groups = groupsOf(value, true).map((g) => g.join("^"));
  return { norm: groups[0] ?? "", alt: groups.length > 1 ? groups.slice(1).join("=") : "" };
}

/** A wildcard pattern ("*", "?") as an anchored regular expression over code points. */
export function wildcardRegExp(pattern: string): RegExp {
  let source = "";
  for (const ch of pattern) {
    if (ch === "*") source += ".*";
    else if (ch === "?") source += ".";
    else source += ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`, "su");
}

interface GroupPattern {
  whole: RegExp;
  /** Per component; null where the query leaves the component open. */
  components: (RegExp | null)[];
}

/**
 * Literal text a stored name must contain for a query group to match it, for an index
 * pre-filter: `prefix` starts the group, `pieces` follow in order (wildcards between them).
 */
export interface PnHint {
  prefix: string;
  pieces: string[];
}

export interface PnPattern {
  caseInsensitive: boolean;
  /** Query groups; null where a group is left open. */
  groups: (GroupPattern | null)[];
  /** One group given: it is looked for in every group of the name. */
  anyGroup: boolean;
  /** Pre-filter hints in upper case: for the alphabetic group and for the other groups. */
  hint: { first: PnHint | null; other: PnHint | null };
}

/** Null when the query leaves every component open (universal matching). */
export function compilePn(query: string, caseInsensitive: boolean): PnPattern | null {
  const groups = groupsOf(query, caseInsensitive);
  const upper = groupsOf(query, true);
  if (groups.every((g) => g.every((c) => c === "" || c === "*"))) return null;
  const patterns = groups.map((g): GroupPattern | null => {
    if (g.every((c) => c === "" || c === "*")) return null;
    return {
      whole: wildcardRegExp(g.join("^")),
      components: g.map((c) => (c === "" || c === "*" ? null : wildcardRegExp(c))),
    };
  });
  const anyGroup = groups.length === 1;
  const first = upper[0] && patterns[0] ? hintOf(upper[0]) : null;
  const otherGroups = anyGroup ? upper : upper.slice(1).filter((_, i) => patterns[i + 1]);
  const otherPieces = otherGroups.flatMap((g) => hintOf(g)).flatMap((h) =>
    h.prefix ? [h.prefix, ...h.pieces] : h.pieces
  );
  return {
    caseInsensitive,
    groups: patterns,
    anyGroup,
    hint: { first, other: otherGroups.length ? { prefix: "", pieces: otherPieces } : null },
  };
}

/** The literal prefix of the family name and the literal pieces of every component after it. */
function hintOf(components: string[]): PnHint {
  const pieces: string[] = [];
  let prefix = "";
  components.forEach((c, i) => {
    const parts = c.split(/[*?]/);
    if (i === 0 && c !== "" && c !== "*") {
      prefix = parts[0];
      parts.shift();
    }
    for (const p of parts) if (p !== "") pieces.push(p);
  });
  return { prefix, pieces };
}

function groupMatches(p: GroupPattern, stored: string[]): boolean {
  if (p.whole.test(stored.join("^"))) return true;
  return p.components.every((re, i) => re === null || re.test(stored[i] ?? ""));
}

/** True when the stored name matches the compiled query. */
export function matchPn(p: PnPattern, stored: string): boolean {
  const groups = groupsOf(stored, p.caseInsensitive);
  if (p.anyGroup) {
    const q = p.groups[0]!;
    if (groups.length === 0) return groupMatches(q, []);
    return groups.some((g) => groupMatches(q, g));
  }
  return p.groups.every((q, i) => q === null || groupMatches(q, groups[i] ?? []));
}
