// The audit trail as a site would read it: a store, a query, a move, a rejected association
// and a failed login each leave their JSON line; kill -9 loses none already answered.
import assert from "node:assert/strict";
import { auditLines, waitForLine } from "../helpers/audit_lines.ts";
import { freePort } from "../helpers/peers.ts";
import { CORPUS_CLASSES, makeObject, newUid } from "../helpers/corpus.ts";
import { hasTool, run, startMiniPacs } from "../helpers/server.ts";
import { hashPassword } from "../../src/web/password.ts";

const ready = ["storescu", "findscu", "movescu", "storescp", "echoscu", "dump2dcm", "curl"]
  .every(hasTool);

Deno.test({
  name:
    "audit: store, query, move, rejected association and failed login each leave a line; the dashboard shows them",
  ignore: !ready,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-audit-" });
    const path = `${dir}/audit.log`;
    const scpDir = `${dir}/scp`;
    await Deno.mkdir(scpDir);
    const scpPort = freePort();
    const scp = new Deno.Command("storescp", {
      args: ["-aet", "DEST", "-od", scpDir, String(scpPort)],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const hash = await hashPassword("right");
    const pacs = await startMiniPacs({
      http: { enabled: true, port: 0 },
      extraToml: [
        "[audit]",
        `path = ${JSON.stringify(path)}`,
        "[[http.users]]",
        'name = "admin"',
        `password_hash = ${JSON.stringify(hash)}`,
        "[[known_ae]]",
        'ae_title = "DEST"',
        'host = "127.0.0.1"',
        `port = ${scpPort}`,
      ].join("\n"),
    });
    try {
      const study = newUid();
      const obj = await makeObject({
        spec: CORPUS_CLASSES[0],
        dir,
        studyInstanceUid: study,
        patientId: "AUDIT01",
      });
      const port = String(pacs.port);
      const st = await run("storescu", [
        "-aet",
        "MODALITY",
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        port,
        obj.path,
      ]);
      assert.equal(st.code, 0, st.stderr);
      const stored = await waitForLine(path, (l) => l.EventTypeCode === "C-STORE");
      assert.equal(stored.EventID, "DICOM Instances Transferred");
      assert.equal(stored.EventActionCode, "C");
      assert.equal(stored.EventOutcomeIndicator, 0);
      assert.equal(stored.UserID, "MODALITY");
      assert.equal(stored.PatientID, "AUDIT01");
      assert.equal(stored.StudyInstanceUID, study);
      assert.equal(stored.SeriesInstanceUID, obj.seriesInstanceUid);
      assert.equal(stored.SOPInstanceUID, obj.sopInstanceUid);
      const assoc = await waitForLine(
        path,
        (l) => l.EventID === "Association" && l.UserID === "MODALITY",
      );
      assert.equal(assoc.EventOutcomeIndicator, 0);
      assert.match(String(assoc.NetworkAccessPointID), /^127\.0\.0\.1:\d+$/);
      assert.equal(assoc.TLS, undefined);

      const fq = await run("findscu", [
        "-aet",
        "VIEWER",
        "-aec",
        "MINIPACS",
        "-S",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        "PatientID=AUDIT*",
        "127.0.0.1",
        port,
      ]);
      assert.equal(fq.code, 0, fq.stderr);
      const query = await waitForLine(path, (l) => l.EventID === "Query");
      assert.equal(query.UserID, "VIEWER");
      assert.deepEqual(query.QueryKeys, { QueryRetrieveLevel: "STUDY", PatientID: "AUDIT*" });
      assert.equal(query.NumberOfMatches, 1);

      const mv = await run("movescu", [
        "-aet",
        "VIEWER",
        "-aec",
        "MINIPACS",
        "-aem",
        "DEST",
        "-S",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        `StudyInstanceUID=${study}`,
        "127.0.0.1",
        port,
      ]);
      assert.equal(mv.code, 0, mv.stderr);
      const moved = await waitForLine(path, (l) => l.EventTypeCode === "C-MOVE");
      assert.equal(moved.EventID, "DICOM Instances Transferred");
      assert.equal(moved.EventActionCode, "R");
      assert.equal(moved.UserID, "VIEWER");
      assert.equal(moved.DestinationUserID, "DEST");
      assert.equal(moved.NumberOfInstances, 1);
      assert.deepEqual(moved.QueryKeys, { QueryRetrieveLevel: "STUDY", StudyInstanceUID: study });

      const rj = await run("echoscu", ["-aet", "INTRUDER", "-aec", "WRONG", "127.0.0.1", port]);
      assert.notEqual(rj.code, 0);
      const rejected = await waitForLine(
        path,
        (l) => l.EventID === "Association" && l.UserID === "INTRUDER",
      );
      assert.equal(rejected.EventOutcomeIndicator, 4);
      assert.match(String(rejected.EventOutcomeDescription), /called AE title "WRONG"/);

      const web = `http://127.0.0.1:${pacs.httpPort}`;
      const bad = await run("curl", [
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-u",
        "admin:wrong",
        `${web}/`,
      ]);
      assert.equal(bad.stdout, "401");
      const login = await waitForLine(path, (l) => l.EventID === "User Authentication");
      assert.equal(login.EventTypeCode, "Login");
      assert.equal(login.EventOutcomeIndicator, 4);
      assert.equal(login.UserID, "admin");
      assert.match(String(login.NetworkAccessPointID), /^127\.0\.0\.1/);

      // The dashboard lists the latest records, without patient data.
      const page = await run("curl", ["-s", "-u", "admin:right", `${web}/`]);
      assert.match(page.stdout, /id="audit"/);
      assert.match(page.stdout, /User Authentication \(Login\)/);
      assert.match(page.stdout, /DICOM Instances Transferred \(C-MOVE\)/);
      assert.doesNotMatch(page.stdout, /AUDIT01/);
    } finally {
      await pacs.cleanup();
      try {
        scp.kill("SIGTERM");
      } catch { /* gone */ }
      await scp.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "audit: kill -9 loses no line older than a second; a restart appends after them",
  ignore: !ready,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-audit-" });
    const path = `${dir}/audit.log`;
    const extraToml = `[audit]\npath = ${JSON.stringify(path)}`;
    const first = await startMiniPacs({ extraToml });
    let pacs = first;
    try {
      const files: string[] = [];
      for (let i = 0; i < 20; i++) {
        files.push((await makeObject({ spec: CORPUS_CLASSES[0], dir })).path);
      }
      const st = await run("storescu", [
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        String(pacs.port),
        ...files,
      ]);
      assert.equal(st.code, 0, st.stderr);
      await new Promise((r) => setTimeout(r, 1100));
      await pacs.stop("SIGKILL");
      const lines = await auditLines(path);
      assert.equal(lines.filter((l) => l.EventTypeCode === "C-STORE").length, 20);

      pacs = await startMiniPacs({ extraToml, storagePath: pacs.storage });
      const again = await run("echoscu", [
        "-aet",
        "AFTER",
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        String(pacs.port),
      ]);
      assert.equal(again.code, 0);
      await waitForLine(path, (l) => l.UserID === "AFTER");
      const after = await auditLines(path);
      assert.equal(after.filter((l) => l.EventTypeCode === "C-STORE").length, 20);
      assert.ok(after.some((l) => l.EventTypeCode === "Application Start"));
    } finally {
      await pacs.cleanup();
      await first.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
