import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import type { InstanceLocation } from "../../src/core/ports.ts";
import { IndexDb, type InstanceMeta } from "../../src/storage/index_db.ts";
import { CT_IMAGE, makeRecord, MR_IMAGE, withTempDir } from "./fixtures.ts";

const loc: InstanceLocation = { kind: "journal", path: "journal/a.seg", offset: 16, length: 100 };
let seq = 1;
function meta(size = 100): InstanceMeta {
  return {
    homePath: "x/y/z.dcm",
    size,
    receivedAt: "2024-01-02T03:04:05.000Z",
    callingAe: "AE",
    seq: seq++,
  };
}

/** Derived counts recomputed from scratch, to compare with what the index keeps. */
function derivedFromScratch(db: DatabaseSync) {
  const rows = (sql: string) => db.prepare(sql).all().map((r) => ({ ...r }));
  return {
    series: rows(`SELECT s.series_instance_uid AS uid, s.num_instances AS kept,
        (SELECT count(*) FROM instance i WHERE i.series_pk = s.pk) AS actual FROM series s`),
    studies: rows(`SELECT st.study_instance_uid AS uid,
        st.num_series AS keptSeries, (SELECT count(*) FROM series s WHERE s.study_pk = st.pk) AS series,
        st.num_instances AS keptInstances, (SELECT count(*) FROM instance i JOIN series s
          ON s.pk = i.series_pk WHERE s.study_pk = st.pk) AS instances,
        st.modalities_in_study AS keptModalities,
        coalesce((SELECT group_concat(m, '\\') FROM (SELECT DISTINCT modality AS m FROM series
          WHERE study_pk = st.pk AND modality <> '' ORDER BY m)), '') AS modalities,
        st.sop_classes_in_study AS keptClasses,
        coalesce((SELECT group_concat(c, '\\') FROM (SELECT DISTINCT i.sop_class_uid AS c FROM instance i
          JOIN series s ON s.pk = i.series_pk WHERE s.study_pk = st.pk ORDER BY c)), '') AS classes
        FROM study st`),
    patients: rows(`SELECT p.patient_id AS id, p.num_studies AS keptStudies,
        (SELECT count(*) FROM study st WHERE st.patient_pk = p.pk) AS studies,
        p.num_series AS keptSeries, (SELECT count(*) FROM series s JOIN study st ON st.pk = s.study_pk
          WHERE st.patient_pk = p.pk) AS series,
        p.num_instances AS keptInstances, (SELECT count(*) FROM instance i JOIN series s
          ON s.pk = i.series_pk JOIN study st ON st.pk = s.study_pk WHERE st.patient_pk = p.pk) AS instances
        FROM patient p`),
    emptySeries: rows("SELECT pk FROM series WHERE num_instances = 0").length,
    emptyStudies: rows("SELECT pk FROM study WHERE num_series = 0").length,
    emptyPatients: rows("SELECT pk FROM patient WHERE num_studies = 0").length,
  };
}

function assertConsistent(db: DatabaseSync, when: string) {
  const d = derivedFromScratch(db);
  for (const s of d.series) assert.equal(s.kept, s.actual, `${when}: series ${s.uid}`);
  for (const s of d.studies) {
    assert.equal(s.keptSeries, s.series, `${when}: study ${s.uid} series`);
    assert.equal(s.keptInstances, s.instances, `${when}: study ${s.uid} instances`);
    assert.equal(s.keptModalities, s.modalities, `${when}: study ${s.uid} modalities`);
    assert.equal(s.keptClasses, s.classes, `${when}: study ${s.uid} sop classes`);
  }
  for (const p of d.patients) {
    assert.equal(p.keptStudies, p.studies, `${when}: patient ${p.id} studies`);
    assert.equal(p.keptSeries, p.series, `${when}: patient ${p.id} series`);
    assert.equal(p.keptInstances, p.instances, `${when}: patient ${p.id} instances`);
  }
  assert.equal(d.emptySeries + d.emptyStudies + d.emptyPatients, 0, `${when}: empty entities left`);
}

