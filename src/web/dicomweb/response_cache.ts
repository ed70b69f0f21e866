// Recent metadata answers, whole and encoded, for the viewers that ask for the same series
// again and again: valid while the scope holds the same instances at the same commit seqs
// (the fingerprint), and dropped oldest-first past a byte budget.

export class ResponseCache {
  readonly #maxBytes: number;
  #bytes = 0;
  readonly #entries = new Map<string, { fingerprint: string; body: Uint8Array }>();

  constructor(maxBytes = 64 * 1024 * 1024) {
    this.#maxBytes = maxBytes;
  }

  /** The answer kept for `key` when its fingerprint is still `fingerprint`. */
  get(key: string, fingerprint: string): Uint8Array | undefined {
    const hit = this.#entries.get(key);
    if (!hit) return undefined;
    if (hit.fingerprint !== fingerprint) {
      this.#delete(key);
      return undefined;
    }
    this.#entries.delete(key); // most recently used last
    this.#entries.set(key, hit);
    return hit.body;
  }

  set(key: string, fingerprint: string, body: Uint8Array): void {
    if (body.length > this.#maxBytes / 4) return;
    this.#delete(key);
    this.#entries.set(key, { fingerprint, body });
    this.#bytes += body.length;
    for (const [oldest] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#delete(oldest);
    }
  }

  #delete(key: string): void {
    const old = this.#entries.get(key);
    if (!old) return;
    this.#bytes -= old.body.length;
    this.#entries.delete(key);
  }
}
