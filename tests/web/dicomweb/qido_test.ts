// QIDO-RS against the running server: the objects storescu stored are found over the same
// index as C-FIND, with DICOM JSON answers, paging, includefield, 204 and 400.
import assert from "node:assert/strict";
import { dicomWebFixture, dicomWebReady, get, json } from "./fixture.ts";

type Json = Record<string, { vr: string; Value?: unknown[] }>;
const value = (o: Json, tag: string) => o[tag]?.Value?.[0];
const uids = (list: Json[], tag: string) => list.map((o) => value(o, tag) as string).sort();

Deno.test({
  name: "QIDO-RS finds what C-STORE stored, matching as C-FIND does",
  ignore: !dicomWebReady,
  async fn(t) {
    const f = await dicomWebFixture();
    const search = async (path: string, expect = 200) => {
      const r = await get(`${f.root}${path}`, "application/dicom+json");
      assert.equal(r.status, expect, `${path}: ${new TextDecoder().decode(r.body)}`);
      return r.status === 200 ? json(r.body) as Json[] : [];
    };
    const study = f.ct[0].studyInstanceUid;
    try {
      await t.step("all studies, with the default attributes as DICOM JSON", async () => {
        const all = await search("/studies");
        assert.equal(all.length, 4);
        const ct = all.find((s) => value(s, "0020000D") === study)!;
        assert.deepEqual(ct["00100010"], { vr: "PN", Value: [{ Alphabetic: "Doe^John" }] });
        assert.deepEqual(ct["00201208"], { vr: "IS", Value: [3] }, "IS as a number");
        assert.deepEqual(ct["00080061"], { vr: "CS", Value: ["CT"] });
        assert.deepEqual(ct["00080056"], { vr: "CS", Value: ["ONLINE"] });
        assert.equal(value(ct, "00081190"), `${f.root}/studies/${study}`);
        assert.equal(value(ct, "00080020"), "20240315");
      });
      await t.step("names: wildcards, case-insensitive, fuzzy as a prefix", async () => {
        assert.deepEqual(
          uids(await search("/studies?PatientName=doe*"), "00100020"),
          ["PAT-BE", "PAT-CT"],
        );
        assert.deepEqual(uids(await search("/studies?PatientName=DOE%5EJOHN"), "00100020"), [
          "PAT-CT",
        ]);
        await search("/studies?PatientName=po", 204);
        assert.deepEqual(
          uids(await search("/studies?PatientName=po&fuzzymatching=true"), "00100020"),
          ["PAT-US"],
        );
      });
      await t.step("keys by tag, date ranges, UID lists", async () => {
        assert.deepEqual(uids(await search("/studies?00100020=PAT-MR"), "00100020"), ["PAT-MR"]);
        assert.equal((await search("/studies?StudyDate=20240101-20241231")).length, 4);
        await search("/studies?StudyDate=-20231231", 204);
        const two = `${f.ct[0].sopInstanceUid},${f.mr.sopInstanceUid}`;
        assert.deepEqual(
          uids(await search(`/instances?SOPInstanceUID=${two}`), "00080018"),
          [f.ct[0].sopInstanceUid, f.mr.sopInstanceUid].sort(),
        );
        assert.deepEqual(uids(await search("/series?Modality=MR"), "0020000E"), [
          f.mr.seriesInstanceUid,
        ]);
      });
      await t.step("paging with limit and offset neither repeats nor skips", async () => {
        const all = (await search("/studies")).map((s) => value(s, "0020000D"));
        const paged: unknown[] = [];
        for (let offset = 0; offset < 4; offset++) {
          const page = await search(`/studies?limit=1&offset=${offset}`);
          assert.equal(page.length, 1);
          paged.push(value(page[0], "0020000D"));
        }
        assert.deepEqual(paged, all);
        await search("/studies?offset=4", 204);
      });
      await t.step(
        "series and instances of a study; file attributes at instance level",
        async () => {
          const series = await search(`/studies/${study}/series`);
          assert.equal(series.length, 1);
          assert.deepEqual(series[0]["00201209"], { vr: "IS", Value: [3] });
          assert.equal(value(series[0], "00080060"), "CT");
          const instances = await search(
            `/studies/${study}/series/${f.ct[0].seriesInstanceUid}/instances?includefield=00180050`,
          );
          assert.equal(instances.length, 3);
          for (const i of instances) {
            assert.deepEqual(i["00280010"], { vr: "US", Value: [32] }, "Rows from the file");
            assert.deepEqual(i["00180050"], { vr: "DS", Value: [2.5] }, "included field");
          }
          assert.deepEqual(
            instances.map((i) => value(i, "00200013")).sort(),
            [1, 2, 3],
          );
          const viaStudy = await search(`/studies/${study}/instances`);
          assert.equal(viaStudy.length, 3);
        },
      );
      await t.step("includefield=all and comma lists", async () => {
        const [s] = await search(`/studies?PatientID=PAT-CT&includefield=all`);
        assert.ok(s["00201206"], "Number of Study Related Series");
        assert.ok(s["00080062"], "SOP Classes in Study");
        const [t2] = await search(
          `/series?PatientID=PAT-CT&includefield=BodyPartExamined,SeriesDate`,
        );
        assert.ok("00180015" in t2 && "00080021" in t2);
        assert.ok("00100010" in t2, "study attributes on an unscoped series search");
      });
      await t.step("bad queries are 400 with a reason; other media types 406", async () => {
        for (
          const q of [
            "/studies?limit=-1",
            "/studies?NoSuchKeyword=1",
            "/studies?StudyDate=2024-03",
            "/studies?fuzzymatching=maybe",
            "/studies/1.2.abc/series",
          ]
        ) {
          const r = await get(`${f.root}${q}`);
          assert.equal(r.status, 400, q);
          assert.ok(new TextDecoder().decode(r.body).length > 5, "a reason");
        }
        const r = await get(`${f.root}/studies`, "application/dicom+xml");
        assert.equal(r.status, 406);
      });
    } finally {
      await f.close();
    }
  },
});
