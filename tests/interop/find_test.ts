// DCMTK findscu against the real server, over a corpus it stored first: every matching type at
// every level checked against the exact UID sets, character sets, derived counts after an
// overwrite, C-CANCEL, the result limit and the failure statuses.
import assert from "node:assert/strict";
import {
  type DataElement,
  decodeDataset,
  encodeDataset,
  encodingOf,
  textElement,
} from "../../src/core/dicom/dataset.ts";
import { CommandField, DATASET_PRESENT } from "../../src/core/dimse/command.ts";
import { Status } from "../../src/core/dimse/status.ts";
import { hasTool, type MiniPacs, startMiniPacs } from "../helpers/server.ts";
import { openAssociation } from "../helpers/scu.ts";
import {
  FIND_CASES,
  type FindCorpus,
  findscu,
  makeFindCorpus,
  queryFile,
  runCase,
  storeFiles,
  TAG,
  valueOf,
  valuesOf,
} from "./find_corpus.ts";

const dcmtk = hasTool("findscu") && hasTool("storescu");

async function withCorpus(
  fn: (pacs: MiniPacs, corpus: FindCorpus) => Promise<void>,
  extraToml = "",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-find-" });
  const pacs = await startMiniPacs({ extraToml });
  try {
    const corpus = await makeFindCorpus(dir);
    await storeFiles(pacs.port, "MINIPACS", corpus.instances.map((i) => i.path));
    await fn(pacs, corpus);
  } finally {
    await pacs.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "findscu gets exactly the standard's matches for every matching type and level",
  ignore: !dcmtk,
  async fn(t) {
    await withCorpus(async (pacs, corpus) => {
      for (const fc of FIND_CASES) {
        await t.step(fc.name, async () => {
          const { result, values } = await runCase(pacs.port, "MINIPACS", corpus, fc);
          assert.equal(result.status, Status.Success, result.errorComment);
          assert.deepEqual(values, fc.expect(corpus));
          assert.ok(result.pending.every((s) => s === Status.Pending));
        });
      }
    });
  },
});

Deno.test({
  name: "every response carries Query/Retrieve Level, Retrieve AE Title and Specific Character Set",
  ignore: !dcmtk,
  async fn() {
    await withCorpus(async (pacs, corpus) => {
      const r = await findscu(pacs.port, "MINIPACS", "S", [
        "QueryRetrieveLevel=STUDY",
        "StudyInstanceUID",
        "PatientName",
        "InstitutionName",
        "NumberOfStudyRelatedInstances",
      ]);
      assert.equal(r.responses.length, 7);
      for (const rsp of r.responses) {
        assert.equal(valueOf(rsp, TAG.QueryRetrieveLevel), "STUDY");
        assert.equal(valueOf(rsp, TAG.RetrieveAETitle), "MINIPACS");
        assert.ok(valueOf(rsp, TAG.SpecificCharacterSet), "Specific Character Set filled");
        assert.equal(valueOf(rsp, 0x00080080), "", "a key the index does not hold: zero length");
      }
      const names = valuesOf(r, TAG.PatientName);
      assert.ok(names.includes("Müller^Jürgen"));
      assert.ok(names.includes("Yamada^Tarou=山田^太郎=やまだ^たろう"));
      const s1 = r.responses.find((x) => valueOf(x, TAG.StudyInstanceUID) === corpus.uid("s1"))!;
      assert.equal(valueOf(s1, TAG.NumberOfStudyRelatedInstances), "4");
    });
  },
});

