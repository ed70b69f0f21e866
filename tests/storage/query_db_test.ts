// The SQL side of C-FIND on a real index: every matching type, index use, counts after
// overwrites, readers beside the writer, the schema upgrade and stored-header reads.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { encodeDataset, encodingOf, textElement } from "../../src/core/dicom/dataset.ts";
import { encodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import type { InstanceRecord } from "../../src/core/ports.ts";
import { type Level, type Model } from "../../src/core/query/keys.ts";
import { parseQuery, type Query, type QueryRow } from "../../src/core/query/query.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import { buildSelect, SqliteQueryIndex } from "../../src/storage/query_db.ts";
import { identifier, type Key, T } from "../core/query/helpers.ts";
import { CT_IMAGE, EXPLICIT_LE, makeRecord, MR_IMAGE } from "./fixtures.ts";

let seq = 0;
function put(db: IndexDb, record: InstanceRecord, path = `x/${record.sopInstanceUid}.dcm`) {
  db.upsertInstance(
    record,
    { kind: "home", path, offset: 0, length: 1 },
    {
      homePath: path,
      size: 1,
      receivedAt: "2024-01-01T00:00:00Z",
      callingAe: "TEST",
      seq: ++seq,
    },
  );
}

/** Three patients, four studies, one instance per series unless said otherwise. */
function corpus(db: IndexDb): void {
  const doe = { patientId: "PID1", patientName: "Doe^John" };
  put(db, makeRecord("1.1.1.1", { ...doe, studyInstanceUid: "1.1", seriesInstanceUid: "1.1.1" }));
  put(db, makeRecord("1.1.1.2", { ...doe, studyInstanceUid: "1.1", seriesInstanceUid: "1.1.1" }));
  put(
    db,
    makeRecord("1.1.2.1", {
      ...doe,
      studyInstanceUid: "1.1",
      seriesInstanceUid: "1.1.2",
      modality: "SR",
      sopClassUid: "1.2.840.10008.5.1.4.1.1.88.11",
    }),
  );
  put(
    db,
    makeRecord("1.2.1.1", {
      ...doe,
      studyInstanceUid: "1.2",
      seriesInstanceUid: "1.2.1",
      studyDate: "20240120",
      studyTime: "140000",
      accessionNumber: "X[1]_%",
      modality: "MR",
      sopClassUid: MR_IMAGE,
    }),
  );
  put(
    db,
    makeRecord("2.1.1.1", {
      patientId: "PID2",
      patientName: "Müller^Jürgen",
      studyInstanceUid: "2.1",
      seriesInstanceUid: "2.1.1",
      studyDate: "20231231",
      referringPhysicianName: "Smith^Anna",
      otherPatientIds: "OLD7\\OLD8",
    }),
  );
  put(
    db,
    makeRecord("3.1.1.1", {
      patientId: "PID3",
      patientName: "Yamada^Tarou=山田^太郎=やまだ^たろう",
      studyInstanceUid: "3.1",
      seriesInstanceUid: "3.1.1",
      studyDate: "20240215",
    }),
  );
}

async function withIndex(
  fn: (db: IndexDb, index: SqliteQueryIndex, root: string) => Promise<void>,
) {
  const root = await Deno.makeTempDir({ prefix: "minipacs-query-db-" });
  const db = IndexDb.open(`${root}/index.sqlite`);
  const index = new SqliteQueryIndex({ openReader: () => db.openReader(), root });
  try {
    await fn(db, index, root);
  } finally {
    index.close();
    db.close();
    await Deno.remove(root, { recursive: true });
  }
}

function query(keys: Key[], model: Model = "STUDY", charset = "ISO_IR 192"): Query {
  const r = parseQuery(identifier(keys, charset), EXPLICIT_LE, { model, caseInsensitivePn: true });
  assert.ok(r.ok, r.ok ? "" : r.comment);
  return r.query;
}

async function rows(index: SqliteQueryIndex, q: Query): Promise<QueryRow[]> {
  const out: QueryRow[] = [];
  for await (const row of index.find(q)) out.push(row);
  return out;
}

async function studies(index: SqliteQueryIndex, keys: Key[]): Promise<string[]> {
  const q = query([[T.QueryRetrieveLevel, "CS", "STUDY"], [T.StudyInstanceUID, "UI", ""], ...keys]);
  return (await rows(index, q)).map((r) => r.studyInstanceUid).sort();
}

Deno.test("SqliteQueryIndex.find() applies each matching type at STUDY level", async () => {
  await withIndex(async (db, index) => {
    corpus(db);
    assert.deepEqual(await studies(index, []), ["1.1", "1.2", "2.1", "3.1"], "universal");
    assert.deepEqual(await studies(index, [[T.PatientID, "LO", "PID1"]]), ["1.1", "1.2"]);
    assert.deepEqual(await studies(index, [[T.StudyInstanceUID, "UI", "1.2\\2.1\\9.9"]]), [
      "1.2",
      "2.1",
    ]);
    assert.deepEqual(await studies(index, [[T.StudyDate, "DA", "20240101-20240131"]]), [
      "1.1",
      "1.2",
    ]);
    assert.deepEqual(await studies(index, [[T.StudyDate, "DA", "20240120-"]]), ["1.2", "3.1"]);
    assert.deepEqual(await studies(index, [[T.StudyDate, "DA", "-20231231"]]), ["2.1"]);
    // A name prefix with a date range: patients by name, their studies by date.
    const nameAndDate = (name: string, dates: string) =>
      studies(index, [[T.PatientName, "PN", name], [T.StudyDate, "DA", dates]]);
    assert.deepEqual(await nameAndDate("doe*", "20240120-"), ["1.2"]);
    assert.deepEqual(await nameAndDate("DOE*", "20240101-20240131"), ["1.1", "1.2"]);
    assert.deepEqual(await nameAndDate("müller*", "20240101-"), []);
    assert.deepEqual(await nameAndDate("müller*", "20231201-20231231"), ["2.1"]);
    assert.deepEqual(await nameAndDate("yamada*", "20240201-20240229"), ["3.1"]);
    assert.deepEqual(await nameAndDate("山田*", "20240101-20241231"), ["3.1"], "ideographic group");
    assert.deepEqual(await studies(index, [[T.StudyTime, "TM", "1400-1401"]]), ["1.2"]);
    assert.deepEqual(await studies(index, [[T.AccessionNumber, "SH", "X[1]_*"]]), ["1.2"]);
    assert.deepEqual(await studies(index, [[T.AccessionNumber, "SH", "X?1?_%"]]), ["1.2"]);
    assert.deepEqual(await studies(index, [[T.AccessionNumber, "SH", "acc1"]]), [], "exact case");
    assert.deepEqual(await studies(index, [[T.ModalitiesInStudy, "CS", "SR"]]), ["1.1"]);
    assert.deepEqual(await studies(index, [[T.ModalitiesInStudy, "CS", "MR\\SR"]]), [
      "1.1",
      "1.2",
    ]);
    assert.deepEqual(await studies(index, [[0x00101000, "LO", "OLD8"]]), ["2.1"]);
    assert.deepEqual(await studies(index, [[0x00080090, "PN", "smith"]]), ["2.1"]);
  });
});

Deno.test("SqliteQueryIndex.find() matches names case-insensitively by component and group", async () => {
  await withIndex(async (db, index) => {
    corpus(db);
    const name = (v: string) => studies(index, [[T.PatientName, "PN", v]]);
    assert.deepEqual(await name("doe*"), ["1.1", "1.2"]);
    assert.deepEqual(await name("DOE"), ["1.1", "1.2"], "family name alone");
    assert.deepEqual(await name("*john*"), ["1.1", "1.2"]);
    assert.deepEqual(await name("müller^j*"), ["2.1"]);
    assert.deepEqual(await name("MÜLLER^JÜRGEN"), ["2.1"]);
    assert.deepEqual(await name("山田*"), ["3.1"], "ideographic group");
    assert.deepEqual(await name("yamada^tarou=山田"), ["3.1"]);
    assert.deepEqual(await name("Roe"), []);
  });
});

Deno.test("SqliteQueryIndex.find() answers SERIES and IMAGE levels with derived counts", async () => {
  await withIndex(async (db, index) => {
    corpus(db);
    const series = await rows(
      index,
      query([
        [T.QueryRetrieveLevel, "CS", "SERIES"],
        [T.StudyInstanceUID, "UI", "1.1"],
        [T.SeriesInstanceUID, "UI", ""],
        [T.Modality, "CS", ""],
        [0x00201209, "IS", ""],
      ]),
    );
    assert.deepEqual(
      series.map((r) => [r.seriesInstanceUid, r.modality, r.numberOfSeriesRelatedInstances]).sort(),
      [
        ["1.1.1", "CT", "2"],
        ["1.1.2", "SR", "1"],
      ],
    );
    const images = await rows(
      index,
      query([
        [T.QueryRetrieveLevel, "CS", "IMAGE"],
        [T.StudyInstanceUID, "UI", "1.1"],
        [T.SeriesInstanceUID, "UI", "1.1.1"],
        [T.SOPInstanceUID, "UI", "1.1.1.2\\1.2.1.1"],
        [T.SOPClassUID, "UI", CT_IMAGE],
      ]),
    );
    assert.deepEqual(images.map((r) => r.sopInstanceUid), ["1.1.1.2"]);
  });
});

Deno.test("derived counts follow an instance moved to another study by an overwrite", async () => {
  await withIndex(async (db, index) => {
    corpus(db);
    // 1.1.2.1 (the SR of study 1.1) is sent again, now in study 2.1 of patient PID2.
    put(
      db,
      makeRecord("1.1.2.1", {
        patientId: "PID2",
        patientName: "Müller^Jürgen",
        studyInstanceUid: "2.1",
        seriesInstanceUid: "2.1.9",
        modality: "SR",
        sopClassUid: "1.2.840.10008.5.1.4.1.1.88.11",
      }),
    );
    const q = query([
      [T.QueryRetrieveLevel, "CS", "STUDY"],
      [T.StudyInstanceUID, "UI", "1.1\\2.1"],
      [T.ModalitiesInStudy, "CS", ""],
      [0x00080062, "UI", ""],
      [0x00201206, "IS", ""],
      [T.NumberOfStudyRelatedInstances, "IS", ""],
      [0x00201200, "IS", ""],
      [0x00201204, "IS", ""],
    ]);
    const got = Object.fromEntries((await rows(index, q)).map((r) => [r.studyInstanceUid, r]));
    assert.equal(got["1.1"].modalitiesInStudy, "CT");
    assert.equal(got["1.1"].sopClassesInStudy, CT_IMAGE);
    assert.equal(got["1.1"].numberOfStudyRelatedSeries, "1");
    assert.equal(got["1.1"].numberOfStudyRelatedInstances, "2");
    assert.equal(got["1.1"].numberOfPatientRelatedInstances, "3");
    assert.equal(got["2.1"].modalitiesInStudy, "CT\\SR");
    assert.equal(got["2.1"].numberOfStudyRelatedSeries, "2");
    assert.equal(got["2.1"].numberOfStudyRelatedInstances, "2");
    assert.equal(got["2.1"].numberOfPatientRelatedStudies, "1");
    assert.equal(got["2.1"].numberOfPatientRelatedInstances, "2");
  });
});

Deno.test("PATIENT level of the Patient Root model", async () => {
  await withIndex(async (db, index) => {
    corpus(db);
    const q = query([
      [T.QueryRetrieveLevel, "CS", "PATIENT"],
      [T.PatientID, "LO", ""],
      [T.PatientName, "PN", "*"],
      [0x00201200, "IS", ""],
    ], "PATIENT");
    const got = (await rows(index, q)).map((r) => [r.patientId, r.numberOfPatientRelatedStudies]);
    assert.deepEqual(got.sort(), [["PID1", "2"], ["PID2", "1"], ["PID3", "1"]]);
  });
});

function plan(db: DatabaseSync, q: Query, level: Level = q.level): string {
  const select = buildSelect(q, level, [["studyInstanceUid", "st.study_instance_uid"]]);
  const lines = db.prepare(`EXPLAIN QUERY PLAN ${select.sql}`).all(...select.params) as {
    detail: string;
  }[];
  return lines.map((l) => l.detail).join("\n");
}

Deno.test("the SQL uses an index for IDs, UIDs, name prefixes and date ranges", async () => {
  await withIndex((db) => {
    corpus(db);
    const reader = db.openReader();
    try {
      const study = (keys: Key[]) =>
        plan(reader, query([[T.QueryRetrieveLevel, "CS", "STUDY"], ...keys]));
      assert.match(study([[T.PatientID, "LO", "PID1"]]), /SEARCH p USING .*INDEX patient_id_idx/);
      assert.match(study([[T.PatientName, "PN", "doe^j*"]]), /patient_name_norm_idx/);
      assert.match(study([[T.StudyDate, "DA", "20240101-20240131"]]), /study_date_idx/);
      // A family name and a year: the name's index narrows first, the date is checked on
      // those rows (a year's index range would read a tenth of all studies at a million).
      const nameAndYear = study([
        [T.PatientName, "PN", "doe*"],
        [T.StudyDate, "DA", "20240101-20241231"],
      ]);
      assert.match(nameAndYear, /patient_name_norm_idx/);
      assert.doesNotMatch(nameAndYear, /study_date_idx/);
      // ...and each patient's studies are read by date: only those in the range.
      assert.match(
        nameAndYear,
        /SEARCH st USING INDEX study_patient_date_idx \(patient_pk=\? AND study_date>\? AND study_date<\?\)/,
      );
      // Without a leading literal the name narrows nothing: the date's index serves.
      assert.match(
        study([[T.PatientName, "PN", "*oe"], [T.StudyDate, "DA", "20240101-20241231"]]),
        /study_date_idx/,
      );
      assert.match(
        study([[T.StudyInstanceUID, "UI", "1.1"]]),
        /SEARCH st USING INDEX sqlite_autoindex_study_1/,
      );
      const image = plan(
        reader,
        query([
          [T.QueryRetrieveLevel, "CS", "IMAGE"],
          [T.StudyInstanceUID, "UI", "1.1"],
          [T.SeriesInstanceUID, "UI", "1.1.1"],
        ]),
      );
      assert.match(image, /SEARCH i USING (COVERING )?INDEX instance_series_idx/);
    } finally {
      reader.close();
    }
    return Promise.resolve();
  });
});

Deno.test("a running query neither blocks nor sees a store that commits meanwhile", async () => {
  await withIndex(async (db, index) => {
    corpus(db);
    const q = query([[T.QueryRetrieveLevel, "CS", "STUDY"], [T.StudyInstanceUID, "UI", ""]]);
    const seen: string[] = [];
    for await (const row of index.find(q)) {
      seen.push(row.studyInstanceUid);
      if (seen.length === 1) {
        put(db, makeRecord("9.1.1.1", { studyInstanceUid: "9.1", seriesInstanceUid: "9.1.1" }));
      }
    }
    assert.equal(seen.length, 4, "the query reads the snapshot it started on");
    assert.equal((await rows(index, q)).length, 5, "the next query sees the new study");
  });
});

Deno.test("instancesFor() lists every instance under the matched studies with its location", async () => {
  await withIndex(async (db, index) => {
    corpus(db);
    const r = parseQuery(
      identifier([[T.QueryRetrieveLevel, "CS", "STUDY"], [T.StudyInstanceUID, "UI", "1.1\\2.1"]]),
      EXPLICIT_LE,
      { model: "STUDY", caseInsensitivePn: true, retrieve: true },
    );
    assert.ok(r.ok);
    const found = [];
    for await (const i of index.instancesFor(r.query)) found.push(i);
    assert.deepEqual(found.map((i) => i.sopInstanceUid).sort(), [
      "1.1.1.1",
      "1.1.1.2",
      "1.1.2.1",
      "2.1.1.1",
    ]);
    const one = found.find((i) => i.sopInstanceUid === "2.1.1.1")!;
    assert.equal(one.sopClassUid, CT_IMAGE);
    assert.equal(one.transferSyntaxUid, EXPLICIT_LE);
    assert.equal(one.seriesInstanceUid, "2.1.1");
    assert.deepEqual(one.location, { kind: "home", path: "x/2.1.1.1.dcm", offset: 0, length: 1 });
  });
});

Deno.test("readAttributes() reads the asked tags from the stored header, null when gone", async () => {
  await withIndex(async (db, index, root) => {
    const ds = encodeDataset([
      textElement(0x00080005, "CS", "ISO_IR 100", "")!,
      textElement(0x00080016, "UI", CT_IMAGE, "")!,
      textElement(0x00080018, "UI", "5.1.1.1", "")!,
      textElement(0x00080080, "LO", "Klinik Köln", "ISO_IR 100")!,
      { tag: T.Rows, vr: "US", value: new Uint8Array([0, 2]) },
      { tag: 0x7fe00010, vr: "OW", value: new Uint8Array(64) },
    ], encodingOf(EXPLICIT_LE));
    const meta = encodeFileMetaInformation({
      sopClassUid: CT_IMAGE,
      sopInstanceUid: "5.1.1.1",
      transferSyntaxUid: EXPLICIT_LE,
      implementationClassUid: "1.2.3",
      implementationVersionName: "T",
    });
    const file = new Uint8Array([...meta, ...ds]);
    await Deno.mkdir(`${root}/x`);
    await Deno.writeFile(`${root}/x/5.dcm`, file);
    put(
      db,
      makeRecord("5.1.1.1", { studyInstanceUid: "5.1", seriesInstanceUid: "5.1.1" }),
      "x/5.dcm",
    );
    db.setLocation("5.1.1.1", { kind: "home", path: "x/5.dcm", offset: 0, length: file.length });
    const got = await index.readAttributes("5.1.1.1", [0x00080080, T.Rows, 0x00181030]);
    assert.ok(got);
    assert.equal(got.specificCharacterSet, "ISO_IR 100");
    assert.deepEqual(got.elements.map((e) => e.tag), [0x00080005, 0x00080080, T.Rows]);
    assert.equal(await index.readAttributes("7.7.7", [T.Rows]), null);
  });
});

Deno.test("IndexDb.open() upgrades a version 1 index: person names get their search forms", async () => {
  const root = await Deno.makeTempDir({ prefix: "minipacs-query-db-" });
  try {
    const db = IndexDb.open(`${root}/index.sqlite`);
    put(
      db,
      makeRecord("1.1.1.1", { patientName: "Müller^Jürgen", referringPhysicianName: "Ref^Rita" }),
    );
    db.close();
    // Back to version 1: the columns and indexes it did not have.
    const raw = new DatabaseSync(`${root}/index.sqlite`);
    raw.exec(`DROP INDEX patient_name_norm_idx; DROP INDEX patient_name_alt_idx;
      DROP INDEX study_referring_norm_idx;
      ALTER TABLE patient DROP COLUMN patient_name_norm; ALTER TABLE patient DROP COLUMN patient_name_alt;
      ALTER TABLE study DROP COLUMN referring_physician_name_norm;
      ALTER TABLE study DROP COLUMN referring_physician_name_alt; PRAGMA user_version = 1`);
    raw.close();
    const upgraded = IndexDb.open(`${root}/index.sqlite`);
    const index = new SqliteQueryIndex({ openReader: () => upgraded.openReader(), root });
    try {
      const q = query([[T.QueryRetrieveLevel, "CS", "STUDY"], [T.PatientName, "PN", "müller"], [
        0x00080090,
        "PN",
        "ref",
      ]]);
      assert.equal((await rows(index, q)).length, 1);
    } finally {
      index.close();
      upgraded.close();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
