// Media types of DICOMweb requests and responses (PS3.18 8.7): the Accept header's ranges
// with their parameters, and the Content-Type's parameters (boundary, type).

export interface MediaRange {
  /** Lower case "type/subtype" ("*\/*" for anything). */
  type: string;
  /** Parameters, names in lower case, values unquoted. */
  params: Record<string, string>;
  q: number;
}

/** Splits on `sep` outside double quotes. */
function splitOutsideQuotes(text: string, sep: string): string[] {
  const out: string[] = [];
  let current = "";
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      out.push(current);
      current = "";
    } else current += ch;
  }
  out.push(current);
  return out;
}

/** One media type with parameters: `multipart/related; type="application/dicom"`. */
export function parseMediaType(text: string): MediaRange {
  const [type, ...rest] = splitOutsideQuotes(text, ";");
  const params: Record<string, string> = {};
  let q = 1;
  for (const p of rest) {
    const eq = p.indexOf("=");
    if (eq < 0) continue;
    const name = p.slice(0, eq).trim().toLowerCase();
    let value = p.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
      value = value.slice(1, -1);
    }
    if (name === "q") q = Number.isFinite(Number(value)) ? Number(value) : 1;
    else params[name] = value;
  }
  return { type: type.trim().toLowerCase(), params, q };
}

/** The ranges of an Accept header, most preferred first (a missing header accepts anything). */
export function parseAccept(header: string | null | undefined): MediaRange[] {
  if (!header || header.trim() === "") return [{ type: "*/*", params: {}, q: 1 }];
  return splitOutsideQuotes(header, ",")
    .map((r) => r.trim())
    .filter((r) => r !== "")
    .map(parseMediaType)
    .filter((r) => r.q > 0)
    .map((r, i) => ({ r, i }))
    .sort((a, b) => b.r.q - a.r.q || a.i - b.i)
    .map(({ r }) => r);
}

/** True when a range admits the media type (exactly, "type/*" or "*\/*"). */
export function rangeAdmits(range: MediaRange, type: string): boolean {
  if (range.type === "*/*" || range.type === type) return true;
  return range.type.endsWith("/*") && type.startsWith(range.type.slice(0, -1));
}