Deno.test({
  name: "responses are in the query's character set when it holds the values, else ISO_IR 192",
  ignore: !dcmtk,
  async fn() {
    await withCorpus(async (pacs, corpus) => {
      const file = await queryFile(`${corpus.dir}/q.dcm`, "ISO_IR 100", [
        [TAG.QueryRetrieveLevel, "CS", "STUDY"],
        [TAG.StudyInstanceUID, "UI", ""],
        [TAG.PatientName, "PN", ""],
      ]);
      const r = await findscu(pacs.port, "MINIPACS", "S", [], { queryFile: file });
      const byStudy = new Map(r.responses.map((x) => [valueOf(x, TAG.StudyInstanceUID), x]));
      const muller = byStudy.get(corpus.uid("s4"))!;
      assert.equal(valueOf(muller, TAG.SpecificCharacterSet), "ISO_IR 100");
      const name = muller.find((e: DataElement) => e.tag === TAG.PatientName)!;
      assert.equal(name.value.length, 14, "Latin-1: one byte a character (13 + padding)");
      assert.equal(valueOf(muller, TAG.PatientName), "Müller^Jürgen");
      const yamada = byStudy.get(corpus.uid("s6"))!;
      assert.equal(valueOf(yamada, TAG.SpecificCharacterSet), "ISO_IR 192");
      assert.equal(valueOf(yamada, TAG.PatientName), "Yamada^Tarou=山田^太郎=やまだ^たろう");
      const soren = byStudy.get(corpus.uid("s5"))!;
      assert.equal(valueOf(soren, TAG.SpecificCharacterSet), "ISO_IR 100");
      assert.equal(valueOf(soren, TAG.PatientName), "Østergård^Søren");
    });
  },
});

Deno.test({
  name: "derived counts and Modalities in Study are right after an overwrite moves an instance",
  ignore: !dcmtk,
  async fn() {
    await withCorpus(async (pacs, corpus) => {
      // The SR of study s1 is sent again (same SOP Instance UID) as part of study s2, in a new
      // series (a series stays in its study: the same series under s2 would be refused).
      const sr = corpus.instances.find((i) => i.label === "s1sr-1")!;
      const bytes = await Deno.readFile(sr.path);
      const moved = bytes.slice();
      const text = new TextDecoder("latin1").decode(bytes);
      const newSeries = corpus.uid("s1sr").replace(".7433.3.", ".7433.4.");
      for (
        const [from, to] of [
          [corpus.uid("s1"), corpus.uid("s2")],
          [corpus.uid("s1sr"), newSeries],
        ]
      ) {
        // Same-length UIDs: swap them in place (study UIDs differ only in their last digit).
        assert.equal(from.length, to.length);
        let at = text.indexOf(from);
        while (at >= 0) {
          moved.set(new TextEncoder().encode(to), at);
          at = text.indexOf(from, at + 1);
        }
      }
      await Deno.writeFile(`${corpus.dir}/moved.dcm`, moved);
      await storeFiles(pacs.port, "MINIPACS", [`${corpus.dir}/moved.dcm`]);
      const r = await findscu(pacs.port, "MINIPACS", "S", [
        "QueryRetrieveLevel=STUDY",
        `StudyInstanceUID=${corpus.uid("s1")}\\${corpus.uid("s2")}`,
        "ModalitiesInStudy",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
        "NumberOfPatientRelatedInstances",
      ]);
      const got = Object.fromEntries(r.responses.map((x) => [
        valueOf(x, TAG.StudyInstanceUID),
        [
          valueOf(x, TAG.ModalitiesInStudy),
          valueOf(x, TAG.NumberOfStudyRelatedSeries),
          valueOf(x, TAG.NumberOfStudyRelatedInstances),
          valueOf(x, 0x00201204),
        ],
      ]));
      assert.deepEqual(got[corpus.uid("s1")], ["CT", "1", "3", "6"]);
      assert.deepEqual(got[corpus.uid("s2")], ["MR\\SR", "2", "3", "6"]);
      const series = await findscu(pacs.port, "MINIPACS", "S", [
        "QueryRetrieveLevel=SERIES",
        `StudyInstanceUID=${corpus.uid("s2")}`,
        `SeriesInstanceUID=${newSeries}`,
        "NumberOfSeriesRelatedInstances",
      ]);
      assert.deepEqual(valuesOf(series, TAG.NumberOfSeriesRelatedInstances), ["1"]);
    });
  },
});

