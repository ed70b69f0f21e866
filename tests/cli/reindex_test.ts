// `minipacs reindex`: the rebuilt index equals the one the server kept, and the storage lock
// keeps a reindex or a second server away from a running server's storage.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { makeCorpus } from "../helpers/corpus.ts";
import { hasTool, startMiniPacs } from "../helpers/server.ts";
import { minipacs } from "./cli.ts";

const dcmtk = hasTool("dump2dcm") && hasTool("dcmcjpeg");

/**
 * Every row of the four levels (and the per-series SOP class counts), with internal keys
 * replaced by the UIDs they stand for. Left out: row ids and the commit order `seq`, which
 * a rebuild numbers afresh.
 */
function snapshot(path: string): Record<string, unknown[]> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const all = (sql: string) => db.prepare(sql).all().map((r) => ({ ...r }));
    return {
      patient: all(`SELECT patient_key, patient_id, patient_name, patient_birth_date, patient_sex,
        other_patient_ids, num_studies, num_series, num_instances FROM patient
        ORDER BY patient_key`),
      study: all(`SELECT p.patient_key, st.study_instance_uid, st.study_date, st.study_time,
        st.accession_number, st.study_id, st.study_description, st.referring_physician_name,
        st.modalities_in_study, st.sop_classes_in_study, st.num_series, st.num_instances
        FROM study st JOIN patient p ON p.pk = st.patient_pk ORDER BY st.study_instance_uid`),
      series: all(`SELECT st.study_instance_uid, se.series_instance_uid, se.modality,
        se.series_number, se.series_description, se.body_part_examined, se.series_date,
        se.series_time, se.num_instances FROM series se JOIN study st ON st.pk = se.study_pk
        ORDER BY se.series_instance_uid`),
      series_sop_class: all(`SELECT se.series_instance_uid, c.sop_class_uid, c.n
        FROM series_sop_class c JOIN series se ON se.pk = c.series_pk
        ORDER BY se.series_instance_uid, c.sop_class_uid`),
      instance: all(`SELECT se.series_instance_uid, i.sop_instance_uid, i.sop_class_uid,
        i.instance_number, i.transfer_syntax_uid, i.specific_character_set, i.loc_kind,
        i.loc_path, i.loc_offset, i.loc_length, i.home_path, i.size, i.received_at,
        i.calling_ae FROM instance i JOIN series se ON se.pk = i.series_pk
        ORDER BY i.sop_instance_uid`),
    };
  } finally {
    db.close();
  }
}

Deno.test({
  name: "reindex rebuilds an index equal to the one it replaces",
  ignore: !dcmtk,
  async fn() {
    const src = await Deno.makeTempDir({ prefix: "minipacs-reindex-src-" });
    const pacs = await startMiniPacs();
    try {
      const corpus = await makeCorpus(src);
      const sent = await minipacs([
        "store",
        `MINIPACS@127.0.0.1:${pacs.port}`,
        src,
        "--aet",
        "CT7",
      ]);
      assert.equal(sent.code, 0, sent.stderr);
      assert.equal(await pacs.stop(), 0);
      const index = `${pacs.storage}/index.sqlite`;
      const before = snapshot(index);
      assert.equal(before.instance.length, corpus.length);
      await Deno.writeTextFile(`${pacs.storage}/stray.txt`, "left by someone\n");
      // Damage the old index: the rebuilt one must come from the files alone.
      const db = new DatabaseSync(index);
      db.exec("DELETE FROM instance; UPDATE patient SET patient_name = 'WRONG'");
      db.close();
      assert.notDeepEqual(snapshot(index), before);

      const r = await minipacs(["reindex", "--config", `${pacs.dir}/config.toml`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(
          `^reindex done in \\d+\\.\\d s: ${corpus.length} objects indexed, 1 files skipped`,
        ),
      );
      assert.match(r.stdout, /skipped stray\.txt: not a \.dcm file/);
      assert.deepEqual(snapshot(index), before);
    } finally {
      await pacs.cleanup();
      await Deno.remove(src, { recursive: true });
    }
  },
});

Deno.test("reindex and a second server are refused while a server holds the storage", async () => {
  const pacs = await startMiniPacs();
  try {
    const config = `${pacs.dir}/config.toml`;
    const r = await minipacs(["reindex", "--config", config]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `storage .*/data is in use by another MiniPACS process \\(pid ${pacs.child.pid}\\)`,
      ),
    );
    const second = await minipacs(["serve", "--config", config]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /server failed to start .*is in use by another MiniPACS process/);
    assert.equal(await pacs.stop(), 0);
    // Once the server has stopped, the lock is free again. 1001 broken files: progress shows.
    for (let i = 0; i < 1001; i++) await Deno.writeTextFile(`${pacs.storage}/x${i}.dcm`, "x");
    const after = await minipacs(["reindex", "--config", config]);
    assert.equal(after.code, 0, after.stderr);
    assert.match(after.stderr, /^ {2}1000 files scanned, 0 objects indexed$/m);
    assert.match(after.stdout, /0 objects indexed, 1001 files skipped/);
    assert.match(after.stdout, /skipped x0\.dcm: too short for a DICOM Part 10 file/);
    assert.match(after.stdout, /\.\.\. and 951 more$/m);
  } finally {
    await pacs.cleanup();
  }
});

Deno.test("the storage lock dies with a killed server: a restart needs no cleanup", async () => {
  const pacs = await startMiniPacs();
  try {
    assert.notEqual(await pacs.stop("SIGKILL"), 0);
    const again = await startMiniPacs({ storagePath: pacs.storage });
    try {
      const r = await minipacs(["echo", `MINIPACS@127.0.0.1:${again.port}`]);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await again.cleanup();
    }
  } finally {
    await pacs.cleanup();
  }
});

Deno.test("reindex names a missing storage folder and exits 1", async () => {
  const r = await minipacs(["reindex", "--storage", "/nonexistent/minipacs-data"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /storage \/nonexistent\/minipacs-data: no such folder/);
});
