// The API's actions against a running server: tag dump, ZIP download, send to a known AE,
// delete (gone from the API, from C-FIND and from disk), and the same-origin check.
import assert from "node:assert/strict";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid } from "../helpers/corpus.ts";
import { datasetOf, readPart10Dir } from "../helpers/part10_files.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";
import { minipacs, startStoreScp, type StoreScp } from "../cli/cli.ts";

const dcmtk = ["storescu", "storescp", "dump2dcm", "dcmdump"].every(hasTool) && hasPydicom();

function hasPydicom(): boolean {
  try {
    const ok = new Deno.Command("/usr/bin/python3", { args: ["-c", "import pydicom.fileset"] })
      .outputSync().success;
    if (!ok) console.log("SKIP: the API actions test needs /usr/bin/python3 with pydicom");
    return ok;
  } catch {
    console.log("SKIP: the API actions test needs /usr/bin/python3 with pydicom");
    return false;
  }
}
const CT = CORPUS_CLASSES.find((c) => c.modality === "CT")!;
const MR = CORPUS_CLASSES.find((c) => c.modality === "MR")!;

const SEQUENCE = [
  "(0008,1140) SQ (Sequence with undefined length)",
  "(fffe,e000) na (Item with undefined length)",
  "(0008,1150) UI [1.2.840.10008.5.1.4.1.1.2]",
  "(0008,1155) UI [1.2.3.4.5.6]",
  "(fffe,e00d) na (ItemDelimitationItem)",
  "(fffe,e0dd) na (SequenceDelimitationItem)",
  `(0020,4000) LT [${"A long image comment ".repeat(4).trim()}]`,
].join("\n");

async function listDcm(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory && e.name !== "journal" && e.name !== "tmp") {
      out.push(...(await listDcm(`${dir}/${e.name}`)).map((f) => `${e.name}/${f}`));
    } else if (e.name.endsWith(".dcm")) out.push(e.name);
  }
  return out;
}

/**
 * The records of an unzipped file-set's DICOMDIR as pydicom follows them: patient ID, study
 * UID, "series UID modality", SOP Instance UID and File ID, one row per image.
 */
