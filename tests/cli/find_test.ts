// `minipacs find`: against our own server and against DCMTK dcmqrscp, a peer we did not write;
// C-CANCEL on Ctrl-C and a silent peer against a scripted SCP.
import assert from "node:assert/strict";
import { buildRequest, formatTable, identifierElements, lookupKey } from "../../src/cli/find.ts";
import { encodeDataset, encodingOf, textElement } from "../../src/core/dicom/dataset.ts";
import { CommandField, DATASET_PRESENT, NO_DATASET } from "../../src/core/dimse/command.ts";
import { QR_SOP_CLASSES } from "../../src/core/query/keys.ts";
import type {
  DimseRequest,
  DimseService,
  ServiceContext,
} from "../../src/core/dimse/service_contract.ts";
import { AcceptorAssociation } from "../../src/core/ul/acceptor.ts";
import { listenTcp } from "../../src/net/tcp.ts";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid } from "../helpers/corpus.ts";
import { startDcmqrscp } from "../helpers/dcmqrscp.ts";
import { quietLogger } from "../helpers/scu.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";
import { freePort, minipacs, minipacsCommand } from "./cli.ts";

const dcmtk = hasTool("storescu") && hasTool("dump2dcm");
const CT = CORPUS_CLASSES.find((c) => c.modality === "CT")!;
const MR = CORPUS_CLASSES.find((c) => c.modality === "MR")!;

/**
 * An object whose Patient's Name is Müller^Hans in ISO 8859-1, as its Specific Character Set
 * (ISO_IR 100) says: dump2dcm wrote the name's UTF-8 bytes, patched here to Latin-1 (same
 * length: ü is one byte instead of two, and the value gets its trailing pad space).
 */
async function latin1Object(dir: string, more: Partial<Parameters<typeof makeObject>[0]>) {
  const o = await makeObject({ spec: CT, dir, patientName: "Müller^Hans", ...more });
  const bytes = await Deno.readFile(o.path);
  const utf8 = new TextEncoder().encode("Müller^Hans");
  const at = bytes.findIndex((_, i) => utf8.every((b, k) => bytes[i + k] === b));
  assert.ok(at > 0, "the name is in the file");
  bytes.set(
    [...new TextEncoder().encode("M"), 0xfc, ...new TextEncoder().encode("ller^Hans ")],
    at,
  );
  await Deno.writeFile(o.path, bytes);
  return o;
}

interface Stored {
  doe1: CorpusObject[];
  doe2: CorpusObject;
  muller: CorpusObject;
}

/** Two studies of Doe^John (one CT with two instances, one MR) and one of Müller^Hans. */
async function makeStudies(dir: string): Promise<Stored> {
  const study = newUid();
  const series = newUid();
  const doe1 = [
    await makeObject({ spec: CT, dir, studyInstanceUid: study, seriesInstanceUid: series }),
    await makeObject({ spec: CT, dir, studyInstanceUid: study, seriesInstanceUid: series }),
  ];
  const doe2 = await makeObject({ spec: MR, dir });
  const muller = await latin1Object(dir, { patientId: "PAT002" });
  return { doe1, doe2, muller };
}

async function storeTo(aeTitle: string, port: number, files: string[]): Promise<void> {
  const r = await run("storescu", ["-aec", aeTitle, "127.0.0.1", String(port), ...files]);
  assert.equal(r.code, 0, r.stderr);
}

/** The rows of a table as objects keyed by the header's column names. */
function parseTable(stdout: string): Record<string, string>[] {
  const lines = stdout.trimEnd().split("\n").filter((l) => l !== "");
  if (lines.length === 0) return [];
  const header = lines[0];
  const starts = [...header.matchAll(/\S+/g)].map((m) => ({ name: m[0], at: m.index! }));
  return lines.slice(1).map((line) => {
    const chars = [...line];
    const row: Record<string, string> = {};
    starts.forEach((s, i) => {
      row[s.name] = chars.slice(s.at, starts[i + 1]?.at ?? chars.length).join("").trim();
    });
    return row;
  });
}

