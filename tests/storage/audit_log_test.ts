import assert from "node:assert/strict";
import { AuditLog } from "../../src/storage/audit_log.ts";
import type { AuditRecord } from "../../src/core/audit.ts";

const quiet = { log() {} };

const rec = (n: number): AuditRecord => ({
  EventID: "Query",
  EventActionCode: "E",
  EventOutcomeIndicator: 0,
  UserID: `AE${n}`,
  QueryKeys: { PatientID: `P${n}` },
});

async function lines(path: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

Deno.test("AuditLog: one JSON line per record, in order, with EventDateTime; recent() newest first", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = await AuditLog.open({ path: `${dir}/audit.log`, maxBytes: 1 << 20, logger: quiet });
    for (let i = 0; i < 5; i++) log.record(rec(i));
    await log.flush();
    const got = await lines(`${dir}/audit.log`);
    assert.deepEqual(got.map((l) => l.UserID), ["AE0", "AE1", "AE2", "AE3", "AE4"]);
    assert.match(String(got[0].EventDateTime), /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(got[2].QueryKeys, { PatientID: "P2" });
    assert.equal(log.recent(2)[0].UserID, "AE4");
    await log.close();
    // Only the owner may read it: it holds patient IDs.
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(`${dir}/audit.log`)).mode! & 0o077, 0);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("AuditLog: lines are in the file at once, without waiting for close or sync", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = await AuditLog.open({ path: `${dir}/a.log`, maxBytes: 1 << 20, logger: quiet });
    log.record(rec(1));
    // A few milliseconds: the write is queued at once, the sync comes within a second.
    for (let i = 0; i < 50 && (await lines(`${dir}/a.log`)).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal((await lines(`${dir}/a.log`)).length, 1);
    await log.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("AuditLog: reopening appends; a line torn by a crash is closed first", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/audit.log`;
  try {
    let log = await AuditLog.open({ path, maxBytes: 1 << 20, logger: quiet });
    log.record(rec(1));
    await log.close();
    await Deno.writeTextFile(path, '{"EventID":"Qu', { append: true }); // torn
    log = await AuditLog.open({ path, maxBytes: 1 << 20, logger: quiet });
    log.record(rec(2));
    await log.close();
    const text = await Deno.readTextFile(path);
    const all = text.split("\n").filter((l) => l !== "");
    assert.equal(all.length, 3);
    assert.equal(JSON.parse(all[0]).UserID, "AE1");
    assert.equal(JSON.parse(all[2]).UserID, "AE2");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("AuditLog: past max bytes the file moves to path.<time>; no line is lost", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/audit.log`;
  try {
    const log = await AuditLog.open({ path, maxBytes: 2000, logger: quiet });
    for (let i = 0; i < 30; i++) {
      log.record(rec(i));
      if (i % 7 === 0) await log.flush();
    }
    await log.close();
    const rotated: string[] = [];
    for await (const e of Deno.readDir(dir)) if (e.name !== "audit.log") rotated.push(e.name);
    rotated.sort();
    assert.ok(rotated.length >= 2, `rotated: ${rotated}`);
    for (const name of rotated) assert.match(name, /^audit\.log\.\d{8}T\d{6}Z(-\d+)?$/);
    assert.ok((await Deno.stat(path)).size <= 2000);
    const all = [];
    for (const name of rotated) all.push(...await lines(`${dir}/${name}`));
    all.push(...await lines(path));
    const ids = all.map((l) => Number(String(l.UserID).slice(2)));
    assert.deepEqual(ids, Array.from({ length: 30 }, (_, i) => i));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
