// A real PACS as the caller: Orthanc, configured with MiniPACS as a modality, pulls a study
// from MiniPACS with C-MOVE (REST /modalities/{id}/move) and pushes one into it with C-STORE
// (REST /modalities/{id}/store).
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { freePort } from "../helpers/peers.ts";
import { type Orthanc, startOrthanc } from "../helpers/orthanc.ts";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid } from "../helpers/corpus.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";

const ORTHANC = "/usr/sbin/Orthanc";

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const orthanc = exists(ORTHANC);
if (!orthanc) {
  console.log(`SKIP: ${ORTHANC} is missing (apt-get install orthanc); its test is ignored`);
}
const ready = orthanc && hasTool("storescu") && hasTool("dump2dcm");

const datasetOf = (bytes: Uint8Array) =>
  bytes.subarray(decodeFileMetaInformation(bytes).datasetOffset);

Deno.test({
  name: "Orthanc pulls a study from MiniPACS with C-MOVE and pushes one into it with C-STORE",
  ignore: !ready,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-orthanc-corpus-" });
    const orthancPort = freePort();
    let pacs: MiniPacs | undefined;
    let peer: Orthanc | undefined;
    try {
      pacs = await startMiniPacs({
        extraToml:
          `[[known_ae]]\nae_title = "ORTHANC"\nhost = "127.0.0.1"\nport = ${orthancPort}\n`,
      });
      peer = await startOrthanc(pacs.port, orthancPort);
      const api = peer.api;
      const study = newUid();
      const series = newUid();
      const objects: CorpusObject[] = [];
      for (const spec of [CORPUS_CLASSES[0], CORPUS_CLASSES[0], CORPUS_CLASSES[0]]) {
        objects.push(
          await makeObject({ spec, dir, studyInstanceUid: study, seriesInstanceUid: series }),
        );
      }
      const stored = await run("storescu", [
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        String(pacs.port),
        ...objects.map((o) => o.path),
      ]);
      assert.equal(stored.code, 0, stored.stderr);

      await t.step(
        "C-MOVE through /modalities/minipacs/move: Orthanc ends with the same instances",
        async () => {
          const r = await api("/modalities/minipacs/move", {
            method: "POST",
            body: JSON.stringify({
              Level: "Study",
              Resources: [{ StudyInstanceUID: study }],
              TargetAet: "ORTHANC",
              Timeout: 60,
            }),
          });
          const answer = await r.text();
          assert.ok(r.ok, `move: HTTP ${r.status} ${answer}\n${peer!.output()}`);
          const ids = await (await api("/instances")).json() as string[];
          assert.equal(ids.length, 3);
          const uids = new Set<string>();
          for (const id of ids) {
            const tags = await (await api(`/instances/${id}/simplified-tags`)).json() as Record<
              string,
              string
            >;
            uids.add(tags.SOPInstanceUID);
            assert.equal(tags.StudyInstanceUID, study);
            const file = new Uint8Array(await (await api(`/instances/${id}/file`)).arrayBuffer());
            const original = objects.find((o) => o.sopInstanceUid === tags.SOPInstanceUID)!;
            assert.deepEqual(
              datasetOf(file),
              datasetOf(await Deno.readFile(original.path)),
              "Orthanc holds the dataset bytes MiniPACS stored",
            );
          }
          assert.deepEqual([...uids].sort(), objects.map((o) => o.sopInstanceUid).sort());
          await pacs!.waitForLog(/move done .*destination=ORTHANC .*completed=3 failed=0/);
        },
      );

      await t.step(
        "Orthanc's retrieve of a patient (Study Root C-MOVE at PATIENT level) moves its studies",
        async () => {
          const r = await api("/modalities/minipacs/move", {
            method: "POST",
            body: JSON.stringify({
              Level: "Patient",
              Resources: [{ PatientID: objects[0].patientId }],
              TargetAet: "ORTHANC",
              Timeout: 60,
            }),
          });
          const answer = await r.text();
          assert.ok(r.ok, `move: HTTP ${r.status} ${answer}\n${peer!.output()}`);
          await pacs!.waitForLog(
            /move done .*destination=ORTHANC .*level=PATIENT .*completed=3 failed=0/,
          );
          assert.match(pacs!.logs(), /DEBUG\s+move at PATIENT level in the Study Root model/);
        },
      );

      await t.step(
        "C-STORE through /modalities/minipacs/store: MiniPACS stores Orthanc's study",
        async () => {
          const pushedStudy = newUid();
          const pushed: CorpusObject[] = [];
          for (const spec of [CORPUS_CLASSES[1], CORPUS_CLASSES[1]]) {
            pushed.push(
              await makeObject({ spec, dir, studyInstanceUid: pushedStudy, patientId: "PAT777" }),
            );
          }
          let orthancStudy = "";
          for (const o of pushed) {
            const r = await api("/instances", {
              method: "POST",
              body: await Deno.readFile(o.path),
            });
            assert.ok(r.ok, `upload: HTTP ${r.status}`);
            orthancStudy = (await r.json() as { ParentStudy: string }).ParentStudy;
          }
          const r = await api("/modalities/minipacs/store", {
            method: "POST",
            body: JSON.stringify({ Resources: [orthancStudy], Synchronous: true }),
          });
          const answer = await r.text();
          assert.ok(r.ok, `store: HTTP ${r.status} ${answer}`);
          assert.equal(await pacs!.stop(), 0);
          const db = new DatabaseSync(`${pacs!.storage}/index.sqlite`, { readOnly: true });
          try {
            const rows = db.prepare(
              `SELECT i.sop_instance_uid AS uid, i.calling_ae AS ae FROM instance i
               JOIN series s ON s.pk = i.series_pk JOIN study st ON st.pk = s.study_pk
              WHERE st.study_instance_uid = ?`,
            ).all(pushedStudy) as { uid: string; ae: string }[];
            assert.deepEqual(
              rows.map((x) => x.uid).sort(),
              pushed.map((o) => o.sopInstanceUid).sort(),
            );
            for (const row of rows) assert.equal(row.ae, "ORTHANC");
          } finally {
            db.close();
          }
        },
      );
    } finally {
      await peer?.stop();
      await pacs?.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
