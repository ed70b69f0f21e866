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

Deno.test("HierarchyRows keeps derived counts right through random inserts, moves and deletes", async () => {
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

Deno.test("HierarchyRows moves a study to the patient it now names and prunes the old one", async () => {
  await withTempDir((dir) => {
    const index = IndexDb.open(`${dir}/index.sqlite`);
    const reader = index.openReader();
    try {
      const study = { studyInstanceUid: "2.1" };
      index.upsertInstance(makeRecord("1.5.1", { ...study, patientId: "OLD" }), loc, meta());
      index.upsertInstance(
        makeRecord("1.5.2", { ...study, seriesInstanceUid: "3.2", modality: "MR" }),
        loc,
        meta(),
      );
      // The second instance names patient PID1: the whole study follows it.
      const patients = reader.prepare(
        "SELECT patient_id AS id, num_studies AS s, num_instances AS n FROM patient",
      ).all().map((r) => ({ ...r }));
      assert.deepEqual(patients, [{ id: "PID1", s: 1, n: 2 }]);
      const row = reader.prepare(
        "SELECT modalities_in_study AS m, num_series AS s FROM study WHERE study_instance_uid = '2.1'",
      ).get() as { m: string; s: number };
      assert.deepEqual({ ...row }, { m: "CT\\MR", s: 2 });
      assertConsistent(reader, "after the move");
    } finally {
      reader.close();
      index.close();
    }
  });
});