Deno.test("IndexDb keeps derived counts right through random inserts, moves and deletes", async () => {
  await withTempDir((dir) => {
    const index = IndexDb.open(`${dir}/index.sqlite`);
    const reader = index.openReader();
    try {
      let x = 12345;
      const rand = (n: number) => {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        return (x >>> 8) % n;
      };
      const present = new Set<string>();
      for (let step = 0; step < 600; step++) {
        const sop = `1.4.${rand(60)}`;
        if (rand(6) === 0) {
          const gone = index.deleteInstance(sop);
          assert.equal(gone !== undefined, present.has(sop));
          present.delete(sop);
        } else {
          const study = rand(5);
          const record = makeRecord(sop, {
            patientId: `P${rand(3)}`,
            studyInstanceUid: `2.${study}`,
            // Series sometimes move between studies, as do studies between patients.
            seriesInstanceUid: `3.${rand(8)}`,
            modality: ["CT", "MR", "US"][rand(3)],
            sopClassUid: [CT_IMAGE, MR_IMAGE][rand(2)],
          });
          const result = index.upsertInstance(record, loc, meta());
          assert.equal(result.previous !== undefined, present.has(sop));
          present.add(sop);
        }
        assertConsistent(reader, `step ${step}`);
      }
      assert.equal(index.counts().instances, present.size);
      assert.deepEqual(
        [...index.allInstances()].map((i) => i.record.sopInstanceUid).sort(),
        [...present].sort(),
      );
    } finally {
      reader.close();
      index.close();
    }
  });
});

Deno.test("upsertInstance() stores attributes as given and reports the previous location", async () => {
  await withTempDir((dir) => {
    const index = IndexDb.open(`${dir}/index.sqlite`);
    try {
      const r = makeRecord("1.1", { patientName: "Müller^Jürgen", studyDescription: "頭部" });
      assert.deepEqual(index.upsertInstance(r, loc, meta(10)), {});
      const got = index.getInstance("1.1");
      assert.deepEqual(got?.record, r);
      assert.deepEqual(got?.location, loc);
      const home: InstanceLocation = { kind: "home", path: "1/2/1.1.dcm", offset: 0, length: 100 };
      assert.ok(index.setLocation("1.1", home));
      const again = index.upsertInstance(r, loc, meta(20));
      assert.deepEqual(again.previous?.location, home);
      assert.deepEqual(index.counts(), {
        patients: 1,
        studies: 1,
        series: 1,
        instances: 1,
        bytes: 20,
        storedBytes: loc.length,
      });
      assert.deepEqual(index.upsertInstance(r, loc, meta(), { onlyIfAbsent: true }), {
        conflict: true,
      });
      // An older commit (lower seq) never replaces a newer one.
      assert.deepEqual(index.upsertInstance(r, loc, { ...meta(), seq: 0 }), { superseded: true });
    } finally {
      index.close();
    }
  });
});

Deno.test("markMaterialized() only moves rows still at the same journal record", async () => {
  await withTempDir((dir) => {
    const index = IndexDb.open(`${dir}/index.sqlite`);
    try {
      const m1 = meta();
      index.upsertInstance(makeRecord("1.1"), loc, m1);
      index.upsertInstance(makeRecord("1.2"), loc, meta());
      const m3 = meta();
      const home: InstanceLocation = { kind: "home", path: "h.dcm", offset: 0, length: 100 };
      const done = index.markMaterialized([
        { sopInstanceUid: "1.1", seq: m1.seq, journalPath: loc.path, home },
        { sopInstanceUid: "1.2", seq: m3.seq, journalPath: loc.path, home },
        { sopInstanceUid: "1.3", seq: m3.seq, journalPath: loc.path, home },
      ]);
      assert.deepEqual([...done], ["1.1"]);
      assert.equal(index.getInstance("1.1")?.location.kind, "home");
      assert.equal(index.getInstance("1.2")?.location.kind, "journal");
    } finally {
      index.close();
    }
  });
});

Deno.test("openReader() sees committed rows while the writer keeps writing", async () => {
  await withTempDir((dir) => {
    const index = IndexDb.open(`${dir}/index.sqlite`);
    const reader = index.openReader();
    try {
      index.upsertInstance(makeRecord("1.1"), loc, meta());
      const count = reader.prepare("SELECT count(*) AS n FROM instance");
      assert.equal(Number((count.get() as { n: number }).n), 1);
      index.upsertInstance(makeRecord("1.2"), loc, meta());
      assert.equal(Number((count.get() as { n: number }).n), 2);
      assert.throws(() => reader.exec("DELETE FROM instance"), /readonly|read-only/i);
    } finally {
      reader.close();
      index.close();
    }
  });
});

Deno.test("IndexDb.open() refuses an index with an unknown schema version", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/index.sqlite`;
    IndexDb.open(path).close();
    const { DatabaseSync } = await import("node:sqlite");
    const raw = new DatabaseSync(path);
    raw.exec("PRAGMA user_version = 99");
    raw.close();
    assert.throws(() => IndexDb.open(path), /schema version 99.*reindex/);
  });
});