Deno.test({
  name: "find queries MiniPACS: table, JSON, exact and wildcard matches, levels, Patient Root",
  ignore: !dcmtk,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-find-cli-" });
    let pacs: MiniPacs | undefined;
    try {
      const s = await makeStudies(dir);
      pacs = await startMiniPacs();
      await storeTo("MINIPACS", pacs.port, [...s.doe1, s.doe2, s.muller].map((o) => o.path));
      const at = `MINIPACS@127.0.0.1:${pacs.port}`;
      const study1 = s.doe1[0].studyInstanceUid;

      await t.step("no keys: every study, the STUDY level's usual columns", async () => {
        const r = await minipacs(["find", at, "--aet", "FINDER"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(
          r.stderr,
          /^C-FIND MINIPACS@127\.0\.0\.1:\d+ as FINDER: 3 matches, status 0x0000 success$/m,
        );
        assert.deepEqual(r.stdout.split("\n")[0].split(/\s+/), [
          "PatientName",
          "PatientID",
          "StudyDate",
          "StudyDescription",
          "AccessionNumber",
          "ModalitiesInStudy",
          "NumberOfStudyRelatedInstances",
          "StudyInstanceUID",
        ]);
        const rows = parseTable(r.stdout);
        const byStudy = new Map(rows.map((row) => [row.StudyInstanceUID, row]));
        assert.deepEqual(
          [...byStudy.keys()].sort(),
          [study1, s.doe2.studyInstanceUid, s.muller.studyInstanceUid].sort(),
        );
        // Each test object has its own Accession Number: the study shows one of them.
        const accession = byStudy.get(study1)?.AccessionNumber ?? "";
        assert.ok(s.doe1.some((o) => accession === `ACC${o.sopInstanceUid.slice(-6)}`), accession);
        assert.deepEqual(byStudy.get(study1), {
          PatientName: "Doe^John",
          PatientID: "PAT001",
          StudyDate: "20240315",
          StudyDescription: "Test study",
          AccessionNumber: accession,
          ModalitiesInStudy: "CT",
          NumberOfStudyRelatedInstances: "2",
          StudyInstanceUID: study1,
        });
        // Decoded from the stored ISO_IR 100 bytes.
        assert.equal(byStudy.get(s.muller.studyInstanceUid)?.PatientName, "Müller^Hans");
      });

      await t.step("an exact match, as JSON, with a key given by tag", async () => {
        const r = await minipacs(["find", at, "-k", "0010,0020=PAT002", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        const rows = JSON.parse(r.stdout);
        assert.equal(rows.length, 1);
        assert.equal(rows[0].PatientID, "PAT002");
        assert.equal(rows[0].PatientName, "Müller^Hans");
        assert.equal(rows[0].StudyInstanceUID, s.muller.studyInstanceUid);
        assert.equal(rows[0].NumberOfStudyRelatedInstances, "1");
        assert.deepEqual(Object.keys(rows[0]).slice(0, 2), ["PatientID", "PatientName"]);
      });

      await t.step("wildcards, a date range and a non-ASCII value (sent as UTF-8)", async () => {
        const doe = await minipacs(["find", at, "-k", "PatientName=Doe*", "--json"]);
        assert.equal(doe.code, 0, doe.stderr);
        assert.deepEqual(
          JSON.parse(doe.stdout).map((m: { StudyInstanceUID: string }) => m.StudyInstanceUID)
            .sort(),
          [study1, s.doe2.studyInstanceUid].sort(),
        );
        const range = await minipacs(["find", at, "-k", "StudyDate=20240101-20240401", "--json"]);
        assert.equal(JSON.parse(range.stdout).length, 3, range.stderr);
        const none = await minipacs(["find", at, "-k", "StudyDate=-20231231"]);
        assert.equal(none.code, 0, none.stderr);
        assert.equal(none.stdout, "");
        assert.match(none.stderr, /: 0 matches, status 0x0000 success/);
        const umlaut = await minipacs(["find", at, "-k", "PatientName=Mü*", "--json"]);
        assert.equal(umlaut.code, 0, umlaut.stderr);
        const rows = JSON.parse(umlaut.stdout);
        assert.deepEqual(rows.map((m: { PatientID: string }) => m.PatientID), ["PAT002"]);
        const modality = await minipacs(["find", at, "-k", "ModalitiesInStudy=MR", "--json"]);
        assert.deepEqual(
          JSON.parse(modality.stdout).map((m: { StudyInstanceUID: string }) => m.StudyInstanceUID),
          [s.doe2.studyInstanceUid],
        );
      });

      await t.step("SERIES and IMAGE levels list the study's series and instances", async () => {
        const series = await minipacs([
          "find",
          at,
          "--level",
          "SERIES",
          "-k",
          `StudyInstanceUID=${study1}`,
          "--json",
        ]);
        assert.equal(series.code, 0, series.stderr);
        const rows = JSON.parse(series.stdout);
        assert.equal(rows.length, 1);
        assert.equal(rows[0].SeriesInstanceUID, s.doe1[0].seriesInstanceUid);
        assert.equal(rows[0].Modality, "CT");
        assert.equal(rows[0].NumberOfSeriesRelatedInstances, "2");
        const images = await minipacs([
          "find",
          at,
          "-k",
          "QueryRetrieveLevel=IMAGE",
          "-k",
          `StudyInstanceUID=${study1}`,
          "-k",
          `SeriesInstanceUID=${s.doe1[0].seriesInstanceUid}`,
        ]);
        assert.equal(images.code, 0, images.stderr);
        assert.deepEqual(
          parseTable(images.stdout).map((row) => row.SOPInstanceUID).sort(),
          s.doe1.map((o) => o.sopInstanceUid).sort(),
        );
        assert.ok(parseTable(images.stdout).every((row) => row.SOPClassUID === CT.uid));
      });

      await t.step("Patient Root: PATIENT level, and STUDY level below a patient", async () => {
        const patients = await minipacs(["find", at, "--level", "PATIENT", "--json"]);
        assert.equal(patients.code, 0, patients.stderr);
        const rows = JSON.parse(patients.stdout) as Record<string, string>[];
        const byId = new Map(rows.map((row) => [row.PatientID, row]));
        assert.deepEqual([...byId.keys()].sort(), ["PAT001", "PAT002"]);
        assert.equal(byId.get("PAT001")?.NumberOfPatientRelatedStudies, "2");
        assert.equal(byId.get("PAT002")?.PatientName, "Müller^Hans");
        const studies = await minipacs([
          "find",
          at,
          "--root",
          "patient",
          "-k",
          "PatientID=PAT001",
          "--json",
        ]);
        assert.equal(studies.code, 0, studies.stderr);
        assert.equal(JSON.parse(studies.stdout).length, 2);
        await pacs!.waitForLog(/association accepted .*peer=MINIPACS@/);
      });

      await t.step("a failure status exits 1 with the status and the peer's comment", async () => {
        const r = await minipacs(["find", at, "--level", "SERIES"]);
        assert.equal(r.code, 1);
        assert.equal(r.stdout, "");
        assert.match(r.stderr, /0 matches, status 0xA900 failure \(Study Instance UID needs one/);
      });
    } finally {
      await pacs?.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "find queries DCMTK dcmqrscp: wildcards, levels, its ISO_IR 100 names decoded",
  ignore: !dcmtk || !hasTool("dcmqrscp"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-find-dcmqrscp-" });
    let qr: Awaited<ReturnType<typeof startDcmqrscp>> | undefined;
    try {
      const s = await makeStudies(dir);
      qr = await startDcmqrscp(dir);
      await storeTo("QRSCP", qr.port, [...s.doe1, s.doe2, s.muller].map((o) => o.path));
      const at = `QRSCP@127.0.0.1:${qr.port}`;

      const all = await minipacs(["find", at]);
      assert.equal(all.code, 0, all.stderr);
      assert.match(
        all.stderr,
        /^C-FIND QRSCP@127\.0\.0\.1:\d+ as MINIPACS: 3 matches, status 0x0000 success$/m,
      );
      const rows = parseTable(all.stdout);
      assert.deepEqual(
        rows.map((row) => row.StudyInstanceUID).sort(),
        [s.doe1[0], s.doe2, s.muller].map((o) => o.studyInstanceUid).sort(),
      );
      const muller = rows.find((row) => row.PatientID === "PAT002");
      assert.equal(muller?.PatientName, "Müller^Hans");
      assert.equal(muller?.StudyDate, "20240315");

      const doe = await minipacs(["find", at, "-k", "PatientName=Doe*", "--json"]);
      assert.equal(doe.code, 0, doe.stderr);
      assert.deepEqual(
        JSON.parse(doe.stdout).map((m: { StudyInstanceUID: string }) => m.StudyInstanceUID).sort(),
        [s.doe1[0].studyInstanceUid, s.doe2.studyInstanceUid].sort(),
      );

      const images = await minipacs([
        "find",
        at,
        "--level",
        "IMAGE",
        "-k",
        `StudyInstanceUID=${s.doe1[0].studyInstanceUid}`,
        "-k",
        `SeriesInstanceUID=${s.doe1[0].seriesInstanceUid}`,
        "--json",
      ]);
      assert.equal(images.code, 0, images.stderr);
      assert.deepEqual(
        JSON.parse(images.stdout).map((m: { SOPInstanceUID: string }) => m.SOPInstanceUID).sort(),
        s.doe1.map((o) => o.sopInstanceUid).sort(),
      );

      const patients = await minipacs(["find", at, "--level", "PATIENT", "-k", "PatientID=PAT0*"]);
      assert.equal(patients.code, 0, patients.stderr);
      assert.deepEqual(parseTable(patients.stdout).map((row) => row.PatientID).sort(), [
        "PAT001",
        "PAT002",
      ]);
    } finally {
      await qr?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * A Study Root FIND SCP of our own that sends one match every 50 ms (at most `max`), stops with
 * 0xFE00 on C-CANCEL, or with `silent` never answers at all.
 */
function scriptedFindScp(o: { max: number; silent?: boolean }) {
  const state = { sent: 0, cancelled: false };
  const service: DimseService = {
    name: "find",
    commandFields: [CommandField.CFindRq],
    *syntaxes() {
      yield { abstractSyntax: QR_SOP_CLASSES.StudyRootFind, acceptsTransferSyntax: () => true };
    },
    handle(req, ctx) {
      const handled = answer(req, ctx);
      handling.push(handled.catch(() => {}));
      return handled;
    },
  };
  const handling: Promise<unknown>[] = [];
  async function answer(req: DimseRequest, ctx: ServiceContext): Promise<void> {
    if (req.dataset) { for await (const _ of req.dataset) { /* consume */ } }
    const respond = (status: number, dataset?: Uint8Array) =>
      ctx.send({
        commandField: CommandField.CFindRsp,
        commandDataSetType: dataset ? DATASET_PRESENT : NO_DATASET,
        messageIdBeingRespondedTo: req.command.messageId ?? 0,
        affectedSopClassUid: QR_SOP_CLASSES.StudyRootFind,
        status,
      }, dataset);
    if (o.silent) {
      await new Promise((r) => setTimeout(r, 1500)); // longer than the client's --timeout
      return;
    }
    for (let i = 0; i < o.max; i++) {
      if (ctx.cancelled.aborted) {
        state.cancelled = true;
        return await respond(0xfe00);
      }
      const match = [
        textElement(0x00080052, "CS", "STUDY", "")!,
        textElement(0x0020000d, "UI", `1.2.3.${i + 1}`, "")!,
      ];
      await respond(0xff00, encodeDataset(match, encodingOf(req.context.transferSyntax)));
      state.sent++;
      await new Promise((r) => setTimeout(r, 50));
    }
    await respond(0x0000);
  }
  const syntaxes = new Map([...service.syntaxes()].map((s) => [s.abstractSyntax, s]));
  const running: Promise<unknown>[] = [];
  const listener = listenTcp("127.0.0.1", 0, (connection) => {
    const assoc = new AcceptorAssociation({
      id: String(running.length + 1),
      connection,
      logger: quietLogger,
      artimTimeoutMs: 5000,
      idleTimeoutMs: 10000,
      maxPduLength: 16384,
      services: [service],
      policy: () => ({
        aeTitle: "SLOW",
        checkCalledAe: true,
        maxPduLength: 16384,
        implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.9",
        implementationVersionName: "SLOW",
        syntaxes,
      }),
    });
    running.push(assoc.run().catch(() => {}));
  });
  return {
    port: listener.port,
    state,
    async close() {
      listener.close();
      await listener.done;
      await Promise.all([...running, ...handling]);
    },
  };
}

Deno.test({
  name: "Ctrl-C during find sends C-CANCEL, prints the matches so far and exits 1",
  ignore: Deno.build.os === "windows",
  async fn() {
    const scp = scriptedFindScp({ max: 200 });
    try {
      const [program, pre] = minipacsCommand();
      const child = new Deno.Command(program, {
        args: [...pre, "find", `SLOW@127.0.0.1:${scp.port}`, "--json"],
        env: { NO_COLOR: "1", MINIPACS_CONFIG: "" },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      for (let i = 0; i < 200 && scp.state.sent < 3; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(scp.state.sent >= 3, "matches are flowing");
      child.kill("SIGINT");
      const out = await child.output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 1, stderr);
      assert.ok(scp.state.cancelled, "the SCP saw the C-CANCEL");
      assert.ok(scp.state.sent < 200);
      const rows = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.equal(rows.length, scp.state.sent);
      assert.equal(rows[0].StudyInstanceUID, "1.2.3.1");
      assert.match(stderr, /cancelling/);
      assert.match(stderr, new RegExp(`${rows.length} matches, status 0xFE00 cancel`));
    } finally {
      await scp.close();
    }
  },
});

Deno.test("find exits 1 when nothing listens, and when the peer stops answering", async () => {
  const refused = await minipacs(["find", `PACS@127.0.0.1:${freePort()}`]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /cannot connect to PACS@127\.0\.0\.1:\d+/);
  const scp = scriptedFindScp({ max: 0, silent: true });
  try {
    const started = performance.now();
    const r = await minipacs(["find", `SLOW@127.0.0.1:${scp.port}`, "--timeout", "0.5"]);
    // Well before the scripted SCP's own 10 s idle abort would end it.
    assert.ok(performance.now() - started < 8000, "gave up on its own");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no answer within 0\.5 s \(after 0 matches\)/);
  } finally {
    await scp.close();
  }
});

Deno.test("find refuses bad keys, levels and models with exit 2", async () => {
  for (
    const [args, pattern] of [
      [["-k", "NoSuchKeyword=1"], /unknown key "NoSuchKeyword"/],
      [["--level", "FRAME"], /--level must be PATIENT, STUDY, SERIES or IMAGE/],
      [["--level", "PATIENT", "--root", "study"], /Study Root model has no PATIENT level/],
      [["--root", "worklist"], /--root must be study or patient/],
      [["--level", "STUDY", "-k", "QueryRetrieveLevel=SERIES"], /disagree/],
      [["-k", "Rows=512"], /values of US keys are not supported/],
      [["-k", "PatientName=A", "-k", "PatientName=B"], /PatientName is given twice/],
    ] as const
  ) {
    const r = await minipacs(["find", "PACS@127.0.0.1:104", ...args]);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.stderr, pattern);
  }
  const none = await minipacs(["find"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /find takes one AET@host:port/);
});

Deno.test("buildRequest() adds the level's return keys and UTF-8 for non-ASCII values", () => {
  const study = buildRequest(["PatientName=Doe*", "StudyDate=20240101-"]);
  assert.equal(study.model, "STUDY");
  assert.equal(study.level, "STUDY");
  assert.equal(study.specificCharacterSet, "");
  assert.deepEqual(study.keys.slice(0, 3).map((k) => [k.name, k.value]), [
    ["PatientName", "Doe*"],
    ["StudyDate", "20240101-"],
    ["PatientID", ""],
  ]);
  assert.ok(study.keys.some((k) => k.name === "NumberOfStudyRelatedInstances"));
  assert.equal(buildRequest([], "PATIENT").model, "PATIENT");
  assert.equal(buildRequest([], "image", "Patient").model, "PATIENT");
  const series = buildRequest([], "SERIES");
  assert.ok(
    ["SeriesInstanceUID", "Modality", "StudyInstanceUID"].every((n) =>
      series.keys.some((k) => k.name === n)
    ),
  );
  const umlaut = buildRequest(["PatientName=Müller*"]);
  assert.equal(umlaut.specificCharacterSet, "ISO_IR 192");
  const elements = identifierElements(umlaut);
  const name = elements.find((e) => e.tag === 0x00100010)!;
  assert.deepEqual(name.value, new TextEncoder().encode("Müller*"));
  assert.equal(
    new TextDecoder().decode(elements.find((e) => e.tag === 0x00080005)!.value),
    "ISO_IR 192",
  );
  // A character set given by the user is used for the values, and refused when it cannot hold them.
  const latin1 = buildRequest(["SpecificCharacterSet=ISO_IR 100", "PatientName=Mü*"]);
  assert.deepEqual(
    identifierElements(latin1).find((e) => e.tag === 0x00100010)!.value,
    new Uint8Array([0x4d, 0xfc, 0x2a]),
  );
  assert.throws(
    () => buildRequest(["SpecificCharacterSet=ISO_IR 100", "PatientName=山田*"]),
    /cannot be written in ISO_IR 100/,
  );
});

Deno.test("lookupKey() knows keywords and tags; formatTable() aligns columns", () => {
  assert.deepEqual(lookupKey("PatientName"), { tag: 0x00100010, vr: "PN", name: "PatientName" });
  assert.deepEqual(lookupKey("studyinstanceuid"), {
    tag: 0x0020000d,
    vr: "UI",
    name: "StudyInstanceUID",
  });
  assert.deepEqual(lookupKey("(0008,0061)"), {
    tag: 0x00080061,
    vr: "CS",
    name: "ModalitiesInStudy",
  });
  assert.deepEqual(lookupKey("00200011"), { tag: 0x00200011, vr: "IS", name: "SeriesNumber" });
  assert.deepEqual(lookupKey("0009,1001"), { tag: 0x00091001, vr: "UN", name: "0009,1001" });
  assert.equal(lookupKey("NotAKeyword"), undefined);
  assert.equal(
    formatTable(["A", "Name"], [{ A: "1", Name: "Müller" }, { A: "100", Name: "" }]),
    "A    Name\n1    Müller\n100\n",
  );
});
