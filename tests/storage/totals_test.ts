// The totals row the status page, /metrics and start-up read instead of scanning every
// instance: kept right through stores, replacements, moves to home files and deletions, and
// filled once when an older index is opened.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Catalog } from "../../src/storage/catalog.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import { TOTALS_SELECT } from "../../src/storage/totals.ts";
import { makeRecord, withTempDir } from "./fixtures.ts";

/** The same figures counted the slow way. */
function scanned(path: string) {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const r = db.prepare(
      `SELECT count(*) AS n, coalesce(sum(size), 0) AS b, coalesce(sum(loc_length), 0) AS d
       FROM instance`,
    ).get() as Record<string, number>;
    return { instances: Number(r.n), bytes: Number(r.b), storedBytes: Number(r.d) };
  } finally {
    db.close();
  }
}

function store(index: IndexDb, sop: string, study: string, size: number, seq: number) {
  index.upsertInstance(
    makeRecord(sop, { studyInstanceUid: study, seriesInstanceUid: `${study}.1` }),
    { kind: "journal", path: "journal/a.seg", offset: 16, length: size + 200 },
    {
      homePath: `${study}/${study}.1/${sop}.dcm`,
      size,
      receivedAt: "2026-01-02T03:04:05.000Z",
      callingAe: "CT1",
      seq,
    },
  );
}

Deno.test("the status totals stay equal to a full count through stores, replacements, materialization and deletions", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/index.sqlite`;
    const index = IndexDb.open(path);
    const catalog = new Catalog(index);
    try {
      let later = 0; // each check as if minutes after the last: the status cache is past
      const check = (when: string) => {
        const c = index.counts();
        const s = scanned(path);
        assert.deepEqual(
          { instances: c.instances, bytes: c.bytes, storedBytes: c.storedBytes },
          s,
          when,
        );
        const t = catalog.totals(++later, Date.now() + later * 120_000);
        assert.deepEqual(
          { instances: t.instances, bytes: t.bytes, storedBytes: t.storedBytes },
          s,
          `${when} (status page)`,
        );
      };
      check("empty");
      for (let i = 0; i < 30; i++) store(index, `1.9.${i}`, `1.8.${i % 3}`, 1000 + i, 10 + i);
      check("after 30 stores");
      store(index, "1.9.4", "1.8.1", 5000, 100); // the same instance again, bigger
      check("after a replacement");
      store(index, "1.9.5", "1.8.7", 700, 101); // replaced into another study
      check("after a move to another study");
      index.setLocation("1.9.6", {
        kind: "home",
        path: "1.8.0/1.8.0.1/1.9.6.dcm",
        offset: 0,
        length: 40,
      });
      check("after a materialization to a smaller home file");
      index.deleteInstance("1.9.7");
      index.deleteEntity("study", "1.8.2");
      check("after deletions");
      assert.equal(index.maxSeq(), 101);
    } finally {
      index.close();
    }
  });
});

Deno.test("an index made before the totals gets them filled at its first open; the highest seq survives deletion", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/index.sqlite`;
    let index = IndexDb.open(path);
    for (let i = 0; i < 12; i++) store(index, `1.9.${i}`, "1.8.0", 2000 + i, 50 + i);
    index.close();
    // As an older build left it: no totals row and no triggers.
    const db = new DatabaseSync(path);
    db.exec(`DROP TRIGGER instance_totals_insert; DROP TRIGGER instance_totals_delete;
      DROP TRIGGER instance_totals_update; DROP TABLE instance_totals`);
    db.close();
    index = IndexDb.open(path);
    try {
      assert.deepEqual(
        { ...index.counts(), patients: 0, studies: 0, series: 0 },
        { ...scanned(path), patients: 0, studies: 0, series: 0 },
      );
      assert.equal(index.maxSeq(), 61);
      index.deleteInstance("1.9.11");
      // A seq handed out once is never handed out again, even after its instance went.
      assert.equal(index.maxSeq(), 61);
      assert.equal(index.counts().instances, 11);
    } finally {
      index.close();
    }
  });
});

Deno.test("the totals are one row read without scanning the instance table", async () => {
  await withTempDir((dir) => {
    const index = IndexDb.open(`${dir}/index.sqlite`);
    try {
      const plan = (index.connection.prepare(`EXPLAIN QUERY PLAN ${TOTALS_SELECT}`).all())
        .map((r) => String((r as Record<string, unknown>).detail));
      assert.ok(plan.every((d) => !/instance\b(?!_totals)/.test(d)), plan.join("; "));
      assert.ok(
        plan.some((d) => /SEARCH instance_totals USING INTEGER PRIMARY KEY/.test(d)),
        plan.join("; "),
      );
    } finally {
      index.close();
    }
  });
});
