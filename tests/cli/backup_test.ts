// `minipacs backup` while storescu is storing, then `restore` into a new folder and a server
// started on it: every object acknowledged before the backup began is there and intact.
import assert from "node:assert/strict";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid } from "../helpers/corpus.ts";
import { datasetOf, readPart10Dir } from "../helpers/part10_files.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";
import { minipacs } from "./cli.ts";

const dcmtk = ["storescu", "dump2dcm"].every(hasTool);
const CT = CORPUS_CLASSES.find((c) => c.modality === "CT")!;
const N = 60;

Deno.test({
  name:
    "backup while storing; restore; a server on the restored folder has every acknowledged object",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-backup-" });
    let pacs: MiniPacs | undefined;
    let restored: MiniPacs | undefined;
    let storing: Promise<void> | undefined;
    let stop = false;
    try {
      const study = newUid();
      const series = newUid();
      const objects: CorpusObject[] = [];
      for (let i = 0; i < N; i++) {
        objects.push(
          await makeObject({ spec: CT, dir, studyInstanceUid: study, seriesInstanceUid: series }),
        );
      }
      pacs = await startMiniPacs();
      const port = pacs.port;
      // One association per object, one after the other: an exit 0 is an acknowledgement.
      const acknowledged: CorpusObject[] = [];
      storing = (async () => {
        for (const o of objects) {
          if (stop) return;
          const r = await run("storescu", ["-aec", "MINIPACS", "127.0.0.1", String(port), o.path]);
          if (r.code === 0) acknowledged.push(o);
        }
      })();
      // Bounded wait (a loaded machine is slow) for some of them.
      const waitFor = async (done: () => boolean) => {
        const deadline = Date.now() + 60_000;
        while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      };
      await waitFor(() => acknowledged.length >= 8);
      const before = [...acknowledged];
      assert.ok(before.length >= 8 && before.length < N, `${before.length} stored so far`);
      const dest = `${dir}/backup`;
      const b = await minipacs(["backup", dest, "--storage", pacs.storage]);
      assert.equal(b.code, 0, b.stderr);
      assert.match(b.stdout, new RegExp(`^backup of .* in ${dest}: \\d+ objects, `));
      const backedUp = Number(/: (\d+) objects/.exec(b.stdout)?.[1]);
      assert.ok(backedUp >= before.length, `${backedUp} >= ${before.length}`);
      // Storing goes on after the snapshot (bounded wait), then stops.
      await waitFor(() => acknowledged.length > backedUp);
      stop = true;
      await storing;
      assert.ok(acknowledged.length > backedUp, "stores went on after the snapshot");
      await pacs.stop();

      // An existing backup is never overwritten.
      const again = await minipacs(["backup", dest, "--storage", pacs.storage]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /is not empty/);

      const target = `${dir}/restored`;
      const r = await minipacs(["restore", dest, "--storage", target]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(`restored .* into ${target}: ${backedUp} objects, .*every one read back`),
      );
      const twice = await minipacs(["restore", dest, "--storage", target]);
      assert.equal(twice.code, 1);
      assert.match(twice.stderr, /is not empty/);

      restored = await startMiniPacs({ storagePath: target });
      const out = `${dir}/got`;
      const g = await minipacs([
        "get",
        `MINIPACS@127.0.0.1:${restored.port}`,
        "-k",
        `StudyInstanceUID=${study}`,
        "--out",
        out,
        "--json",
      ]);
      assert.equal(g.code, 0, g.stderr);
      assert.equal(JSON.parse(g.stdout).completed, backedUp);
      const got = await readPart10Dir(out);
      for (const o of before) {
        const f = got.get(o.sopInstanceUid);
        assert.ok(f, `${o.sopInstanceUid} acknowledged before the backup is in it`);
        assert.deepEqual(f.dataset, await datasetOf(o.path));
      }
    } finally {
      stop = true;
      await storing;
      await pacs?.cleanup();
      await restored?.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
