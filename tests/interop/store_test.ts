// DCMTK storescu pushes a generated corpus (18 storage classes, 8 transfer syntaxes); every
// object must come back bit for bit and be found in the index with the right attributes.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { inflateRawSync } from "node:zlib";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import {
  CORPUS_CLASSES,
  type CorpusObject,
  makeCorpus,
  makeObject,
  newUid,
  TS,
} from "../helpers/corpus.ts";
import { hasTool, run, startMiniPacs } from "../helpers/server.ts";

const dcmtk = hasTool("storescu") && hasTool("dump2dcm") && hasTool("dcmcjpeg");

/** storescu's option that proposes each transfer syntax first. */
const PROPOSE: Record<string, string> = {
  [TS.explicitLE]: "-xe",
  [TS.implicitLE]: "-xi",
  [TS.explicitBE]: "-xb",
  [TS.deflated]: "-xd",
  [TS.jpegBaseline]: "-xy",
  [TS.jpegLosslessSV1]: "-xs",
  [TS.jpegLsLossless]: "-xt",
  [TS.rle]: "-xr",
};

function dataset(bytes: Uint8Array): Uint8Array {
  return bytes.subarray(decodeFileMetaInformation(bytes).datasetOffset);
}

async function storescu(port: number, files: string[], extra: string[] = []) {
  return await run("storescu", [
    "-R",
    "-aet",
    "MODALITY",
    "-aec",
    "MINIPACS",
    ...extra,
    "127.0.0.1",
    String(port),
    ...files,
  ]);
}

function homePath(storage: string, o: CorpusObject): string {
  return `${storage}/${o.studyInstanceUid}/${o.seriesInstanceUid}/${o.sopInstanceUid}.dcm`;
}

