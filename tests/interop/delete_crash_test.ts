// Deletes cut short by kill -9, again and again: after each restart every index row has its
// file and every file its row, counts agree with the rows, an acknowledged delete stayed done,
// and a study whose delete was cut short is either whole or gone.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { CORPUS_CLASSES, makeObject, newUid } from "../helpers/corpus.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";

const dcmtk = ["storescu", "dump2dcm"].every(hasTool);
const CT = CORPUS_CLASSES.find((c) => c.modality === "CT")!;
const PER_STUDY = 4;
const ROUNDS = 5;

async function makeStudy(dir: string): Promise<{ uid: string; files: string[] }> {
  const uid = newUid();
  const series = newUid();
  const files: string[] = [];
  for (let i = 0; i < PER_STUDY; i++) {
    files.push(
      (await makeObject({ spec: CT, dir, studyInstanceUid: uid, seriesInstanceUid: series })).path,
    );
  }
  return { uid, files };
}

async function filesUnder(root: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(rel ? `${root}/${rel}` : root)) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (!rel && (e.name === "journal" || e.name === "tmp")) continue;
    if (e.isDirectory) out.push(...await filesUnder(root, path));
    else if (e.name.endsWith(".dcm")) out.push(path);
  }
  return out;
}

/** The invariants, read from a stopped server's storage; returns instances per study. */
async function checkConsistent(storage: string): Promise<Map<string, number>> {
  const db = new DatabaseSync(`${storage}/index.sqlite`, { readOnly: true });
  try {
    const rows = db.prepare(
      `SELECT st.study_instance_uid AS study, i.loc_kind AS kind, i.loc_path AS path,
        i.loc_offset AS offset, i.loc_length AS length, i.home_path AS home
       FROM instance i JOIN series se ON se.pk = i.series_pk JOIN study st ON st.pk = se.study_pk`,
    ).all() as Record<string, string | number>[];
    const homes = new Set<string>();
    const perStudy = new Map<string, number>();
    for (const r of rows) {
      perStudy.set(String(r.study), (perStudy.get(String(r.study)) ?? 0) + 1);
      const size = (await Deno.stat(`${storage}/${r.path}`)).size; // throws: a row without file
      if (r.kind === "home") assert.equal(size, Number(r.length), `${r.path} has its length`);
      else assert.ok(size >= Number(r.offset) + Number(r.length), `${r.path} holds the record`);
      homes.add(String(r.home));
    }
    for (const f of await filesUnder(storage)) {
      assert.ok(homes.has(f), `${f} on disk has an index row`);
    }
    const counts = db.prepare(
      `SELECT st.study_instance_uid AS study, st.num_instances AS n, st.num_series AS s,
        (SELECT count(*) FROM series se WHERE se.study_pk = st.pk) AS series
       FROM study st`,
    ).all() as Record<string, string | number>[];
    for (const c of counts) {
      assert.equal(Number(c.n), perStudy.get(String(c.study)) ?? 0, `${c.study} count`);
      assert.equal(Number(c.s), Number(c.series), `${c.study} series count`);
    }
    return perStudy;
  } finally {
    db.close();
  }
}

Deno.test({
  name: "delete under repeated kill -9: never a row without its file or a file without its row",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-delete-crash-" });
    const storage = `${dir}/data`;
    const studies: { uid: string; files: string[] }[] = [];
    const acknowledged = new Set<string>();
    const asked = new Set<string>();
    let pacs: MiniPacs | undefined;
    try {
      for (let i = 0; i < ROUNDS * 3; i++) studies.push(await makeStudy(dir));
      const start = () =>
        startMiniPacs({
          storagePath: storage,
          http: { enabled: true, bind: "127.0.0.1", port: 0 },
        });
      pacs = await start();
      const first = studies.slice(0, ROUNDS * 2).flatMap((s) => s.files);
      const r = await run("storescu", [
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        String(pacs.port),
        ...first,
      ]);
      assert.equal(r.code, 0, r.stderr);
      for (let round = 0; round < ROUNDS; round++) {
        if (round > 0) pacs = await start();
        const base = `http://127.0.0.1:${pacs.httpPort}`;
        // A study that has just arrived (still in the journal) and two stored earlier.
        const fresh = studies[ROUNDS * 2 + round];
        const s = await run("storescu", [
          "-aec",
          "MINIPACS",
          "127.0.0.1",
          String(pacs.port),
          ...fresh.files,
        ]);
        assert.equal(s.code, 0, s.stderr);
        const targets = [fresh, studies[2 * round], studies[2 * round + 1]];
        for (const t of targets) asked.add(t.uid);
        // One after the other, until the kill comes at a random moment.
        const requests = (async () => {
          for (const t of targets) {
            const rsp = await fetch(`${base}/api/studies/${t.uid}`, { method: "DELETE" });
            await rsp.body?.cancel();
            if (rsp.status === 200) acknowledged.add(t.uid);
          }
        })().catch(() => {});
        await new Promise((res) => setTimeout(res, 5 + Math.floor(Math.random() * 300)));
        await pacs.stop("SIGKILL");
        await requests;
        await pacs.cleanup();
      }
      // A last start runs recovery; a clean stop drains the journal. Then the invariants.
      pacs = await start();
      const code = await pacs.stop();
      assert.equal(code, 0, pacs.logs().slice(-3000));
      const perStudy = await checkConsistent(storage);
      for (const s of studies) {
        const n = perStudy.get(s.uid) ?? 0;
        if (acknowledged.has(s.uid)) assert.equal(n, 0, `acknowledged delete of ${s.uid} holds`);
        else if (asked.has(s.uid)) assert.ok(n === 0 || n === PER_STUDY, `${s.uid}: ${n} left`);
        else assert.equal(n, PER_STUDY, `${s.uid} untouched`);
      }
      const gone = studies.filter((s) => !perStudy.has(s.uid)).length;
      console.log(
        `delete crash: ${asked.size} deletes asked, ${acknowledged.size} acknowledged before ` +
          `kill -9, ${gone} studies gone`,
      );
    } finally {
      await pacs?.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
