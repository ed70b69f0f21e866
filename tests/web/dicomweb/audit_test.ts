// DICOMweb in the audit trail, read as a site would: a STOW-RS store, a QIDO-RS search and
// WADO-RS retrieves each leave a JSON line with the PS3.15 A.5 fields their DIMSE counterparts
// use (C-STORE, C-FIND, C-GET), the HTTP user as the requester.
import assert from "node:assert/strict";
import { auditLines, waitForLine } from "../../helpers/audit_lines.ts";
import { CORPUS_CLASSES, makeObject, newUid } from "../../helpers/corpus.ts";
import { hasTool, startMiniPacs } from "../../helpers/server.ts";
import { hashPassword } from "../../../src/web/password.ts";

const ready = hasTool("dump2dcm");
if (!ready) console.log("SKIP: dump2dcm (dcmtk) is not installed");

Deno.test({
  name: "audit: STOW-RS, QIDO-RS and WADO-RS leave their lines with the HTTP user",
  ignore: !ready,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-dicomweb-audit-" });
    const path = `${dir}/audit.log`;
    const hash = await hashPassword("s3cret", 1000);
    const pacs = await startMiniPacs({
      http: { enabled: true, port: 0, bind: "127.0.0.1" },
      extraToml: [
        "[audit]",
        `path = ${JSON.stringify(path)}`,
        "[[http.users]]",
        'name = "radiologist"',
        `password_hash = ${JSON.stringify(hash)}`,
      ].join("\n"),
    });
    try {
      const root = `http://127.0.0.1:${pacs.httpPort}/dicom-web`;
      const auth = { Authorization: `Basic ${btoa("radiologist:s3cret")}` };
      const study = newUid();
      const obj = await makeObject({
        spec: CORPUS_CLASSES[0],
        dir,
        studyInstanceUid: study,
        patientId: "WEBAUDIT1",
      });
      const boundary = "audit-boundary";
      const enc = new TextEncoder();
      const body = new Blob([
        enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
        await Deno.readFile(obj.path),
        enc.encode(`\r\n--${boundary}--\r\n`),
      ]);
      const stow = await fetch(`${root}/studies`, {
        method: "POST",
        headers: {
          ...auth,
          "Content-Type": `multipart/related; type="application/dicom"; boundary=${boundary}`,
        },
        body,
      });
      assert.equal(stow.status, 200, await stow.text());

      const stored = await waitForLine(path, (l) => l.EventTypeCode === "STOW-RS");
      assert.equal(stored.EventID, "DICOM Instances Transferred");
      assert.equal(stored.EventActionCode, "C");
      assert.equal(stored.EventOutcomeIndicator, 0);
      assert.equal(stored.UserID, "radiologist");
      assert.match(String(stored.NetworkAccessPointID), /^127\.0\.0\.1:\d+$/);
      assert.equal(stored.PatientID, "WEBAUDIT1");
      assert.equal(stored.StudyInstanceUID, study);
      assert.equal(stored.SeriesInstanceUID, obj.seriesInstanceUid);
      assert.equal(stored.SOPInstanceUID, obj.sopInstanceUid);
      assert.equal(stored.SOPClassUID, obj.sopClassUid);

      const qido = await fetch(`${root}/studies?PatientID=WEBAUDIT1&includefield=StudyDate`, {
        headers: { ...auth, Accept: "application/dicom+json" },
      });
      assert.equal(qido.status, 200);
      await qido.body?.cancel();
      const query = await waitForLine(path, (l) => l.EventTypeCode === "QIDO-RS");
      assert.equal(query.EventID, "Query");
      assert.equal(query.EventActionCode, "E");
      assert.equal(query.EventOutcomeIndicator, 0);
      assert.equal(query.UserID, "radiologist");
      assert.deepEqual(query.QueryKeys, { PatientID: "WEBAUDIT1", includefield: "StudyDate" });
      assert.equal(query.NumberOfMatches, 1);

      const series = `${root}/studies/${study}/series/${obj.seriesInstanceUid}`;
      const wado = await fetch(series, {
        headers: { ...auth, Accept: 'multipart/related; type="application/dicom"' },
      });
      assert.equal(wado.status, 200);
      await wado.arrayBuffer();
      const retrieved = await waitForLine(
        path,
        (l) => l.EventTypeCode === "WADO-RS" && l.Resource === "instances",
      );
      assert.equal(retrieved.EventID, "DICOM Instances Transferred");
      assert.equal(retrieved.EventActionCode, "R");
      assert.equal(retrieved.EventOutcomeIndicator, 0);
      assert.equal(retrieved.UserID, "radiologist");
      assert.equal(retrieved.DestinationUserID, "radiologist");
      assert.equal(retrieved.StudyInstanceUID, study);
      assert.equal(retrieved.SeriesInstanceUID, obj.seriesInstanceUid);
      assert.equal(retrieved.NumberOfInstances, 1);

      const meta = await fetch(`${series}/metadata`, {
        headers: { ...auth, Accept: "application/dicom+json" },
      });
      assert.equal(meta.status, 200);
      await meta.arrayBuffer();
      await waitForLine(path, (l) => l.EventTypeCode === "WADO-RS" && l.Resource === "metadata");

      const unknown = await fetch(`${root}/studies/1.2.3.999/metadata`, {
        headers: { ...auth, Accept: "application/dicom+json" },
      });
      assert.equal(unknown.status, 404);
      await unknown.body?.cancel();
      const missed = await waitForLine(path, (l) => l.StudyInstanceUID === "1.2.3.999");
      assert.equal(missed.EventOutcomeIndicator, 4);
      assert.equal(missed.EventOutcomeDescription, "HTTP 404");

      // A path that names no DICOMweb resource reads nothing: no line.
      const other = await fetch(`${root}/not-a-resource`, { headers: auth });
      assert.equal(other.status, 404);
      await other.body?.cancel();
      await new Promise((r) => setTimeout(r, 200));
      const wadoLines = (await auditLines(path)).filter((l) => l.EventTypeCode === "WADO-RS");
      assert.deepEqual(wadoLines.map((l) => l.Resource), ["instances", "metadata", "metadata"]);
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
