// The log a sysadmin reads: one info line per stored object (who sent what, filed where, with
// what status) without patient data unless log.phi says so; numbers in JSON lines are numbers;
// every association still open at shutdown is named when it is aborted.
import assert from "node:assert/strict";
import { CORPUS_CLASSES, makeObject } from "../helpers/corpus.ts";
import { openAssociation } from "../helpers/scu.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";

const dcmtk = ["storescu", "dump2dcm"].every(hasTool);
const CT = CORPUS_CLASSES.find((c) => c.modality === "CT")!;

Deno.test({
  name: "one info line per stored object; patient data only with log.phi; JSON numbers",
  ignore: !dcmtk,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-store-log-" });
    let pacs: MiniPacs | undefined;
    try {
      const o = await makeObject({
        spec: CT,
        dir,
        patientName: "Secret^Patient",
        patientId: "PID777",
      });
      await t.step("text: AE, SOP Class name, SOP Instance UID, Study UID, status", async () => {
        pacs = await startMiniPacs();
        const r = await run("storescu", [
          "-aet",
          "MODALITY1",
          "-aec",
          "MINIPACS",
          "127.0.0.1",
          String(pacs.port),
          o.path,
        ]);
        assert.equal(r.code, 0, r.stderr);
        const line = await pacs.waitForLog(/ INFO +stored /);
        assert.match(line, /peer=MODALITY1@127\.0\.0\.1:\d+/);
        assert.match(line, /sop_class="CT Image Storage"/);
        assert.match(line, new RegExp(`sop_instance=${o.sopInstanceUid.replaceAll(".", "\\.")}`));
        assert.match(line, new RegExp(`study=${o.studyInstanceUid.replaceAll(".", "\\.")}`));
        assert.match(line, /status=0x0000/);
        assert.doesNotMatch(pacs.logs(), /Secret|PID777/);
        await pacs.cleanup();
      });

      await t.step(
        "JSON with log.phi = true: numbers are numbers, the patient is named",
        async () => {
          pacs = await startMiniPacs({ extraToml: 'format = "json"\nphi = true\n' });
          const r = await run("storescu", [
            "-aec",
            "MINIPACS",
            "127.0.0.1",
            String(pacs.port),
            o.path,
          ]);
          assert.equal(r.code, 0, r.stderr);
          const entry = JSON.parse(await pacs.waitForLog(/"msg":"stored"/));
          assert.equal(entry.level, "info");
          assert.equal(entry.sop_instance, o.sopInstanceUid);
          assert.equal(entry.patient_name, "Secret^Patient");
          assert.equal(entry.patient_id, "PID777");
          assert.equal(typeof entry.bytes, "number");
          assert.equal(typeof entry.ms, "number");
          await pacs.cleanup();
        },
      );

      await t.step("an association open at shutdown: its abort is logged", async () => {
        pacs = await startMiniPacs();
        const assoc = await openAssociation(pacs.port, { calling: "LINGERER" });
        try {
          assert.equal(await pacs.stop(), 0);
          assert.match(
            pacs.logs(),
            /association aborted at shutdown assoc=\d+ peer=LINGERER@127\.0\.0\.1/,
          );
        } finally {
          await assoc.abort().catch(() => {});
        }
      });
    } finally {
      await pacs?.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
