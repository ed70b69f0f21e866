// The metadata answer cache: a hit only while the fingerprint holds, least recently used
// dropped first past the byte budget, large answers not kept.
import assert from "node:assert/strict";
import { ResponseCache } from "../../../src/web/dicomweb/response_cache.ts";

const body = (n: number) => new Uint8Array(n);

Deno.test("an answer is served while its fingerprint holds, and dropped when it changes", () => {
  const cache = new ResponseCache(1000);
  cache.set("series-1", "seq-5", body(10));
  assert.equal(cache.get("series-1", "seq-5")?.length, 10);
  assert.equal(cache.get("series-1", "seq-6"), undefined, "a new instance changes the answer");
  assert.equal(cache.get("series-1", "seq-5"), undefined, "the stale answer is gone");
});

Deno.test("past the budget the least recently used answer goes first", () => {
  const cache = new ResponseCache(1000);
  cache.set("a", "f", body(200));
  cache.set("b", "f", body(200));
  cache.set("c", "f", body(200));
  cache.get("a", "f"); // a is now the most recently used
  cache.set("d", "f", body(200));
  cache.set("e", "f", body(200)); // 1000 bytes: still fits
  cache.set("g", "f", body(200)); // over: b, the least recently used, goes
  assert.equal(cache.get("b", "f"), undefined);
  assert.ok(cache.get("a", "f"));
  assert.ok(cache.get("g", "f"));
});

Deno.test("an answer over a quarter of the budget is not kept", () => {
  const cache = new ResponseCache(1000);
  cache.set("big", "f", body(251));
  assert.equal(cache.get("big", "f"), undefined);
});
