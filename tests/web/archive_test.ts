// The file-set of a download: File IDs, and a DICOMDIR that pydicom reads back, with two
// patients, several studies and series, a name outside ASCII, and a file gone mid-download.
import assert from "node:assert/strict";
import { fileIdsOf, fileSetEntries } from "../../src/web/archive.ts";
import type { EntityInstance } from "../../src/storage/entity_instances.ts";
import type { StudyDetail } from "../../src/storage/catalog.ts";
import { isFileIdComponent } from "../../src/core/dicom/dicomdir.ts";
import { zipStream } from "../../src/web/zip.ts";
import { hasTool, run } from "../helpers/server.ts";

const hasPydicom = (() => {
  try {
    return new Deno.Command("/usr/bin/python3", { args: ["-c", "import pydicom.fileset"] })
      .outputSync().success;
  } catch {
    return false;
  }
})();
if (!hasPydicom) console.log("SKIP: the DICOMDIR test needs /usr/bin/python3 with pydicom");

const instance = (study: string, series: string, sop: string, n: string): EntityInstance => ({
  studyInstanceUid: study,
  seriesInstanceUid: series,
  sopInstanceUid: sop,
  sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
  transferSyntaxUid: "1.2.840.10008.1.2.1",
  instanceNumber: n,
  size: 4,
  homePath: `${study}/${series}/${sop}.dcm`,
  receivedAt: "2026-01-01T00:00:00Z",
});

const INSTANCES = [
  instance("1.1", "1.1.1", "1.1.1.1", "1"),
  instance("1.1", "1.1.1", "1.1.1.2", "2"),
  instance("1.1", "1.1.2", "1.1.2.1", "1"),
  instance("1.2", "1.2.1", "1.2.1.1", "7"),
  instance("2.1", "2.1.1", "2.1.1.1", "1"),
];

function detail(study: string, patientId: string, patientName: string): StudyDetail {
  const series = INSTANCES.filter((i) => i.studyInstanceUid === study)
    .map((i) => i.seriesInstanceUid).filter((s, k, a) => a.indexOf(s) === k);
  return {
    study: {
      studyInstanceUid: study,
      patientName,
      patientId,
      patientBirthDate: "19700101",
      patientSex: "M",
      studyDate: "20260101",
      studyTime: "101500",
      accessionNumber: `A${study}`,
      studyId: "1",
      studyDescription: "Chest",
      referringPhysicianName: "",
      modalities: ["CT"],
      series: series.length,
      instances: 1,
    },
    series: series.map((s, k) => ({
      seriesInstanceUid: s,
      modality: k === 0 ? "CT" : "SR",
      seriesNumber: String(k + 1),
      seriesDescription: "",
      bodyPartExamined: "",
      seriesDate: "",
      seriesTime: "",
      instances: 1,
    })),
  } as StudyDetail;
}

Deno.test("File IDs: a folder per study and series, components of 8 upper-case characters", () => {
  const ids = fileIdsOf(INSTANCES);
  assert.deepEqual(ids.map((c) => c.join("/")), [
    "DICOM/ST000001/SE000001/IM000001",
    "DICOM/ST000001/SE000001/IM000002",
    "DICOM/ST000001/SE000002/IM000001",
    "DICOM/ST000002/SE000001/IM000001",
    "DICOM/ST000003/SE000001/IM000001",
  ]);
  assert.ok(ids.flat().every(isFileIdComponent));
  assert.ok(!isFileIdComponent("im000001") && !isFileIdComponent("IM0000001"));
});

Deno.test({
  name: "the DICOMDIR lists what was written; pydicom follows its records and offsets",
  ignore: !hasPydicom || !hasTool("unzip"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-dicomdir-" });
    try {
      const details: Record<string, StudyDetail> = {
        "1.1": detail("1.1", "P1", "MÜLLER^HANS"),
        "1.2": detail("1.2", "P1", "MÜLLER^HANS"),
        "2.1": detail("2.1", "P2", "DOE^JANE"),
      };
      const entries = fileSetEntries(INSTANCES, {
        // 1.1.1.2 was deleted while the archive was read: neither file nor record.
        open: (sop) =>
          Promise.resolve(sop === "1.1.1.2" ? null : new Blob([sop.padEnd(8, "_")]).stream()),
        study: (uid) => details[uid] ?? null,
        sopInstanceUid: "2.25.1",
        implementationClassUid: "1.2.3",
        implementationVersionName: "TEST",
        fileSetId: "MINIPACS",
      });
      const file = await Deno.open(`${dir}/set.zip`, { write: true, create: true });
      await zipStream(entries).pipeTo(file.writable);
      assert.equal((await run("unzip", ["-q", `${dir}/set.zip`, "-d", `${dir}/out`])).code, 0);
      const script = `import sys, json
from pydicom import dcmread
from pydicom.fileset import FileSet
ds = dcmread(sys.argv[1] + "/DICOMDIR")
FileSet(ds)
rows = []
for p in ds.patient_records:
    for st in p.children:
        for se in st.children:
            for im in se.children:
                rows.append([str(p.PatientName), p.PatientID, st.StudyInstanceUID, st.StudyDate,
                    se.Modality, im.ReferencedSOPInstanceUIDInFile, "/".join(im.ReferencedFileID)])
print(json.dumps([ds.FileSetID, rows]))`;
      const out = await new Deno.Command("/usr/bin/python3", {
        args: ["-c", script, `${dir}/out`],
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const [setId, rows] = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.equal(setId, "MINIPACS");
      assert.deepEqual(rows, [
        [
          "MÜLLER^HANS",
          "P1",
          "1.1",
          "20260101",
          "CT",
          "1.1.1.1",
          "DICOM/ST000001/SE000001/IM000001",
        ],
        [
          "MÜLLER^HANS",
          "P1",
          "1.1",
          "20260101",
          "SR",
          "1.1.2.1",
          "DICOM/ST000001/SE000002/IM000001",
        ],
        [
          "MÜLLER^HANS",
          "P1",
          "1.2",
          "20260101",
          "CT",
          "1.2.1.1",
          "DICOM/ST000002/SE000001/IM000001",
        ],
        ["DOE^JANE", "P2", "2.1", "20260101", "CT", "2.1.1.1", "DICOM/ST000003/SE000001/IM000001"],
      ]);
      for (const r of rows) {
        assert.equal(await Deno.readTextFile(`${dir}/out/${r[6]}`), r[5].padEnd(8, "_"));
      }
      await assert.rejects(() => Deno.stat(`${dir}/out/DICOM/ST000001/SE000001/IM000002`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
