// The pages of stored studies as a user reads them: the study list with its search form and
// pager, one study with its series; every value escaped.
import assert from "node:assert/strict";
import type { StudySummary } from "../../src/storage/catalog.ts";
import { studiesPage, studyPage } from "../../src/web/study_pages.ts";

const study = (over: Partial<StudySummary> = {}): StudySummary => ({
  studyInstanceUid: "1.2.3.4",
  patientName: "Doe^John",
  patientId: "PID1",
  patientBirthDate: "19600412",
  patientSex: "M",
  studyDate: "20240315",
  studyTime: "101500",
  accessionNumber: "ACC1",
  studyId: "1",
  studyDescription: "CT chest",
  referringPhysicianName: "",
  modalities: ["CT", "SR"],
  series: 2,
  instances: 1234,
  ...over,
});

const text = async (h: unknown) => String(await h);

Deno.test("the study list links each study and shows its values readably", async () => {
  const out = await text(studiesPage("MINIPACS", {}, {
    studies: [study()],
    next: null,
    prev: null,
    partial: false,
  }));
  assert.match(out, /<a href="\/studies\/1\.2\.3\.4">Doe, John<\/a>/);
  assert.match(out, /2024-03-15/);
  assert.match(out, /CT, SR/);
  assert.match(out, /1,234/);
  assert.ok(!out.includes("Older"), "no pager on a single page");
  assert.ok(!out.includes("<th>Viewer</th>"), "no viewer column without a viewer");
});

Deno.test("the search form keeps what was asked, dates as the date input wants them", async () => {
  const out = await text(studiesPage("MINIPACS", { name: "DOE*", from: "20240101" }, {
    studies: [],
    next: null,
    prev: null,
    partial: false,
  }));
  assert.match(out, /name="name" value="DOE\*"/);
  assert.match(out, /name="from" value="2024-01-01"/);
  assert.match(out, /No study matches/);
});

Deno.test("the pager carries the search and the cursors; a partial page says so", async () => {
  const out = await text(studiesPage("MINIPACS", { modality: "CT", limit: 10 }, {
    studies: [study()],
    next: "n1",
    prev: "p1",
    partial: true,
  }, (uid) => `/viewer?StudyInstanceUIDs=${uid}`));
  assert.match(out, /href="\/studies\?modality=CT&amp;limit=10&amp;after=n1">Older/);
  assert.match(out, /href="\/studies\?modality=CT&amp;limit=10&amp;before=p1">← Newer/);
  assert.match(out, /Stopped after reading many non-matching studies/);
  assert.match(out, /<a class="viewer" href="\/viewer\?StudyInstanceUIDs=1\.2\.3\.4">Open<\/a>/);
});

Deno.test("a refused search is shown as its message, escaped", async () => {
  const out = await text(studiesPage("MINIPACS", {}, { error: "bad date <2024>" }));
  assert.match(out, /bad date &lt;2024&gt;/);
  assert.ok(!out.includes("<2024>"));
});

Deno.test("the study page lists its series linked, and escapes patient data", async () => {
  const out = await text(studyPage("MINIPACS", {
    study: study({ patientName: "<script>x</script>" }),
    series: [{
      seriesInstanceUid: "1.2.3.4.5",
      modality: "CT",
      seriesNumber: "3",
      seriesDescription: "",
      bodyPartExamined: "CHEST",
      seriesDate: "20240315",
      seriesTime: "",
      instances: 40,
    }],
  }));
  assert.ok(!out.includes("<script>x</script>"), "patient name not escaped");
  assert.match(out, /<a href="\/series\/1\.2\.3\.4\.5">3<\/a>/);
  assert.match(out, /\(no description\)/);
  assert.match(out, /1,234 in 2 series/);
  assert.match(out, /Study Instance UID <code>1\.2\.3\.4<\/code>/);
});
