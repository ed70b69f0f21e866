// The association's idle timer: silence ends an idle association, a running request is not
// silence, a peer stalled in the middle of its dataset is.
import assert from "node:assert/strict";
import { IdleWatch, type IdleWatchHooks } from "../../../src/core/ul/idle_watch.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function watch(timeoutMs: number, over: Partial<IdleWatchHooks> = {}) {
  const seen: string[] = [];
  const w = new IdleWatch(timeoutMs, {
    closed: () => false,
    busy: () => false,
    receivingDataset: () => false,
    stalled: (ms) => seen.push(`stalled ${ms >= timeoutMs}`),
    idle: () => seen.push("idle"),
    ...over,
  });
  return { w, seen };
}

Deno.test("silence for the whole timeout reports idle once", async () => {
  const { w, seen } = watch(30);
  w.reset();
  await sleep(80);
  w.stop();
  assert.deepEqual(seen, ["idle"]);
});

Deno.test("bytes arriving before the timeout keep the association alive", async () => {
  const { w, seen } = watch(60);
  w.reset();
  for (let i = 0; i < 4; i++) {
    await sleep(25);
    w.reset();
  }
  w.stop();
  assert.deepEqual(seen, []);
});

Deno.test("a running request that is not waiting for the peer is not silence", async () => {
  let busy = true;
  const { w, seen } = watch(20, { busy: () => busy });
  w.reset();
  await sleep(70);
  assert.deepEqual(seen, []);
  busy = false;
  await sleep(50);
  w.stop();
  assert.deepEqual(seen, ["idle"]);
});

Deno.test("a peer silent in the middle of its dataset is reported stalled, not idle", async () => {
  const { w, seen } = watch(30, { busy: () => true, receivingDataset: () => true });
  w.reset();
  w.reading();
  await sleep(90);
  w.stop();
  assert.deepEqual(seen, ["stalled true"]);
});

Deno.test("a zero timeout or a closed association never fires", async () => {
  const off = watch(0);
  off.w.reset();
  const closed = watch(10, { closed: () => true });
  closed.w.reset();
  await sleep(40);
  assert.deepEqual([...off.seen, ...closed.seen], []);
});

Deno.test("the timeout counts from the last bytes, not the first", async () => {
  const { w, seen } = watch(100);
  w.reset();
  await sleep(70);
  w.reset();
  await sleep(70); // 140 ms after the first bytes, 70 after the last
  assert.deepEqual(seen, []);
  await sleep(110);
  w.stop();
  assert.deepEqual(seen, ["idle"]);
});
