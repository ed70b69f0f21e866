// A storage volume that fills up: stores are refused with 0xA700 (never an abort, even when
// no journal segment can be created with min_free_mb = 0), the materializer waits with one
// warning a minute and then makes progress with whatever room there is, /healthz says what
// waits in the journal, a stop leaves the backlog in the journal (exit 0), and a restart with
// room materializes every acknowledged object. The test mounts its own small tmpfs.
import assert from "node:assert/strict";
import { CommandField } from "../../src/core/dimse/command.ts";
import type { RequestorAssociation } from "../../src/core/ul/requestor.ts";
import { concat, element, us } from "../helpers/dataset_writer.ts";
import { echo, EXPLICIT_LE, openAssociation, VERIFICATION } from "../helpers/scu.ts";
import { startMiniPacs } from "../helpers/server.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const OBJECT_BYTES = 400 * 1024;

async function sh(cmd: string, args: string[]): Promise<{ ok: boolean; text: string }> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const dec = new TextDecoder();
    return { ok: out.success, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
  } catch (e) {
    return { ok: false, text: String(e) };
  }
}

/** Mounts a tmpfs of sizeMb, or says why it cannot. */
async function mountTmpfs(sizeMb: number): Promise<{ dir: string } | { skip: string }> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-fulldisk-" });
  if (Deno.uid() !== 0) {
    await Deno.remove(dir);
    return { skip: "mounting a tmpfs needs root" };
  }
  const r = await sh("mount", ["-t", "tmpfs", "-o", `size=${sizeMb}m`, "minipacs-test", dir]);
  if (!r.ok) {
    await Deno.remove(dir);
    return { skip: `mount -t tmpfs failed: ${r.text.trim()}` };
  }
  return { dir };
}

const probe = await mountTmpfs(1);
const skip = "skip" in probe ? probe.skip : null;
if ("dir" in probe) {
  await sh("umount", [probe.dir]);
  await Deno.remove(probe.dir);
}
if (skip) console.log(`SKIP: full disk test: ${skip} (needs root and mount from util-linux)`);

function makeDataset(i: number): { sop: string; bytes: Uint8Array } {
  const sop = `1.2.826.0.1.3680043.9.7433.12.7.${i}`;
  const bytes = concat([
    element(0x00080016, "UI", CT),
    element(0x00080018, "UI", sop),
    element(0x00080060, "CS", "CT"),
    element(0x00100020, "LO", "FULLDISK"),
    element(0x0020000d, "UI", "1.2.826.0.1.3680043.9.7433.12.7"),
    element(0x0020000e, "UI", "1.2.826.0.1.3680043.9.7433.12.7.1"),
    element(0x00280010, "US", us(320)),
    element(0x00280011, "US", us(640)),
    element(0x7fe00010, "OW", new Uint8Array(OBJECT_BYTES).fill(i & 0xff)),
  ]);
  return { sop, bytes };
}

const DATASETS = new Map<number, { sop: string; bytes: Uint8Array }>();
const dataset = (i: number) => DATASETS.get(i) ?? makeDataset(i);

async function store(assoc: RequestorAssociation, i: number): Promise<number> {
  const { sop, bytes } = dataset(i);
  const rsp = await assoc.request(1, {
    commandField: CommandField.CStoreRq,
    commandDataSetType: 0,
    affectedSopClassUid: CT,
    affectedSopInstanceUid: sop,
  }, bytes);
  return rsp.command.status ?? -1;
}

/** Home files (<study>/<series>/<sop>.dcm) under the storage folder. */
function homes(storage: string): number {
  let n = 0;
  const walk = (dir: string, depth: number) => {
    if (depth > 3) return;
    for (const e of Deno.readDirSync(dir)) {
      if (e.isDirectory && e.name !== "journal" && e.name !== "tmp") {
        walk(`${dir}/${e.name}`, depth + 1);
      } else if (e.isFile && e.name.endsWith(".dcm")) n++;
    }
  };
  walk(storage, 0);
  return n;
}

/** Writes 4 KiB pages to path until the volume is full (bounded by the 12 MiB volume). */
async function fillUp(path: string): Promise<void> {
  const file = await Deno.open(path, { write: true, createNew: true });
  const page = new Uint8Array(4096);
  try {
    for (let i = 0; i < 4096; i++) await file.write(page);
  } catch {
    // full
  } finally {
    file.close();
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms: number) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`not within ${ms} ms: ${what}`);
}

