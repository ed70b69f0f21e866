// multipart/related (RFC 2387, PS3.18 8.6.1.2): writing parts out as a stream, and reading a
// request body's parts as they arrive, each part's body handed on in pieces, never gathered.

const encoder = new TextEncoder();

/** A boundary that does not occur in DICOM data by chance. */
export function newBoundary(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `minipacs-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** The bytes before a part: delimiter and headers. */
export function partHeader(boundary: string, headers: Record<string, string>): Uint8Array {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  return encoder.encode(`\r\n--${boundary}\r\n${lines}\r\n`);
}

/** The close delimiter after the last part. */
export function closeDelimiter(boundary: string): Uint8Array {
  return encoder.encode(`\r\n--${boundary}--\r\n`);
}

/** A multipart body that is not well formed. */
export class MultipartError extends Error {}

export interface IncomingPart {
  headers: Headers;
  /** The part's body in pieces; each piece is valid until the next is asked for. */
  body: AsyncIterable<Uint8Array>;
}

const MAX_HEADER_BYTES = 16 * 1024;

/**
 * Reads the parts of a multipart body in order. A part's body must be consumed (or left)
 * before the next part is asked for; its pieces are views into the received chunks. Throws
 * MultipartError when the framing is broken and passes on errors of the source (a request
 * cut off), both from the part body being read.
 */
export async function* readMultipart(
  source: AsyncIterable<Uint8Array>,
  boundary: string,
): AsyncGenerator<IncomingPart> {
  const reader = new ByteReader(source[Symbol.asyncIterator]());
  const dashBoundary = encoder.encode(`--${boundary}`);
  const delimiter = encoder.encode(`\r\n--${boundary}`);
  // Preamble: up to the first "--boundary" at the start or after CRLF.
  if (!(await reader.skipPast(dashBoundary, true))) {
    throw new MultipartError("no multipart boundary in the body");
  }
  for (let parts = 0;; parts++) {
    // After a boundary: "--" closes, else optional whitespace and CRLF.
    const after = await reader.peek(2);
    if (after.length >= 2 && after[0] === 0x2d && after[1] === 0x2d) return;
    const line = await reader.readLine(MAX_HEADER_BYTES);
    if (line === null) throw new MultipartError("body ends after a boundary");
    if (line.trim() !== "") throw new MultipartError("text after a boundary");
    const headers = new Headers();
    for (let n = 0;; n++) {
      const h = await reader.readLine(MAX_HEADER_BYTES);
      if (h === null) throw new MultipartError("body ends in a part's headers");
      if (h === "") break;
      if (n > 100) throw new MultipartError("too many part headers");
      const colon = h.indexOf(":");
      if (colon <= 0) throw new MultipartError("malformed part header");
      try {
        headers.append(h.slice(0, colon).trim(), h.slice(colon + 1).trim());
      } catch {
        throw new MultipartError("malformed part header");
      }
    }
    let done = false;
    const body = async function* () {
      for (;;) {
        const piece = await reader.readUntil(delimiter);
        if (piece === null) throw new MultipartError("body ends inside a part");
        if (piece.found) {
          if (piece.bytes.length) yield piece.bytes;
          done = true;
          return;
        }
        yield piece.bytes;
      }
    };
    const iterable = body();
    yield { headers, body: iterable };
    if (!done) { for await (const _ of iterable) { /* the rest of an unread part */ } }
  }
}

/** Buffered reading over a chunk iterator, keeping at most one partial delimiter back. */
class ByteReader {
  #source: AsyncIterator<Uint8Array>;
  #buffer: Uint8Array = new Uint8Array(0);
  #ended = false;

  constructor(source: AsyncIterator<Uint8Array>) {
    this.#source = source;
  }

  async #fill(): Promise<boolean> {
    if (this.#ended) return false;
    const next = await this.#source.next();
    if (next.done) {
      this.#ended = true;
      return false;
    }
    const chunk = next.value;
    if (this.#buffer.length === 0) this.#buffer = chunk;
    else {
      const joined = new Uint8Array(this.#buffer.length + chunk.length);
      joined.set(this.#buffer);
      joined.set(chunk, this.#buffer.length);
      this.#buffer = joined;
    }
    return true;
  }

  async peek(n: number): Promise<Uint8Array> {
    while (this.#buffer.length < n && await this.#fill());
    return this.#buffer.subarray(0, n);
  }

  /** Skips to just after `pattern` (at the start or after CRLF when `lineStart`). */
  async skipPast(pattern: Uint8Array, lineStart: boolean): Promise<boolean> {
    for (let rounds = 0; rounds < 1 << 20; rounds++) {
      const at = find(this.#buffer, pattern, 0, lineStart);
      if (at >= 0) {
        this.#buffer = this.#buffer.subarray(at + pattern.length);
        return true;
      }
      if (this.#buffer.length > 64 * 1024) {
        this.#buffer = this.#buffer.slice(this.#buffer.length - pattern.length - 2);
      }
      if (!(await this.#fill())) return false;
    }
    return false;
  }

  /** A line without its CRLF (or LF); null at the end of the body. */
  async readLine(max: number): Promise<string | null> {
    for (;;) {
      const lf = this.#buffer.indexOf(0x0a);
      if (lf >= 0) {
        const end = lf > 0 && this.#buffer[lf - 1] === 0x0d ? lf - 1 : lf;
        const line = new TextDecoder().decode(this.#buffer.subarray(0, end));
        this.#buffer = this.#buffer.subarray(lf + 1);
        return line;
      }
      if (this.#buffer.length > max) throw new MultipartError("a part header line is too long");
      if (!(await this.#fill())) return null;
    }
  }

  /**
   * Bytes up to `delimiter` (found: true, the delimiter consumed) or a piece that cannot
   * hold its start (found: false); null when the body ends first.
   */
  async readUntil(delimiter: Uint8Array): Promise<{ bytes: Uint8Array; found: boolean } | null> {
    for (;;) {
      const at = find(this.#buffer, delimiter, 0, false);
      if (at >= 0) {
        const bytes = this.#buffer.subarray(0, at);
        this.#buffer = this.#buffer.subarray(at + delimiter.length);
        return { bytes, found: true };
      }
      const keep = delimiter.length - 1;
      if (this.#buffer.length > keep) {
        const bytes = this.#buffer.subarray(0, this.#buffer.length - keep);
        // The kept tail is copied: the caller may be done with this chunk once it returns.
        this.#buffer = this.#buffer.slice(this.#buffer.length - keep);
        return { bytes, found: false };
      }
      if (!(await this.#fill())) return null;
    }
  }
}

const skipTables = new WeakMap<Uint8Array, Int32Array>();

/** Boyer-Moore-Horspool shifts: how far the window may move past a byte at its end. */
function skipTable(pattern: Uint8Array): Int32Array {
  let table = skipTables.get(pattern);
  if (!table) {
    table = new Int32Array(256).fill(pattern.length);
    for (let i = 0; i < pattern.length - 1; i++) table[pattern[i]] = pattern.length - 1 - i;
    skipTables.set(pattern, table);
  }
  return table;
}

/**
 * Index of `pattern` in `bytes` from `from`; with lineStart, only at 0 or after CRLF. A
 * Horspool search: most windows are skipped a whole delimiter's length at once.
 */
function find(bytes: Uint8Array, pattern: Uint8Array, from: number, lineStart: boolean): number {
  const m = pattern.length;
  const last = m - 1;
  const skip = skipTable(pattern);
  let i = from;
  while (i + m <= bytes.length) {
    let k = last;
    while (k >= 0 && bytes[i + k] === pattern[k]) k--;
    if (k < 0) {
      if (!lineStart || i === 0 || (i >= 2 && bytes[i - 2] === 0x0d && bytes[i - 1] === 0x0a)) {
        return i;
      }
      i++;
      continue;
    }
    i += skip[bytes[i + last]];
  }
  return -1;
}