Deno.test({
  name: "C-CANCEL stops the pending responses and the query ends with 0xFE00",
  ignore: !dcmtk,
  async fn() {
    await withCorpus(async (pacs, corpus) => {
      // 300 instances in one series: far more than are sent before the cancel arrives.
      const base = corpus.instances.find((i) => i.label === "s3ct-1")!;
      const bytes = await Deno.readFile(base.path);
      const text = new TextDecoder("latin1").decode(bytes);
      const at = text.indexOf(base.sopInstanceUid, 200);
      const files: string[] = [];
      for (let i = 0; i < 300; i++) {
        const copy = bytes.slice();
        const uid = `${base.sopInstanceUid.slice(0, -4)}${String(1000 + i)}`;
        assert.equal(uid.length, base.sopInstanceUid.length);
        copy.set(new TextEncoder().encode(uid), at);
        copy.set(new TextEncoder().encode(uid), text.indexOf(base.sopInstanceUid, at + 1));
        files.push(`${corpus.dir}/bulk-${i}.dcm`);
        await Deno.writeFile(files.at(-1)!, copy);
      }
      await storeFiles(pacs.port, "MINIPACS", files);
      const keys = [
        "QueryRetrieveLevel=IMAGE",
        `StudyInstanceUID=${corpus.uid("s3")}`,
        `SeriesInstanceUID=${corpus.uid("s3ct")}`,
        "SOPInstanceUID",
        "Rows",
      ];
      const all = await findscu(pacs.port, "MINIPACS", "S", keys);
      assert.equal(all.responses.length, 301);
      const r = await findscu(pacs.port, "MINIPACS", "S", keys, { cancelAfter: 3 });
      assert.equal(r.status, Status.Cancel);
      assert.ok(r.responses.length >= 3 && r.responses.length < 301, `${r.responses.length}`);
      await pacs.waitForLog(/find done .*status="0xFE00 cancel"/);
    });
  },
});

Deno.test({
  name: "hierarchical violations and a missing or foreign level fail; the association goes on",
  ignore: !dcmtk,
  async fn() {
    await withCorpus(async (pacs) => {
      const noStudy = await findscu(pacs.port, "MINIPACS", "S", [
        "QueryRetrieveLevel=SERIES",
        "SeriesInstanceUID",
      ]);
      assert.equal(noStudy.status, Status.IdentifierDoesNotMatchSopClass);
      assert.match(noStudy.errorComment, /Study Instance UID needs one value at SERIES level/);
      const noLevel = await findscu(pacs.port, "MINIPACS", "S", ["PatientName=Doe*"]);
      assert.equal(noLevel.status, Status.IdentifierDoesNotMatchSopClass);
      assert.match(noLevel.errorComment, /Query\/Retrieve Level/);
      const patient = await findscu(pacs.port, "MINIPACS", "S", [
        "QueryRetrieveLevel=PATIENT",
        "PatientID",
      ]);
      assert.equal(patient.status, Status.IdentifierDoesNotMatchSopClass);
      assert.match(patient.errorComment, /not in the STUDY Root model/);
      const badDate = await findscu(pacs.port, "MINIPACS", "S", [
        "QueryRetrieveLevel=STUDY",
        "StudyDate=2024-01-01",
      ]);
      assert.equal(badDate.status, Status.CannotUnderstand);

      // Our own requestor: two failures, then a good query on the same association.
      const assoc = await openAssociation(pacs.port, {
        contexts: [{ id: 1, abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [EXPLICIT_LE] }],
      });
      try {
        for (const level of ["", "FOO"]) {
          const rsp = await find(assoc, level ? [[TAG.QueryRetrieveLevel, "CS", level]] : []);
          assert.equal(rsp.final, Status.IdentifierDoesNotMatchSopClass);
        }
        const ok = await find(assoc, [
          [TAG.QueryRetrieveLevel, "CS", "STUDY"],
          [TAG.StudyInstanceUID, "UI", ""],
        ]);
        assert.equal(ok.final, Status.Success);
        assert.equal(ok.matches.length, 7);
      } finally {
        await assoc.release();
      }
    });
  },
});

