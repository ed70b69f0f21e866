// The study search behind the Studies page and /api/studies: C-FIND's matching rules, keyset
// pages, and index-only plans on 100,000 instances.
import assert from "node:assert/strict";
import { Catalog, SearchError, type StudySearch } from "../../src/storage/catalog.ts";
import type { InstanceRecord } from "../../src/core/ports.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import { BIG, buildBigIndex, studyDate } from "./big_index.ts";
import { makeRecord } from "./fixtures.ts";

/** An index in a temporary folder; add() indexes an instance as a C-STORE would. */
async function indexFixture() {
  const root = await Deno.makeTempDir({ prefix: "minipacs-catalog-" });
  const index = IndexDb.open(`${root}/index.sqlite`);
  let seq = 1;
  return {
    index,
    add(sop: string, over: Partial<InstanceRecord> = {}, size = 1000) {
      index.upsertInstance(
        makeRecord(sop, over),
        { kind: "home", path: `x/${sop}.dcm`, offset: 0, length: size },
        {
          homePath: `x/${sop}.dcm`,
          size,
          receivedAt: new Date().toISOString(),
          callingAe: "MODALITY",
          seq: seq++,
        },
      );
    },
    async close() {
      index.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

const uids = (page: { studies: { studyInstanceUid: string }[] }) =>
  page.studies.map((s) => s.studyInstanceUid);

async function smallIndex() {
  const f = await indexFixture();
  const add = (study: string, over: Record<string, string>) =>
    f.add(`${study}.1`, { studyInstanceUid: study, seriesInstanceUid: `${study}.0`, ...over });
  add("5.1", {
    patientName: "Müller^Hans",
    patientId: "ID-1",
    studyDate: "20240301",
    modality: "CT",
    accessionNumber: "ACC100",
  });
  add("5.2", {
    patientName: "Mueller^Anna",
    patientId: "ID-2",
    studyDate: "20240215",
    modality: "MR",
    accessionNumber: "ACC200",
  });
  add("5.3", {
    patientName: "Smith^John",
    patientId: "ID-30",
    studyDate: "20231231",
    modality: "US",
    accessionNumber: "ACC300",
  });
  const catalog = new Catalog(f.index);
  return {
    search: (s: StudySearch) => uids(catalog.searchStudies(s)),
    async close() {
      catalog.close();
      await f.close();
    },
  };
}

Deno.test("searchStudies() finds a name anywhere in any component, case-insensitively; wildcards as C-FIND", async () => {
  const t = await smallIndex();
  try {
    assert.deepEqual(t.search({ name: "mü" }), ["5.1"]);
    assert.deepEqual(t.search({ name: "hans" }), ["5.1"]); // the given name
    assert.deepEqual(t.search({ name: "ÜLL" }), ["5.1"]); // inside, any case
    assert.deepEqual(t.search({ name: "ann" }), ["5.2"]);
    assert.deepEqual(t.search({ name: "M" }), ["5.1", "5.2", "5.3"]); // SMITH has an M too
    assert.deepEqual(t.search({ name: "M*" }), ["5.1", "5.2"]); // a wildcard: from the start
    assert.deepEqual(t.search({ name: "*john*" }), ["5.3"]);
    assert.deepEqual(t.search({ name: "m?eller" }), ["5.2"]);
    assert.deepEqual(t.search({ name: "m?ller" }), ["5.1"]);
    assert.deepEqual(t.search({ name: "mue*^anna" }), ["5.2"]);
    assert.deepEqual(t.search({ name: "nobody" }), []);
  } finally {
    await t.close();
  }
});

Deno.test("searchStudies() filters by patient ID, accession, modality and date range", async () => {
  const t = await smallIndex();
  try {
    assert.deepEqual(t.search({ patientId: "ID-2" }), ["5.2"]);
    assert.deepEqual(t.search({ patientId: "ID-3" }), ["5.3"]); // by its beginning
    assert.deepEqual(t.search({ patientId: "D-3" }), []); // not inside
    assert.deepEqual(t.search({ patientId: "ID-3*" }), ["5.3"]);
    assert.deepEqual(t.search({ accession: "ACC100" }), ["5.1"]);
    assert.deepEqual(t.search({ modality: "mr" }), ["5.2"]);
    assert.deepEqual(t.search({ from: "2024-01-01" }), ["5.1", "5.2"]);
    assert.deepEqual(t.search({ to: "2024-02-15" }), ["5.2", "5.3"]);
    assert.deepEqual(t.search({ from: "20240215", to: "2024-02-15" }), ["5.2"]);
    assert.deepEqual(t.search({ name: "m", modality: "CT" }), ["5.1"]);
    assert.deepEqual(t.search({ name: "m", modality: "US" }), ["5.3"]);
    assert.throws(() => t.search({ from: "yesterday" }), SearchError);
    assert.throws(() => t.search({ after: "garbage" }), SearchError);
  } finally {
    await t.close();
  }
});

Deno.test("searchStudies() pages older with next and newer with prev, ties broken by row", async () => {
  const f = await indexFixture();
  const catalog = new Catalog(f.index);
  try {
    // Seven studies, three on the same day.
    const dates = ["20240107", "20240106", "20240105", "20240105", "20240105", "20240102", ""];
    dates.forEach((d, i) =>
      f.add(`6.${i}.1`, {
        studyInstanceUid: `6.${i}`,
        seriesInstanceUid: `6.${i}.0`,
        studyDate: d,
      })
    );
    const p1 = catalog.searchStudies({ limit: 3 });
    assert.deepEqual(uids(p1), ["6.0", "6.1", "6.4"]);
    assert.equal(p1.prev, null);
    const p2 = catalog.searchStudies({ limit: 3, after: p1.next! });
    assert.deepEqual(uids(p2), ["6.3", "6.2", "6.5"]);
    const p3 = catalog.searchStudies({ limit: 3, after: p2.next! });
    assert.deepEqual(uids(p3), ["6.6"]); // no Study Date: last
    assert.equal(p3.next, null);
    const back = catalog.searchStudies({ limit: 3, before: p3.prev! });
    assert.deepEqual(uids(back), ["6.3", "6.2", "6.5"]);
    const top = catalog.searchStudies({ limit: 3, before: back.prev! });
    assert.deepEqual(uids(top), ["6.0", "6.1", "6.4"]);
    assert.equal(top.prev, null);
  } finally {
    catalog.close();
    await f.close();
  }
});

Deno.test({
  name: "on 100,000 instances each page reads through an index, never a table scan",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-big-" });
    const index = buildBigIndex(dir);
    const catalog = new Catalog(index);
    try {
      assert.equal(catalog.totals().instances, 100_000);
      const searches: StudySearch[] = [
        {},
        { name: "fam12" },
        { name: "zzz" },
        { name: "*given3*" },
        { patientId: "P77" },
        { patientId: "P7*" },
        { accession: "A500" },
        { modality: "CT" },
        { from: "2020-01-01", to: "2020-02-01" },
        { after: "20200101~5000" },
        { before: "20200101~5000" },
        { name: "fam12", after: "20200101~5000" },
      ];
      for (const s of searches) {
        const { sql, params } = catalog.studyPageStatement(s);
        const plan = catalog.queryPlan(sql, params);
        const text = JSON.stringify(s);
        // A scan is only ever the date-ordered walk of study_date_idx that LIMIT stops.
        for (const step of plan.filter((d) => d.startsWith("SCAN"))) {
          assert.equal(step, "SCAN st USING INDEX study_date_idx", `${text}: ${plan.join(" | ")}`);
        }
        assert.ok(!plan.some((d) => / (i|se) /.test(d)), `${text} touches series/instances`);
        assert.match(sql, /LIMIT \?$/);
      }
    } finally {
      catalog.close();
      index.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("on 100,000 instances pages walk every match once, in Study Date order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-big-" });
  const index = buildBigIndex(dir);
  const catalog = new Catalog(index);
  try {
    // "Fam12" starts the names of patients 12, 120-129 and 1200-1299: 111 x 5 studies.
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const page = catalog.searchStudies({ name: "fam12", after });
      seen.push(...page.studies.map((s) => `${s.studyDate}|${s.studyInstanceUid}`));
      assert.ok(page.studies.every((s) => s.patientName.startsWith("Fam12")));
      if (!page.next) break;
      after = page.next;
    }
    assert.equal(seen.length, 111 * BIG.studiesPerPatient);
    assert.equal(new Set(seen).size, seen.length);
    const dates = seen.map((s) => s.split("|")[0]);
    assert.deepEqual(dates, [...dates].sort().reverse());

    const first = catalog.searchStudies({});
    assert.equal(first.studies.length, 50);
    const studies = BIG.patients * BIG.studiesPerPatient;
    const newest = Array.from({ length: studies }, (_, i) => studyDate(i + 1)).sort().at(-1);
    assert.equal(first.studies[0].studyDate, newest);
    const second = catalog.searchStudies({ after: first.next! });
    assert.ok(second.studies[0].studyDate <= first.studies[49].studyDate);
    assert.deepEqual(uids(catalog.searchStudies({ before: second.prev! })), uids(first));

    const one = catalog.getStudy("1.2.9.77");
    assert.equal(one?.study.studyDate, studyDate(77));
    assert.deepEqual(one?.series.map((s) => s.instances), [5, 5]);
    assert.equal(catalog.getStudy("1.2.9.0"), null);
  } finally {
    catalog.close();
    index.close();
    await Deno.remove(dir, { recursive: true });
  }
});
