// The idle release: its steps run once the server has been quiet a while after some work, not
// while work is under way, not again without new work, and a failing step stops nothing.
import assert from "node:assert/strict";
import { IdleRelease } from "../../src/app/idle_release.ts";

const AFTER_MS = 40;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function counting(afterMs = AFTER_MS) {
  let calls = 0;
  const idle = new IdleRelease({ steps: [() => void calls++], afterMs: [afterMs] });
  return { idle, calls: () => calls };
}

Deno.test("IdleRelease runs its steps once, a while after the last work ended", async () => {
  const { idle, calls } = counting();
  try {
    await sleep(AFTER_MS * 3);
    assert.equal(calls(), 0, "ran without any work");
    idle.begin()();
    assert.equal(calls(), 0, "ran at once, not after the quiet period");
    await sleep(AFTER_MS * 4);
    assert.equal(calls(), 1);
    assert.equal(idle.runs, 1);
    // Nothing new happened: an idle server does not release again and again.
    await sleep(AFTER_MS * 4);
    assert.equal(calls(), 1);
    // New work, then quiet: once more.
    idle.touch();
    await sleep(AFTER_MS * 4);
    assert.equal(calls(), 2);
  } finally {
    idle.close();
  }
});

Deno.test("IdleRelease waits while work is under way and for the quiet after it", async () => {
  const { idle, calls } = counting();
  try {
    const end = idle.begin();
    idle.touch();
    await sleep(AFTER_MS * 4);
    assert.equal(calls(), 0, "released while an association was still open");
    end();
    end(); // a second end is ignored
    await sleep(AFTER_MS * 4);
    assert.equal(calls(), 1);
  } finally {
    idle.close();
  }
});

Deno.test("IdleRelease counts the quiet period from the last work", async () => {
  const { idle, calls } = counting(400);
  try {
    idle.touch();
    await sleep(250);
    idle.touch();
    await sleep(250);
    assert.equal(calls(), 0, "released 400 ms after the first work, not the last");
    await sleep(600);
    assert.equal(calls(), 1);
  } finally {
    idle.close();
  }
});

Deno.test("IdleRelease goes on past a failing step, and nothing runs after close()", async () => {
  let second = 0;
  const logged: string[] = [];
  const idle = new IdleRelease({
    steps: [() => {
      throw new Error("not this time");
    }, () => {
      second++;
      return "given back";
    }],
    afterMs: [AFTER_MS],
    logger: { log: (_level, message) => logged.push(message) },
  });
  try {
    idle.touch();
    await sleep(AFTER_MS * 4);
    assert.equal(second, 1);
    assert.ok(logged.some((l) => /not this time/.test(l)), logged.join("\n"));
    assert.ok(logged.some((l) => /given back/.test(l)), logged.join("\n"));
    idle.touch();
    idle.close();
    await sleep(AFTER_MS * 4);
    assert.equal(second, 1, "ran after close()");
  } finally {
    idle.close();
  }
});

Deno.test("IdleRelease runs a second pass later, and new work starts over from the first", async () => {
  let calls = 0;
  const idle = new IdleRelease({ steps: [() => void calls++], afterMs: [AFTER_MS, AFTER_MS * 10] });
  try {
    idle.touch();
    await sleep(AFTER_MS * 3);
    assert.equal(calls, 1, "first pass");
    await sleep(AFTER_MS * 10);
    assert.equal(calls, 2, "second pass");
    await sleep(AFTER_MS * 10);
    assert.equal(calls, 2, "no third pass without new work");
    idle.touch();
    await sleep(AFTER_MS * 3);
    assert.equal(calls, 3);
  } finally {
    idle.close();
  }
});
