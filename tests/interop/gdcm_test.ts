// GDCM's gdcmscu (Debian libgdcm-tools) against MiniPACS: echo, store, find and move. gdcmscu
// 3.0 aborts (SIGABRT, exit 134) after every A-RELEASE, against DCMTK as well: that exit is
// tolerated and the results are checked on both sides instead. It asserts that a response
// with a dataset has Command Data Set Type 0x0001 (or 0x0101 without).
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { freePort } from "../helpers/peers.ts";
import { CORPUS_CLASSES, makeObject, newUid, TS } from "../helpers/corpus.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";

const gdcm = hasTool("gdcmscu");
if (!gdcm) console.log("SKIP: gdcmscu is missing (apt-get install libgdcm-tools)");
const ready = gdcm && ["dump2dcm", "dcmconv", "dcmcjpeg", "storescu"].every(hasTool);

/** gdcmscu's exit: 0, or the abort after the release it always ends in. */
function assertGdcmEnded(r: { code: number; stdout: string; stderr: string }): string {
  const out = r.stdout + r.stderr;
  assert.ok(r.code === 0 || r.code === 134, `gdcmscu exit ${r.code}:\n${out.slice(-3000)}`);
  assert.doesNotMatch(out, /Assertion .* failed/, "no assertion about what MiniPACS sent");
  return out;
}

Deno.test({
  name: "gdcmscu echoes, stores, finds and moves with MiniPACS",
  ignore: !ready,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-gdcm-" });
    const movePort = freePort();
    let pacs: MiniPacs | undefined;
    try {
      pacs = await startMiniPacs({
        extraToml: `[[known_ae]]\nae_title = "GDCMSCU"\nhost = "127.0.0.1"\nport = ${movePort}\n`,
      });
      const port = String(pacs.port);
      const patientId = `GDCM${newUid().slice(-6)}`;
      const study = newUid();
      const sc = CORPUS_CLASSES.find((c) => c.name === "Secondary Capture")!;
      // gdcmscu's storage SCP reads Implicit VR LE only (it accepts Explicit and misreads it):
      // the object it receives is stored Implicit; the JPEG one it takes no context for.
      const plain = await makeObject({ spec: sc, dir, studyInstanceUid: study, patientId });
      const implicitPath = plain.path.replace(/\.dcm$/, ".ile.dcm");
      assert.equal((await run("dcmconv", ["+ti", plain.path, implicitPath])).code, 0);
      const raw = await makeObject({ spec: sc, dir, studyInstanceUid: study, patientId });
      const jpegPath = raw.path.replace(/\.dcm$/, ".jpeg.dcm");
      assert.equal((await run("dcmcjpeg", ["+eb", "+un", raw.path, jpegPath])).code, 0);

      await t.step("C-ECHO", async () => {
        const r = await run("gdcmscu", ["--echo", "--call", "MINIPACS", "127.0.0.1", port]);
        assertGdcmEnded(r);
        await pacs!.waitForLog(/association released .*peer=GDCMSCU@/);
      });

      await t.step("C-STORE: the object is stored as sent", async () => {
        const r = await run("gdcmscu", [
          "--store",
          "--call",
          "MINIPACS",
          "127.0.0.1",
          port,
          "-i",
          implicitPath,
        ]);
        assertGdcmEnded(r);
        await pacs!.waitForLog(
          /stored .*peer=GDCMSCU@.* sop_class="Secondary Capture Image Storage"/,
        );
        const jpeg = await run("storescu", [
          "-xy",
          "-aec",
          "MINIPACS",
          "127.0.0.1",
          port,
          jpegPath,
        ]);
        assert.equal(jpeg.code, 0, jpeg.stderr);
      });

      await t.step(
        "C-FIND: one Pending with Command Data Set Type 0x0001, then success",
        async () => {
          const r = await run("gdcmscu", [
            "-D",
            "--find",
            "--patientroot",
            "--patient",
            "--call",
            "MINIPACS",
            "127.0.0.1",
            port,
            "--key",
            `10,20=${patientId}`,
            "--key",
            "10,10=",
          ]);
          const out = assertGdcmEnded(r);
          const types = [...out.matchAll(/\(0000,0800\) \?\? \(US\) (\d+)/g)].map((m) => m[1]);
          const statuses = [...out.matchAll(/\(0000,0900\) \?\? \(US\) (\d+)/g)].map((m) => m[1]);
          // gdcmscu prints each response command twice.
          assert.deepEqual([...new Set(statuses)], ["65280", "0"], out.slice(-3000));
          assert.deepEqual([...new Set(types)], ["1", "257"]);
          await pacs!.waitForLog(/find done .*peer=GDCMSCU@.*matches=1 status="0x0000/);
        },
      );

      await t.step(
        "C-MOVE of the patient to gdcmscu: both received in Implicit VR LE, the JPEG one decoded",
        async () => {
          const out = `${dir}/received`;
          await Deno.mkdir(out);
          const r = await run("gdcmscu", [
            "--move",
            "--patientroot",
            "--patient",
            "--key",
            `10,20=${patientId}`,
            "--aetitle",
            "GDCMSCU",
            "--port-scp",
            String(movePort),
            "-o",
            out,
            "--call",
            "MINIPACS",
            "127.0.0.1",
            port,
          ]);
          // It may end 1 (it aborts after every release): what matters is that it did not assert.
          const text = r.stdout + r.stderr;
          assert.ok([0, 1, 134].includes(r.code), `gdcmscu exit ${r.code}:\n${text.slice(-3000)}`);
          assert.doesNotMatch(text, /Assertion .* failed/, "Command Data Set Type accepted");
          await pacs!.waitForLog(
            /move done .*destination=GDCMSCU .*level=PATIENT instances=2 completed=2 failed=0/,
          );
          const files = await Array.fromAsync(Deno.readDir(out));
          assert.equal(files.length, 2);
          for (const f of files) {
            const { meta } = decodeFileMetaInformation(await Deno.readFile(`${out}/${f.name}`));
            assert.equal(meta.transferSyntaxUid, TS.implicitLE, meta.sopInstanceUid);
          }
        },
      );
      assert.equal(await pacs.stop(), 0);
      const db = new DatabaseSync(`${pacs.storage}/index.sqlite`, { readOnly: true });
      try {
        const row = db.prepare(
          "SELECT calling_ae AS ae FROM instance WHERE sop_instance_uid = ?",
        ).get(plain.sopInstanceUid) as { ae: string } | undefined;
        assert.equal(row?.ae, "GDCMSCU");
      } finally {
        db.close();
      }
    } finally {
      await pacs?.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
