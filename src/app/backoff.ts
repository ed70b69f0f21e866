// The retry delay of forwarding and storage commitment reports: doubling from the first
// delay after each failure, capped at `[forward] retry_max_s`.

/** The delay before the next try after `failures` failed tries (0: the first delay). */
export function retryDelayMs(firstMs: number, maxMs: number, failures: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.min(30, Math.max(0, failures)));
}
