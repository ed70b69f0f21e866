import assert from "node:assert/strict";
import {
  crashObject,
  equalBytes,
  expectedPart10,
  listFiles,
  openStore,
  readAll,
  storeObject,
  withTempDir,
} from "./fixtures.ts";
import type { FsObjectStore } from "../../src/storage/object_store.ts";

const WRITER = new URL("./crash_writer.ts", import.meta.url).pathname;
const ROUNDS = 24;

interface Run {
  lines: string[];
  sawOpen: boolean;
}

/** Starts the writer, SIGKILLs it after `delayMs` (counted from "open" unless early). */
async function runAndKill(
  root: string,
  prefix: string,
  idleMs: number,
  delayMs: number,
  early: boolean,
) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", WRITER, root, prefix, String(idleMs)],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const run: Run = { lines: [], sawOpen: false };
  let opened: () => void = () => {};
  const openedPromise = new Promise<void>((ok) => (opened = ok));
  const reading = (async () => {
    let pending = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      pending += text;
      const parts = pending.split("\n");
      pending = parts.pop() ?? ""; // a line cut by the kill has no "\n": ignored
      for (const line of parts) {
        if (line === "open") {
          run.sawOpen = true;
          opened();
        } else if (line) run.lines.push(line);
      }
    }
    opened();
  })();
  try {
    if (!early) await Promise.race([openedPromise, new Promise((ok) => setTimeout(ok, 20_000))]);
    await new Promise((ok) => setTimeout(ok, delayMs));
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await child.status;
    await reading;
  }
  return run;
}

async function assertIntact(store: FsObjectStore, uid: string) {
  const got = await store.readObject(uid);
  assert.ok(got, `${uid} present`);
  const { record, dataset } = crashObject(uid);
  const bytes = await readAll(got.stream);
  assert.ok(equalBytes(bytes, expectedPart10(record, dataset, "MODALITY")), `${uid} intact`);
  assert.deepEqual(store.getInstance(uid)?.record, record, `${uid} indexed`);
}

Deno.test({
  name: "every object acknowledged before a SIGKILL is present, intact and indexed after reopen",
  sanitizeResources: false,
  fn: async () => {
    await withTempDir(async (root) => {
      const expected = new Set<string>();
      let killedMidMaterialization = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const prefix = `1.40.${round}`;
        // Every third round the materializer works during ingest (idle 0); every fifth kill
        // lands early, possibly during start-up recovery.
        const idleMs = round % 3 === 0 ? 0 : 25;
        const early = round % 5 === 4;
        const delay = early ? (round * 53) % 400 : 20 + (round * 37) % 230;
        const run = await runAndKill(root, prefix, idleMs, delay, early);
        for (const uid of run.lines) expected.add(uid);

        // Temp files left behind mean the kill hit the materializer mid-batch.
        if ((await listFiles(`${root}/tmp`)).length > 0) killedMidMaterialization++;
        // Held materializer: rows stay where recovery left them until drain().
        const store = await openStore(root, { materializer: { idleMs: 3_600_000 } });
        try {
          assert.deepEqual(await listFiles(`${root}/tmp`), [], "no temp files after recovery");
          for (const uid of run.lines) await assertIntact(store, uid);
          // The objects in flight at the kill may or may not have committed; store them again.
          for (const assoc of [1, 2]) {
            const printed = run.lines.filter((u) => u.startsWith(`${prefix}.${assoc}.`));
            const uid = `${prefix}.${assoc}.${printed.length}`;
            const { record, dataset } = crashObject(uid);
            assert.equal(await storeObject(store, record, dataset, { assocId: "again" }), "stored");
            expected.add(uid);
            await assertIntact(store, uid);
          }
          // No orphan rows: every row is an object we expect, readable where the index says.
          const rows = [...store.allInstances()];
          assert.deepEqual(rows.map((r) => r.record.sopInstanceUid).sort(), [...expected].sort());
          const assertLocated = async () => {
            for (const row of store.allInstances()) {
              const stat = await Deno.stat(`${root}/${row.location.path}`);
              assert.ok(stat.size >= row.location.offset + row.location.length);
            }
          };
          await assertLocated();
          await store.drain();
          await assertLocated();
        } finally {
          await store.close();
        }
      }
      const store = await openStore(root);
      try {
        for (const uid of expected) await assertIntact(store, uid);
        const files = await listFiles(root);
        assert.ok(!files.some((f) => f.endsWith(".tmp")), "no temp files anywhere");
        assert.equal(files.filter((f) => f.endsWith(".dcm")).length, expected.size);
      } finally {
        await store.close();
      }
      assert.ok(expected.size > ROUNDS * 2, `${expected.size} objects stored`);
      assert.ok(killedMidMaterialization > 0, "some kills hit the materializer mid-batch");
      console.log(
        `${expected.size} objects, ${killedMidMaterialization}/${ROUNDS} kills hit the materializer mid-batch`,
      );
    });
  },
});
