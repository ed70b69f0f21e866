// Send jobs: progress while a send runs (the page and the JSON agree), several at once, a
// failed send's result, and finished sends kept for a while and then dropped.
import assert from "node:assert/strict";
import type { KnownAe } from "../../src/config.ts";
import type { SendResult } from "../../src/core/services/send.ts";
import { SendJobs, type SendRunner } from "../../src/web/send_jobs.ts";
import { sendJobPage, sendsPage } from "../../src/web/send_pages.ts";

const DEST = { aeTitle: "PACS2", host: "10.0.0.5", port: 104, tls: true } as KnownAe;

/** A send the test steps through: each call to step() reports one more instance. */
function steppedRunner(outcomes: ("ok" | "fail")[]) {
  const waiting: (() => void)[] = [];
  const run: SendRunner = async (_level, _uid, _dest, _by, onProgress) => {
    const r: SendResult = {
      total: outcomes.length,
      completed: 0,
      failed: 0,
      warning: 0,
      failedSopInstanceUids: [],
    };
    for (const [i, o] of outcomes.entries()) {
      await new Promise<void>((ok) => waiting.push(ok));
      if (o === "ok") r.completed++;
      else {
        r.failed++;
        r.failedSopInstanceUids.push(`1.2.${i}`);
      }
      onProgress?.(r);
    }
    return r;
  };
  const step = async () => {
    for (let i = 0; i < 100 && waiting.length === 0; i++) await new Promise((ok) => setTimeout(ok));
    waiting.shift()!();
    await new Promise((ok) => setTimeout(ok));
  };
  return { run, step };
}

const html = async (h: unknown) => String(await h);

Deno.test("a running send shows n of N and its failures, then its result", async () => {
  const jobs = new SendJobs();
  const a = steppedRunner(["ok", "fail", "ok"]);
  const b = steppedRunner(["ok"]);
  const job = jobs.start(a.run, "study", "1.2.3", DEST, { user: "admin" }, 3);
  const other = jobs.start(b.run, "series", "1.2.4", DEST, { user: "admin" }, 1);
  assert.equal(job.state, "running");
  await a.step();
  await a.step();
  const mid = jobs.get(job.id)!;
  assert.deepEqual([mid.done, mid.completed, mid.failed], [2, 1, 1]);
  const page = await html(sendJobPage("MINIPACS", mid));
  assert.match(page, /1 of 3 sent, 1 failed…/);
  assert.match(page, /PACS2 at 10\.0\.0\.5:104 \(TLS\)/);
  assert.match(page, /<meta http-equiv="refresh" content="1">/);
  assert.match(page, /<progress id="send-progress" max="3" value="2">/);
  assert.deepEqual(jobs.list().map((j) => j.state), ["running", "running"]);

  await b.step();
  assert.equal((await jobs.settled(other.id))?.state, "completed");
  await a.step();
  const done = (await jobs.settled(job.id))!;
  assert.equal(done.state, "failed");
  assert.deepEqual(done.failedSopInstanceUids, ["1.2.1"]);
  assert.ok(done.finishedAt);
  const final = await html(sendJobPage("MINIPACS", done));
  assert.match(final, /2 of 3 sent, 1 failed\./);
  assert.doesNotMatch(final, /http-equiv="refresh"/);
  assert.match(await html(sendsPage("MINIPACS", jobs.list())), /Send failed/);
});

Deno.test("a send that throws ends failed with its error", async () => {
  const jobs = new SendJobs();
  const job = jobs.start(() => Promise.reject(new Error("index gone")), "study", "1", DEST, {
    user: "admin",
  }, 4);
  const done = (await jobs.settled(job.id))!;
  assert.deepEqual([done.state, done.error, done.failed], ["failed", "index gone", 4]);
});

Deno.test("finished sends stay listed for keepMs, at most keepFinished of them", async () => {
  let now = Date.parse("2026-01-01T10:00:00Z");
  const jobs = new SendJobs({ keepMs: 60_000, keepFinished: 2, now: () => now });
  const instant: SendRunner = () =>
    Promise.resolve({ total: 1, completed: 1, failed: 0, warning: 0, failedSopInstanceUids: [] });
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const j = jobs.start(instant, "instance", String(i), DEST, { user: "a" }, 1);
    await jobs.settled(j.id);
    now += 1000;
    ids.push(j.id);
  }
  assert.deepEqual(jobs.list().map((j) => j.uid), ["2", "1"]);
  assert.equal(jobs.get(ids[0]), undefined);
  now += 61_000;
  assert.deepEqual(jobs.list(), []);
});