Deno.test({
  name: "a full disk: 0xA700 without aborts, a quiet wait, progress with little room, clean stop",
  ignore: skip !== null,
  async fn() {
    const mounted = await mountTmpfs(12);
    assert.ok("dir" in mounted, "mounted");
    const mnt = mounted.dir;
    const storage = `${mnt}/data`;
    const filler = `${mnt}/filler`;
    let pacs = null;
    try {
      // 3.5 MiB, in pieces each a little larger than one object, freed later one at a time.
      for (let i = 0; i < 8; i++) {
        await Deno.writeFile(`${filler}${i}`, new Uint8Array(450 * 1024).fill(1));
      }
      const options = {
        storagePath: storage,
        storage: { min_free_mb: 0, durability: "none" },
        http: { enabled: true, bind: "127.0.0.1", port: 0 },
      };
      pacs = await startMiniPacs(options);
      const contexts = [
        { id: 1, abstractSyntax: CT, transferSyntaxes: [EXPLICIT_LE] },
        { id: 3, abstractSyntax: VERIFICATION, transferSyntaxes: [EXPLICIT_LE] },
      ];
      // One burst, more than the disk holds: the first are acknowledged, then 0xA700.
      for (let i = 0; i < 30; i++) DATASETS.set(i, makeDataset(i));
      const assoc = await openAssociation(pacs.port, { contexts });
      // Back to back, so that the materializer (which waits for a quiet moment) lags behind.
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push(await store(assoc, i));
      const acknowledged = statuses.filter((s) => s === 0).length;
      assert.ok(acknowledged > 5, `stored before the disk filled: ${statuses}`);
      assert.ok(statuses.includes(0xa700), `refused once full: ${statuses}`);
      assert.ok(statuses.every((s) => s === 0 || s === 0xa700), `${statuses}`);
      assert.equal(await echo(assoc), 0, "the association goes on after 0xA700");
      await assoc.release();

      // To the last page: a new association's journal segment cannot be created. 0xA700.
      await fillUp(`${mnt}/last-pages`);
      const second = await openAssociation(pacs.port, { contexts, calling: "SECOND" });
      assert.equal(await store(second, 100), 0xa700);
      assert.equal(await echo(second), 0, "not aborted");
      await second.release();
      await Deno.remove(`${mnt}/last-pages`);

      // While full: one warning, no error lines, and /healthz says what waits.
      await pacs.waitForLog(/WARN .*disk full: objects wait in the journal; retrying/, 10000);
      await new Promise((r) => setTimeout(r, 2500)); // a couple of retries
      const logs = pacs.logs();
      assert.equal(logs.match(/disk full: objects wait in the journal/g)?.length, 1, logs);
      assert.doesNotMatch(logs, /ERROR .*(materializer failed|os error 28)/);
      const health = await (await fetch(`http://127.0.0.1:${pacs.httpPort}/healthz`)).json();
      assert.ok(health.journal.pending_objects > 0, JSON.stringify(health));
      assert.equal(health.journal.disk_full, true, JSON.stringify(health));
      const waiting: number = health.journal.pending_objects;
      assert.ok(waiting >= 2, `the burst left ${waiting} objects in the journal; the test needs 2`);
      const homesWhileFull = homes(storage);

      // Room for one object freed: it reaches its home (a batch of all waiting would not fit).
      await Deno.remove(`${filler}0`);
      await until("a home file appears", () => homes(storage) > homesWhileFull, 15000);

      // A stop with a backlog that cannot drain: exit 0, the backlog stays in the journal.
      assert.equal(await pacs.stop(), 0, pacs.logs());
      assert.match(pacs.logs(), /objects stay in the journal; they are materialized at the next/);
      assert.doesNotMatch(pacs.logs(), /shutdown failed/);
      await pacs.cleanup();

      // With room again, a restart materializes every acknowledged object.
      assert.ok((await sh("mount", ["-o", "remount,size=64m", mnt])).ok, "remount");
      pacs = await startMiniPacs(options);
      await until(`${acknowledged} home files`, () => homes(storage) === acknowledged, 15000);
      assert.equal(await pacs.stop(), 0);
    } finally {
      await pacs?.cleanup();
      await sh("umount", [mnt]);
      await Deno.remove(mnt, { recursive: true }).catch(() => {});
    }
  },
});