Deno.test({
  name: "storescu sends every class and transfer syntax; each is stored bit for bit and indexed",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-corpus-" });
    const pacs = await startMiniPacs();
    try {
      const corpus = await makeCorpus(dir);
      assert.ok(new Set(corpus.map((c) => c.sopClassUid)).size >= 12);
      // storescu proposes one family of transfer syntaxes per run: one run per syntax.
      const bySyntax = Map.groupBy(corpus, (c) => c.transferSyntaxUid);
      for (const [ts, objects] of bySyntax) {
        const r = await storescu(pacs.port, objects.map((c) => c.path), [PROPOSE[ts]]);
        assert.equal(r.code, 0, `${ts}: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /Store Failed|Failed|unable to convert/i);
      }
      assert.equal(await pacs.stop(), 0, "clean stop");
      const db = new DatabaseSync(`${pacs.storage}/index.sqlite`, { readOnly: true });
      try {
        for (const o of corpus) {
          const sent = await Deno.readFile(o.path);
          const stored = await Deno.readFile(homePath(pacs.storage, o));
          const meta = decodeFileMetaInformation(stored).meta;
          assert.equal(meta.sopInstanceUid, o.sopInstanceUid);
          assert.equal(meta.sourceAeTitle, "MODALITY");
          assert.equal(meta.implementationClassUid, "1.2.276.0.7230010.3.0.3.6.4");
          assert.equal(
            meta.transferSyntaxUid,
            o.transferSyntaxUid,
            `${o.className}: stored in the syntax sent`,
          );
          if (o.transferSyntaxUid === TS.deflated) {
            // storescu re-deflates what it sends, so compare the inflated datasets.
            assert.deepEqual(
              inflateRawSync(dataset(stored)),
              inflateRawSync(dataset(sent)),
              `${o.className} deflated: inflated dataset bytes`,
            );
          } else {
            assert.deepEqual(
              dataset(stored),
              dataset(sent),
              `${o.className} in ${o.transferSyntaxUid}: dataset bytes`,
            );
          }
          const row = db.prepare(
            `SELECT i.sop_class_uid, i.transfer_syntax_uid, s.modality, st.study_instance_uid, st.study_date,
                    p.patient_id, p.patient_name, i.calling_ae
               FROM instance i JOIN series s ON s.pk = i.series_pk JOIN study st ON st.pk = s.study_pk
               JOIN patient p ON p.pk = st.patient_pk WHERE i.sop_instance_uid = ?`,
          ).get(o.sopInstanceUid) as Record<string, string> | undefined;
          assert.ok(row, `${o.className} is indexed`);
          assert.equal(row.sop_class_uid, o.sopClassUid);
          assert.equal(row.transfer_syntax_uid, o.transferSyntaxUid);
          assert.equal(row.modality, o.modality);
          assert.equal(row.study_instance_uid, o.studyInstanceUid);
          assert.equal(row.study_date, "20240315");
          assert.equal(row.patient_id, o.patientId);
          assert.equal(row.patient_name, o.patientName);
          assert.equal(row.calling_ae, "MODALITY");
        }
        const n = db.prepare("SELECT count(*) AS n FROM instance").get() as { n: number };
        assert.equal(n.n, corpus.length);
      } finally {
        db.close();
      }
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a SOP class outside a narrowed sop_classes is refused at negotiation",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir();
    const pacs = await startMiniPacs({ storage: { sop_classes: ["1.2.840.10008.5.1.4.1.1.2"] } });
    try {
      const ct = await makeObject({ spec: CORPUS_CLASSES[0], dir });
      const mr = await makeObject({ spec: CORPUS_CLASSES[1], dir });
      assert.equal((await storescu(pacs.port, [ct.path])).code, 0);
      const r = await storescu(pacs.port, [mr.path], ["-v"]);
      assert.notEqual(r.code, 0);
      assert.match(
        r.stdout + r.stderr,
        /No presentation context|no acceptable presentation context|not supported/i,
      );
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "min_free_mb above the free space: the store is refused with 0xA700 and nothing is written",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir();
    const pacs = await startMiniPacs({ storage: { min_free_mb: 1 << 30 } });
    try {
      const ct = await makeObject({ spec: CORPUS_CLASSES[0], dir });
      const r = await storescu(pacs.port, [ct.path], ["-v"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout + r.stderr, /Refused: OutOfResources/i);
      await pacs.waitForLog(/store failed: free space/);
      assert.equal(await pacs.stop(), 0);
      const db = new DatabaseSync(`${pacs.storage}/index.sqlite`, { readOnly: true });
      assert.equal((db.prepare("SELECT count(*) AS n FROM instance").get() as { n: number }).n, 0);
      db.close();
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

for (const policy of ["overwrite", "ignore", "reject"] as const) {
  Deno.test({
    name: `duplicates = "${policy}": a second object with the same SOP Instance UID`,
    ignore: !dcmtk,
    async fn() {
      const dir = await Deno.makeTempDir();
      const pacs = await startMiniPacs({ storage: { duplicates: policy } });
      try {
        const sop = newUid();
        const first = await makeObject({
          spec: CORPUS_CLASSES[0],
          dir,
          sopInstanceUid: sop,
          patientName: "First^One",
        });
        await Deno.rename(first.path, `${dir}/first.dcm`);
        const second = await makeObject({
          spec: CORPUS_CLASSES[0],
          dir,
          sopInstanceUid: sop,
          studyInstanceUid: first.studyInstanceUid,
          seriesInstanceUid: first.seriesInstanceUid,
          patientName: "Second^Two",
        });
        assert.equal((await storescu(pacs.port, [`${dir}/first.dcm`])).code, 0);
        const r = await storescu(pacs.port, [second.path], ["-v"]);
        if (policy === "reject") {
          assert.match(r.stdout + r.stderr, /Received Store Response \((?!Success)/);
        } else assert.match(r.stdout + r.stderr, /Received Store Response \(Success\)/);
        assert.equal(await pacs.stop(), 0);
        const stored = await Deno.readFile(homePath(pacs.storage, first));
        const expected = await Deno.readFile(
          policy === "overwrite" ? second.path : `${dir}/first.dcm`,
        );
        assert.deepEqual(dataset(stored), dataset(expected));
        const db = new DatabaseSync(`${pacs.storage}/index.sqlite`, { readOnly: true });
        const row = db.prepare(
          "SELECT p.patient_name AS name, st.num_instances AS n FROM patient p JOIN study st ON st.patient_pk = p.pk",
        ).all().map((r) => ({ ...r }));
        db.close();
        assert.deepEqual(row, [{
          name: policy === "overwrite" ? "Second^Two" : "First^One",
          n: 1,
        }]);
      } finally {
        await pacs.cleanup();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "a hostile UID is refused (0xC000), and nothing lands outside the storage tree",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir();
    const pacs = await startMiniPacs();
    try {
      const o = await makeObject({
        spec: CORPUS_CLASSES[3],
        dir,
        studyInstanceUid: "../../escaped",
        seriesInstanceUid: "1.2/../../x",
      });
      const r = await storescu(pacs.port, [o.path], ["-nh"]);
      assert.equal(r.code, 0, r.stderr);
      await pacs.waitForLog(/WARN .*store failed: invalid UID in Study Instance UID/);
      assert.equal(await pacs.stop(), 0);
      // Nothing appeared beside the storage folder or above it, and nothing was indexed.
      const outside = [...Deno.readDirSync(pacs.dir)].map((e) => e.name).sort();
      assert.deepEqual(outside.filter((n) => n !== "data" && n !== "config.toml"), []);
      const db = new DatabaseSync(`${pacs.storage}/index.sqlite`, { readOnly: true });
      const row = db.prepare("SELECT home_path FROM instance WHERE sop_instance_uid = ?").get(
        o.sopInstanceUid,
      );
      db.close();
      assert.equal(row, undefined);
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