async function readDicomdir(root: string): Promise<string[][]> {
  const script = `import sys, json, os
from pydicom import dcmread
from pydicom.fileset import FileSet
ds = dcmread(os.path.join(sys.argv[1], "DICOMDIR"))
FileSet(ds)  # checks the records and their offsets
rows = []
for p in ds.patient_records:
    for st in p.children:
        for se in st.children:
            for im in se.children:
                assert im.DirectoryRecordType == "IMAGE"
                rows.append([p.PatientID, st.StudyInstanceUID,
                    se.SeriesInstanceUID + " " + se.Modality, im.ReferencedSOPInstanceUIDInFile,
                    "/".join(im.ReferencedFileID)])
print(json.dumps(rows))`;
  const out = await new Deno.Command("/usr/bin/python3", { args: ["-c", script, root] })
    .output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Reads a send job until it has finished (bounded: about 60 s). */
async function waitForSend(base: string, id: string) {
  for (let i = 0; i < 600; i++) {
    const job = await (await fetch(`${base}/api/sends/${id}`)).json();
    if (job.state !== "running") return job;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`send ${id} still running`);
}

Deno.test({
  name: "API actions: tags, ZIP download, send to a known AE, delete",
  ignore: !dcmtk,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-actions-" });
    let pacs: MiniPacs | undefined;
    let scp: StoreScp | undefined;
    try {
      const study = newUid();
      const series = newUid();
      const ct: CorpusObject[] = [];
      for (let i = 0; i < 3; i++) {
        ct.push(
          await makeObject({
            spec: CT,
            dir,
            studyInstanceUid: study,
            seriesInstanceUid: series,
            more: SEQUENCE,
          }),
        );
      }
      const mr = await makeObject({ spec: MR, dir, studyInstanceUid: study });
      const other = await makeObject({ spec: MR, dir, patientId: "PAT002" });
      scp = await startStoreScp("STORESCP");
      const auditPath = `${dir}/audit.jsonl`;
      pacs = await startMiniPacs({
        http: { enabled: true, bind: "127.0.0.1", port: 0 },
        extraToml: `[[known_ae]]\nae_title = "STORESCP"\nhost = "127.0.0.1"\nport = ${scp.port}\n` +
          `[audit]\npath = ${JSON.stringify(auditPath)}\n`,
      });
      const all = [...ct, mr, other];
      const stored = await run("storescu", [
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        String(pacs.port),
        ...all.map((o) => o.path),
      ]);
      assert.equal(stored.code, 0, stored.stderr);
      const base = `http://127.0.0.1:${pacs.httpPort}`;

      await t.step(
        "GET /api/instances/{uid}/tags: a dump with sequences, cuts, Pixel Data",
        async () => {
          const r = await fetch(`${base}/api/instances/${ct[0].sopInstanceUid}/tags`);
          assert.equal(r.status, 200);
          const dump = await r.json();
          const line = (tag: string) => dump.lines.find((l: { tag: string }) => l.tag === tag);
          assert.deepEqual(line("(0010,0010)"), {
            depth: 0,
            tag: "(0010,0010)",
            vr: "PN",
            name: "PatientName",
            value: "[Doe^John]",
            length: 8,
          });
          assert.equal(line("(0008,1140)").value, "(1 item)");
          const inner = dump.lines.find((l: { tag: string; depth: number }) =>
            l.tag === "(0008,1155)"
          );
          assert.equal(inner.depth, 2);
          assert.equal(inner.value, "[1.2.3.4.5.6]");
          assert.match(
            line("(0020,4000)").value,
            /^\[A long image comment A long image .{30}\.\.\.\]$/,
          );
          assert.match(
            dump.pixelData,
            /^native, \d+ x \d+, 16 bits allocated, 1 frame, \d+ bytes$/,
          );
          const text = await (await fetch(
            `${base}/api/instances/${ct[0].sopInstanceUid}/tags?format=text`,
          )).text();
          assert.match(text, /^\(0010,0020\) LO \[PAT001\] +# 6, PatientID$/m);
          assert.match(text, /^ {4}\(0008,1155\) UI \[1\.2\.3\.4\.5\.6\]/m);
          assert.equal((await fetch(`${base}/api/instances/9.9.9/tags`)).status, 404);
        },
      );

      await t.step(
        "GET /api/studies/{uid}/archive: a ZIP of the stored Part 10 files",
        async () => {
          const r = await fetch(`${base}/api/studies/${study}/archive`);
          assert.equal(r.status, 200);
          assert.equal(r.headers.get("content-type"), "application/zip");
          assert.match(r.headers.get("content-disposition") ?? "", /attachment; filename="study-/);
          const zip = `${dir}/study.zip`;
          await Deno.writeFile(zip, new Uint8Array(await r.arrayBuffer()));
          // unzip checks every CRC (-t) and extracts.
          const test = await run("unzip", ["-t", zip]);
          assert.equal(test.code, 0, test.stdout);
          assert.match(test.stdout, /No errors detected/);
          const out = `${dir}/unzipped`;
          assert.equal((await run("unzip", ["-q", zip, "-d", out])).code, 0);
          const dump = await run("dcmdump", [`${out}/DICOMDIR`]);
          assert.equal(dump.code, 0, dump.stderr);
          assert.match(dump.stdout, /\(0004,1430\) CS \[PATIENT\]/);
          // pydicom follows the records' offsets from the root: patient, study, series, image.
          const tree = await readDicomdir(out);
          assert.deepEqual(tree.map((r) => r.slice(0, 4)), [
            ...ct.map((o) => ["PAT001", study, `${series} CT`, o.sopInstanceUid]),
            [
              "PAT001",
              study,
              `${mr.seriesInstanceUid} MR`,
              mr.sopInstanceUid,
            ],
          ]);
          for (const [, , , sop, fileId] of tree) {
            assert.match(fileId, /^DICOM(\/[A-Z0-9_]{1,8}){3}$/);
            const o = [...ct, mr].find((x) => x.sopInstanceUid === sop)!;
            // Each referenced file exists and holds what was stored.
            assert.deepEqual(await datasetOf(`${out}/${fileId}`), await datasetOf(o.path));
          }
          const series1 = await fetch(`${base}/api/series/${series}/archive`);
          assert.equal(series1.status, 200);
          await series1.body?.cancel();
          assert.equal((await fetch(`${base}/api/studies/9.9.9/archive`)).status, 404);
        },
      );

      await t.step(
        "POST /api/studies/{uid}/send: a job with progress; two sends at once both arrive",
        async () => {
          const post = (path: string) =>
            fetch(`${base}/api/${path}/send`, {
              method: "POST",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify({ destination: "STORESCP" }),
            });
          const [r, r2] = await Promise.all([post(`studies/${study}`), post(`series/${series}`)]);
          assert.equal(r.status, 202);
          assert.equal(r2.status, 202);
          const job = await r.json();
          const job2 = await r2.json();
          assert.equal(r.headers.get("location"), `/api/sends/${job.id}`);
          assert.notEqual(job.id, job2.id);
          assert.equal(job.destination, "STORESCP");
          assert.equal(job.total, 4);
          assert.equal(job2.total, 3);
          const done = await waitForSend(base, job.id);
          assert.deepEqual(
            {
              state: done.state,
              total: done.total,
              done: done.done,
              completed: done.completed,
              failed: done.failed,
              warning: done.warning,
              failedSopInstanceUids: done.failedSopInstanceUids,
              error: done.error,
              address: done.address,
            },
            {
              state: "completed",
              total: 4,
              done: 4,
              completed: 4,
              failed: 0,
              warning: 0,
              failedSopInstanceUids: [],
              error: null,
              address: `127.0.0.1:${scp!.port}`,
            },
          );
          assert.equal((await waitForSend(base, job2.id)).completed, 3);
          const list = await (await fetch(`${base}/api/sends`)).json();
          assert.deepEqual(
            list.sends.map((j: { id: string }) => j.id).sort(),
            [job.id, job2.id].sort(),
          );
          const got = await readPart10Dir(scp!.dir);
          assert.deepEqual(
            [...got.keys()].sort(),
            [...ct, mr].map((o) => o.sopInstanceUid).sort(),
          );
          for (const o of [...ct, mr]) {
            assert.deepEqual(got.get(o.sopInstanceUid)!.dataset, await datasetOf(o.path));
          }
          await pacs!.waitForLog(/send done.*destination=STORESCP.*completed=4/);
          const unknown = await fetch(`${base}/api/studies/${study}/send`, {
            method: "POST",
            body: JSON.stringify({ destination: "NOWHERE" }),
          });
          assert.equal(unknown.status, 400);
          assert.match((await unknown.json()).error, /not a \[\[known_ae\]\]/);
          const none = await fetch(`${base}/api/sends/not-a-job`);
          assert.equal(none.status, 404);
          await none.body?.cancel();
        },
      );

      await t.step(
        "DELETE: refused cross-site; then gone from the API, C-FIND and disk",
        async () => {
          const cross = await fetch(`${base}/api/studies/${study}`, {
            method: "DELETE",
            headers: { Origin: "http://evil.example", "Sec-Fetch-Site": "cross-site" },
          });
          assert.equal(cross.status, 403);
          await cross.body?.cancel();
          const instance = await fetch(`${base}/api/instances/${ct[2].sopInstanceUid}`, {
            method: "DELETE",
          });
          assert.equal(instance.status, 200);
          assert.equal((await instance.json()).instances, 1);
          const detail = await (await fetch(`${base}/api/studies/${study}`)).json();
          assert.equal(detail.study.numberOfStudyRelatedInstances ?? detail.study.instances, 3);
          const r = await fetch(`${base}/api/studies/${study}`, { method: "DELETE" });
          assert.equal(r.status, 200);
          const body = await r.json();
          assert.equal(body.deleted, "study");
          assert.equal(body.instances, 3);
          assert.equal((await fetch(`${base}/api/studies/${study}`)).status, 404);
          assert.equal(
            (await fetch(`${base}/api/studies/${study}`, { method: "DELETE" })).status,
            404,
          );
          const find = await minipacs([
            "find",
            `MINIPACS@127.0.0.1:${pacs!.port}`,
            "-k",
            `StudyInstanceUID=${study}`,
            "--json",
          ]);
          assert.equal(find.code, 0, find.stderr);
          assert.deepEqual(JSON.parse(find.stdout), []);
          // Only the other patient's object is left on disk (once the journal is drained).
          await pacs!.stop();
          const left = await listDcm(pacs!.storage);
          assert.deepEqual(left, [
            `${other.studyInstanceUid}/${other.seriesInstanceUid}/${other.sopInstanceUid}.dcm`,
          ]);
          await pacs!.waitForLog(/study deleted.*instances=3/);
        },
      );

      await t.step("the audit trail has a line for each send and delete", async () => {
        const lines = (await Deno.readTextFile(auditPath)).trim().split("\n").map((l) =>
          JSON.parse(l)
        );
        const sends = lines.filter((l) =>
          l.EventID === "DICOM Instances Transferred" && l.DestinationUserID === "STORESCP"
        );
        assert.equal(sends.length, 2);
        const studySend = sends.find((l) => l.SeriesInstanceUID === undefined);
        assert.deepEqual(
          {
            action: studySend.EventActionCode,
            outcome: studySend.EventOutcomeIndicator,
            user: studySend.UserID,
            study: studySend.StudyInstanceUID,
            patient: studySend.PatientID,
            to: studySend.DestinationNetworkAccessPointID,
            n: studySend.NumberOfInstances,
          },
          {
            action: "R",
            outcome: 0,
            user: "web",
            study,
            patient: "PAT001",
            to: `127.0.0.1:${scp!.port}`,
            n: 4,
          },
        );
        assert.match(studySend.NetworkAccessPointID, /^127\.0\.0\.1:\d+$/);
        const deletes = lines.filter((l) => l.EventID === "DICOM Study Deleted");
        assert.deepEqual(
          deletes.map((l) => [l.EventActionCode, l.SOPInstanceUID, l.NumberOfInstances]),
          [["D", ct[2].sopInstanceUid, 1], ["D", undefined, 3]],
        );
        assert.equal(deletes[1].StudyInstanceUID, study);
        assert.equal(deletes[1].PatientID, "PAT001");
      });
    } finally {
      await pacs?.cleanup();
      await scp?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
