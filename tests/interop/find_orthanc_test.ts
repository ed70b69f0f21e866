// Differential test: the same findscu queries against MiniPACS and Orthanc (Debian's
// /usr/sbin/Orthanc), both loaded with the same corpus. MiniPACS must return the standard's
// UID set every time; Orthanc must agree except where a case records why it differs (and
// that MiniPACS is the one following PS3.4 there). The differences are printed.
import assert from "node:assert/strict";
import { Status } from "../../src/core/dimse/status.ts";
import { allowFind, type Peer, startOrthanc } from "../helpers/peers.ts";
import { hasTool, startMiniPacs } from "../helpers/server.ts";
import { FIND_CASES, makeFindCorpus, runCase, storeFiles } from "./find_corpus.ts";

const ORTHANC = "/usr/sbin/Orthanc";

function orthancInstalled(): boolean {
  try {
    return Deno.statSync(ORTHANC).isFile;
  } catch {
    console.log(`SKIP: ${ORTHANC} is not installed (apt-get install orthanc); ignored`);
    return false;
  }
}

const ready = hasTool("findscu") && hasTool("storescu") && orthancInstalled();

Deno.test({
  name: "MiniPACS and Orthanc return the same UID sets, except where Orthanc departs from PS3.4",
  ignore: !ready,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-find-orthanc-" });
    const pacs = await startMiniPacs();
    let orthanc: Peer | undefined;
    const differences: string[] = [];
    try {
      orthanc = await startOrthanc(ORTHANC);
      await allowFind(orthanc, "FINDTEST");
      const corpus = await makeFindCorpus(dir);
      const files = corpus.instances.map((i) => i.path);
      await storeFiles(pacs.port, "MINIPACS", files);
      await storeFiles(orthanc.port, orthanc.aeTitle, files);
      assert.equal(await orthanc.count(), files.length);
      for (const fc of FIND_CASES) {
        await t.step(fc.name, async () => {
          const expected = fc.expect(corpus);
          const ours = await runCase(pacs.port, "MINIPACS", corpus, fc);
          assert.equal(ours.result.status, Status.Success, ours.result.errorComment);
          assert.deepEqual(ours.values, expected, "MiniPACS follows the standard");
          const theirs = await runCase(orthanc!.port, orthanc!.aeTitle, corpus, fc);
          const same = theirs.result.status === Status.Success &&
            JSON.stringify(theirs.values) === JSON.stringify(expected);
          if (same) return;
          const missing = expected.filter((v) => !theirs.values.includes(v)).map(corpus.label);
          const extra = theirs.values.filter((v) => !expected.includes(v)).map(corpus.label);
          const got = `Orthanc status 0x${theirs.result.status.toString(16)}, ` +
            `missing [${missing.join(" ")}], extra [${extra.join(" ")}]`;
          assert.ok(fc.orthanc, `${fc.name}: ${got}; no recorded reason, so one of us is wrong`);
          const verdict = fc.orthanc.standard === "both"
            ? "the standard allows both"
            : "MiniPACS follows the standard";
          differences.push(`${fc.name}: ${got}; ${verdict}: ${fc.orthanc.why}`);
        });
      }
    } finally {
      if (differences.length) {
        console.log(
          `Orthanc differs on ${differences.length} case(s):\n  ${differences.join("\n  ")}`,
        );
      }
      await orthanc?.stop();
      await orthanc?.cleanup();
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
