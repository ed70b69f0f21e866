// `minipacs delete` and `minipacs send`: through the running server's API; delete offline when
// no server runs, refused when one runs whose API cannot be reached.
import assert from "node:assert/strict";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid } from "../helpers/corpus.ts";
import { datasetOf, readPart10Dir } from "../helpers/part10_files.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";
import { minipacs, startStoreScp, type StoreScp } from "./cli.ts";

const dcmtk = ["storescu", "storescp", "dump2dcm"].every(hasTool);
const CT = CORPUS_CLASSES.find((c) => c.modality === "CT")!;

async function studyUids(port: number): Promise<string[]> {
  const r = await minipacs(["find", `MINIPACS@127.0.0.1:${port}`, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).map((m: { StudyInstanceUID: string }) => m.StudyInstanceUID).sort();
}

Deno.test({
  name: "delete and send through the API; offline delete; refused while a server runs unreachable",
  ignore: !dcmtk,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-delete-cli-" });
    let pacs: MiniPacs | undefined;
    let scp: StoreScp | undefined;
    try {
      const studies = [newUid(), newUid(), newUid()];
      const objects: CorpusObject[] = [];
      for (const s of studies) {
        for (let i = 0; i < 2; i++) {
          objects.push(await makeObject({ spec: CT, dir, studyInstanceUid: s }));
        }
      }
      scp = await startStoreScp("STORESCP");
      const auditPath = `${dir}/audit.jsonl`;
      const known =
        `[[known_ae]]\nae_title = "STORESCP"\nhost = "127.0.0.1"\nport = ${scp.port}\n` +
        `[audit]\npath = ${JSON.stringify(auditPath)}\n`;
      pacs = await startMiniPacs({
        http: { enabled: true, bind: "127.0.0.1", port: 0 },
        extraToml: known,
      });
      const stored = await run("storescu", [
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        String(pacs.port),
        ...objects.map((o) => o.path),
      ]);
      assert.equal(stored.code, 0, stored.stderr);
      const url = `http://127.0.0.1:${pacs.httpPort}`;
      const config = `${pacs.dir}/config.toml`;

      await t.step("send --study --to: the running server sends it", async () => {
        const r = await minipacs(["send", "--study", studies[0], "--to", "STORESCP", "--url", url]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(r.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/)), [
          ["Completed", "Failed", "Warning", "Total"],
          ["2", "0", "0", "2"],
        ]);
        assert.match(r.stderr, /send study [\d.]+ to STORESCP: completed 2, failed 0, warning 0/);
        const got = await readPart10Dir(scp!.dir);
        for (const o of objects.slice(0, 2)) {
          assert.deepEqual(got.get(o.sopInstanceUid)?.dataset, await datasetOf(o.path));
        }
        const bad = await minipacs([
          "send",
          "--study",
          studies[0],
          "--to",
          "NOWHERE",
          "--url",
          url,
        ]);
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /HTTP 400 "NOWHERE" is not a \[\[known_ae\]\]/);
      });

      await t.step("delete --study through the API", async () => {
        const r = await minipacs(["delete", "--study", studies[0], "--url", url]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^deleted study ${studies[0]}: 2 instance\\(s\\), `));
        assert.deepEqual(await studyUids(pacs!.port), [studies[1], studies[2]].sort());
        const again = await minipacs(["delete", "--study", studies[0], "--url", url, "--json"]);
        assert.equal(again.code, 1);
        assert.match(again.stderr, /HTTP 404 no such study/);
      });

      await t.step(
        "a server running with its API out of reach: refused, nothing deleted",
        async () => {
          // The configuration file says http enabled on port 0: nothing answers there.
          const r = await minipacs([
            "delete",
            "--study",
            studies[1],
            "--config",
            config,
            "--url",
            "http://127.0.0.1:1",
          ]);
          assert.equal(r.code, 1);
          assert.match(r.stderr, /a server is running on .* nothing deleted/);
          assert.deepEqual(await studyUids(pacs!.port), [studies[1], studies[2]].sort());
        },
      );

      await t.step("no server running: deleted offline, gone after the next start", async () => {
        assert.equal(await pacs!.stop(), 0);
        const r = await minipacs([
          "delete",
          "--series",
          objects[2].seriesInstanceUid,
          "--config",
          config,
          "--url",
          "http://127.0.0.1:1",
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /deleted series .*: 1 instance\(s\), .*\(offline, in /);
        // Each send and delete left its audit line: by the API's user, or the command line's.
        const audit = (await Deno.readTextFile(auditPath)).trim().split("\n").map((l) =>
          JSON.parse(l)
        ).filter((l) => l.EventID !== "Association" && l.EventID !== "Application Activity");
        const mine = audit.filter((l) =>
          l.EventID === "DICOM Study Deleted" ||
          (l.EventID === "DICOM Instances Transferred" && l.EventActionCode === "R")
        ).map((
          l,
        ) => [l.EventID, l.UserID.replace(/^.* \(command line\)$/, "CLI"), l.NumberOfInstances]);
        assert.deepEqual(mine, [
          ["DICOM Instances Transferred", "web", 2],
          ["DICOM Study Deleted", "web", 2],
          ["DICOM Study Deleted", "CLI", 1],
        ]);
        const restarted = await startMiniPacs({ storagePath: pacs!.storage, extraToml: known });
        try {
          const left = await minipacs([
            "find",
            `MINIPACS@127.0.0.1:${restarted.port}`,
            "--level",
            "IMAGE",
            "-k",
            `StudyInstanceUID=${studies[1]}`,
            "-k",
            `SeriesInstanceUID=${objects[3].seriesInstanceUid}`,
            "--json",
          ]);
          assert.equal(JSON.parse(left.stdout).length, 1);
          assert.deepEqual(await studyUids(restarted.port), [studies[1], studies[2]].sort());
        } finally {
          await restarted.cleanup();
        }
      });
    } finally {
      await pacs?.cleanup();
      await scp?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
