// The retry delay shared by forwarding and storage commitment reports.
import assert from "node:assert/strict";
import { retryDelayMs } from "../../src/app/backoff.ts";

Deno.test("the retry delay doubles after each failure from the first delay", () => {
  assert.deepEqual([0, 1, 2, 3].map((n) => retryDelayMs(1000, 300_000, n)), [
    1000,
    2000,
    4000,
    8000,
  ]);
});

Deno.test("the retry delay never exceeds retry_max_s, even after very many failures", () => {
  assert.equal(retryDelayMs(1000, 300_000, 9), 300_000);
  assert.equal(retryDelayMs(1000, 300_000, 10_000), 300_000);
  assert.ok(Number.isFinite(retryDelayMs(1000, Infinity, 10_000)));
});

Deno.test("a negative failure count is taken as none", () => {
  assert.equal(retryDelayMs(500, 60_000, -1), 500);
});
