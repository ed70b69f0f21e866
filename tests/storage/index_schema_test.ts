import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { IndexDb } from "../../src/storage/index_db.ts";
import { openIndexDatabase, SCHEMA_VERSION } from "../../src/storage/index_schema.ts";
import { makeRecord, withTempDir } from "./fixtures.ts";

Deno.test("openIndexDatabase() creates every table of a new index at the current version", async () => {
  await withTempDir((dir) => {
    const db = openIndexDatabase(`${dir}/index.sqlite`);
    try {
      const version = db.prepare("PRAGMA user_version").get() as { user_version: number };
      assert.equal(version.user_version, SCHEMA_VERSION);
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all().map((r) => r.name);
      assert.deepEqual(tables, [
        "deleted_instance",
        "instance",
        "instance_totals",
        "meta",
        "patient",
        "series",
        "series_sop_class",
        "study",
      ]);
      const mode = db.prepare("PRAGMA journal_mode").get() as { journal_mode: string };
      assert.equal(mode.journal_mode, "wal");
    } finally {
      db.close();
    }
  });
});

Deno.test("openIndexDatabase() upgrades a version 1 index and fills the name search columns", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/index.sqlite`;
    const index = IndexDb.open(path);
    index.upsertInstance(
      makeRecord("1.1.1.1", { patientName: "Müller^Jürgen", referringPhysicianName: "Ref^Rita" }),
      { kind: "home", path: "a/b.dcm", offset: 0, length: 10 },
      {
        homePath: "a/b.dcm",
        size: 10,
        receivedAt: "2024-01-02T03:04:05.000Z",
        callingAe: "AE",
        seq: 1,
      },
    );
    index.close();
    // Back to version 1: the columns and indexes it did not have.
    const raw = new DatabaseSync(path);
    raw.exec(`DROP INDEX patient_name_norm_idx; DROP INDEX patient_name_alt_idx;
      DROP INDEX study_referring_norm_idx;
      ALTER TABLE patient DROP COLUMN patient_name_norm; ALTER TABLE patient DROP COLUMN patient_name_alt;
      ALTER TABLE study DROP COLUMN referring_physician_name_norm;
      ALTER TABLE study DROP COLUMN referring_physician_name_alt; PRAGMA user_version = 1`);
    raw.close();
    const db = openIndexDatabase(path);
    try {
      const version = db.prepare("PRAGMA user_version").get() as { user_version: number };
      assert.equal(version.user_version, SCHEMA_VERSION);
      const p = db.prepare("SELECT patient_name_norm AS n FROM patient").get() as { n: string };
      assert.match(p.n, /^MÜLLER\^JÜRGEN/);
      const s = db.prepare("SELECT referring_physician_name_norm AS n FROM study").get() as {
        n: string;
      };
      assert.match(s.n, /^REF\^RITA/);
    } finally {
      db.close();
    }
  });
});

Deno.test("openIndexDatabase() refuses an index with an unknown schema version", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/index.sqlite`;
    IndexDb.open(path).close();
    const raw = new DatabaseSync(path);
    raw.exec("PRAGMA user_version = 99");
    raw.close();
    assert.throws(() => openIndexDatabase(path), /schema version 99.*reindex/);
  });
});
