// Forwarding gives way to incoming stores: while objects keep being queued the sender holds
// back, within a backlog it can send in its drain budget and a bound on any object's wait;
// once stores pause it sends at once.
import assert from "node:assert/strict";
import { ForwardPacing } from "../../src/app/forward_pacing.ts";

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Queues an object every `everyMs` until `until` resolves; returns how many. */
async function keepQueuing(p: ForwardPacing, everyMs: number, until: Promise<unknown>) {
  let done = false;
  until.then(() => done = true, () => done = true);
  let n = 0;
  for (let i = 0; i < 10_000 && !done; i++) {
    p.queued();
    n++;
    await delay(everyMs);
  }
  return n;
}

/** A pacing that has sent one object taking about `ms`. */
async function warmed(options: ConstructorParameters<typeof ForwardPacing>[0], ms: number) {
  const p = new ForwardPacing(options);
  p.sent(false); // the clock starts at a first object
  await delay(ms);
  p.sent(true);
  return p;
}

Deno.test("the first object goes at once: there is no sending rate to plan with yet", async () => {
  const p = new ForwardPacing({ quietMs: 10_000, maxLagMs: 10_000 });
  p.queued();
  const t0 = performance.now();
  await p.giveWay(Date.now(), () => 1, () => false);
  assert.ok(performance.now() - t0 < 1000);
});

Deno.test("while stores keep arriving the sender holds back, and goes once they pause", async () => {
  const p = await warmed({ quietMs: 150, drainBudgetMs: 60_000, maxLagMs: 60_000 }, 5);
  p.queued();
  const t0 = performance.now();
  let released = -1;
  const hold = p.giveWay(Date.now(), () => 1, () => false).then(() => {
    released = performance.now() - t0;
  });
  // Objects arrive every 20 ms for about 600 ms, then stop.
  const stop = delay(600);
  const queued = await keepQueuing(p, 20, stop);
  assert.equal(released, -1, `let go at ${released} ms while objects kept arriving`);
  await hold;
  assert.ok(queued > 5, `${queued} objects queued`);
  assert.ok(released >= 600, `let go after ${released.toFixed(0)} ms, before stores paused`);
  assert.ok(released < 600 + 150 + 2000, `let go ${released.toFixed(0)} ms in: long after`);
});

Deno.test("a backlog that would take the drain budget to send goes at once", async () => {
  // About 20 ms per object (more on a busy machine) and a 400 ms budget: at most 20 waiting
  // objects are enough.
  const p = await warmed({ quietMs: 60_000, drainBudgetMs: 400, maxLagMs: 60_000 }, 20);
  p.queued();
  let waiting = 3;
  const hold = p.giveWay(Date.now(), () => waiting, () => false);
  let released = false;
  hold.then(() => released = true);
  await delay(30);
  assert.equal(released, false, "3 objects fit in the budget: held");
  for (let i = 0; i < 60 && !released; i++) {
    p.queued();
    waiting++;
    await delay(1);
  }
  await hold;
  assert.ok(released);
  assert.ok(waiting > 3 && waiting <= 21, `let go with ${waiting} waiting`);
});

Deno.test("no object waits longer than maxLagMs, however busy the stores", async () => {
  const p = await warmed({ quietMs: 60_000, drainBudgetMs: 60_000, maxLagMs: 300 }, 5);
  p.queued();
  const queuedAt = Date.now();
  const hold = p.giveWay(queuedAt, () => 1, () => false);
  const stop = hold.then(() => Date.now() - queuedAt);
  await keepQueuing(p, 10, stop);
  const waited = await stop;
  assert.ok(waited >= 290 && waited < 300 + 2000, `waited ${waited} ms`);
});

Deno.test("a hold ends when the sender stops", async () => {
  const p = await warmed({ quietMs: 60_000, drainBudgetMs: 60_000, maxLagMs: 60_000 }, 5);
  p.queued();
  let stopped = false;
  const hold = p.giveWay(Date.now(), () => 1, () => stopped);
  await delay(20);
  stopped = true;
  p.release();
  const t0 = performance.now();
  await hold;
  assert.ok(performance.now() - t0 < 1000);
});