Deno.test({
  name: "a key the index does not hold, given a value, is matched universally with 0xFF01",
  ignore: !dcmtk,
  async fn() {
    await withCorpus(async (pacs) => {
      const r = await findscu(pacs.port, "MINIPACS", "S", [
        "QueryRetrieveLevel=STUDY",
        "StudyInstanceUID",
        "InstitutionName=Nowhere",
      ]);
      assert.equal(r.status, Status.Success);
      assert.equal(r.responses.length, 7);
      assert.ok(r.pending.every((s) => s === Status.PendingWarning));
    });
  },
});

Deno.test({
  name: "[query] max_results: a broader query ends in 0xA700 saying it was too broad",
  ignore: !dcmtk,
  async fn() {
    await withCorpus(async (pacs) => {
      const broad = await findscu(pacs.port, "MINIPACS", "S", [
        "QueryRetrieveLevel=STUDY",
        "StudyInstanceUID",
      ]);
      assert.equal(broad.status, Status.RefusedOutOfResources);
      assert.match(broad.errorComment, /more than 3 matches: query too broad/);
      const narrow = await findscu(pacs.port, "MINIPACS", "S", [
        "QueryRetrieveLevel=STUDY",
        "StudyInstanceUID",
        "PatientName=Doe*",
      ]);
      assert.equal(narrow.status, Status.Success);
      assert.equal(narrow.responses.length, 3);
    }, "[query]\nmax_results = 3\n");
  },
});

Deno.test({
  name: "an Explicit VR Big Endian query with a binary key is matched and answered in kind",
  ignore: !dcmtk,
  async fn() {
    await withCorpus(async (pacs, corpus) => {
      const assoc = await openAssociation(pacs.port, {
        contexts: [{ id: 1, abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [EXPLICIT_BE] }],
      });
      try {
        const rsp = await find(assoc, [
          [TAG.QueryRetrieveLevel, "CS", "IMAGE"],
          [TAG.StudyInstanceUID, "UI", corpus.uid("s1")],
          [TAG.SeriesInstanceUID, "UI", corpus.uid("s1ct")],
          [TAG.SOPInstanceUID, "UI", ""],
          { tag: TAG.Rows, vr: "US", value: new Uint8Array([0x00, 0x02]) },
        ], EXPLICIT_BE);
        assert.equal(rsp.final, Status.Success);
        assert.equal(rsp.matches.length, 3);
        const rows = rsp.matches[0].find((e) => e.tag === TAG.Rows)!;
        assert.deepEqual([...rows.value], [0x00, 0x02], "512, back in little-endian order");
      } finally {
        await assoc.release();
      }
    });
  },
});

const STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1";
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const EXPLICIT_BE = "1.2.840.10008.1.2.2";

type Key = [number, string, string] | DataElement;

/** One C-FIND on our own requestor: the decoded matches and the final status. */
async function find(
  assoc: Awaited<ReturnType<typeof openAssociation>>,
  keys: Key[],
  ts = EXPLICIT_LE,
): Promise<{ matches: DataElement[][]; final: number }> {
  const elements = keys.map((k) => Array.isArray(k) ? textElement(k[0], k[1], k[2], "")! : k);
  const matches: DataElement[][] = [];
  const rsp = await assoc.requestWithPending(
    1,
    {
      commandField: CommandField.CFindRq,
      commandDataSetType: DATASET_PRESENT,
      affectedSopClassUid: STUDY_ROOT_FIND,
      priority: 0,
    },
    encodeDataset(elements, encodingOf(ts)),
    (p) => {
      if (p.dataset) matches.push(decodeDataset(p.dataset, encodingOf(ts)));
    },
  );
  return { matches, final: rsp.command.status ?? -1 };
}
