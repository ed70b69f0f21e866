import assert from "node:assert/strict";
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

Deno.test("upsertInstance() files a later instance's new patient, study and series attributes", async () => {
  await withTempDir((dir) => {
    const index = IndexDb.open(`${dir}/index.sqlite`);
    const reader = index.openReader();
    try {
      index.upsertInstance(makeRecord("1.1"), loc, meta());
      // The same values again change nothing; new ones replace the old, search forms too.
      index.upsertInstance(makeRecord("1.2"), loc, meta());
      const changed = {
        patientName: "Müller^Jürgen",
        studyDescription: "Abdomen",
        referringPhysicianName: "Other^Dr",
        seriesDescription: "Coronal",
        modality: "MR",
      };
      index.upsertInstance(makeRecord("1.3", changed), loc, meta());
      const row = {
        ...reader.prepare(
          `SELECT p.patient_name AS name, p.patient_name_norm AS norm, st.study_description AS sd,
          st.referring_physician_name_norm AS ref, st.modalities_in_study AS mods,
          se.series_description AS desc, se.num_instances AS n, p.num_instances AS pn
         FROM series se JOIN study st ON st.pk = se.study_pk JOIN patient p ON p.pk = st.patient_pk`,
        ).get(),
      };
      assert.deepEqual(row, {
        name: "Müller^Jürgen",
        norm: "MÜLLER^JÜRGEN",
        sd: "Abdomen",
        ref: "OTHER^DR",
        mods: "MR",
        desc: "Coronal",
        n: 3,
        pn: 3,
      });
      assert.deepEqual(index.getInstance("1.1")?.record, makeRecord("1.1", changed));
    } finally {
      reader.close();
      index.close();
    }
  });
});

Deno.test("upsertInstance() adds a new SOP class of an existing series to its study", async () => {
  await withTempDir((dir) => {
    const index = IndexDb.open(`${dir}/index.sqlite`);
    const reader = index.openReader();
    const classes = () =>
      String(
        (reader.prepare("SELECT sop_classes_in_study AS c FROM study").get() as { c: string }).c,
      );
    try {
      index.upsertInstance(makeRecord("1.1"), loc, meta());
      index.upsertInstance(makeRecord("1.2"), loc, meta());
      assert.equal(classes(), CT_IMAGE);
      index.upsertInstance(makeRecord("1.3", { sopClassUid: MR_IMAGE }), loc, meta());
      assert.equal(classes(), [CT_IMAGE, MR_IMAGE].sort().join("\\"));
      index.deleteInstance("1.3");
      assert.equal(classes(), CT_IMAGE);
    } finally {
      reader.close();
      index.close();
    }
  });
});
