// DCMTK movescu asks MiniPACS to move studies, series and images to DCMTK storescp running as
// a known AE; what storescp writes (bit-preserving) is compared with what was stored.
import assert from "node:assert/strict";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { freePort } from "../helpers/peers.ts";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid, TS } from "../helpers/corpus.ts";
import { hasTool, type MiniPacs, run, type RunResult, startMiniPacs } from "../helpers/server.ts";
import { elementValues } from "../helpers/dataset_values.ts";
import { startStorescp } from "../helpers/storescp.ts";
import { attr, readNative } from "../helpers/codec_corpus.ts";

const dcmtk = ["movescu", "storescp", "storescu", "echoscu", "dump2dcm", "dcmcjpeg"].every(hasTool);

/** A sequence and private elements, so re-encoding has structure to get right. */
const MORE = [
  "(0008,1140) SQ (Sequence with undefined length)",
  "(fffe,e000) na (Item with undefined length)",
  "(0008,1150) UI [1.2.840.10008.5.1.4.1.1.2]",
  "(0008,1155) UI [1.2.3.4.5.6]",
  "(fffe,e00d) na (ItemDelimitationItem)",
  "(fffe,e0dd) na (SequenceDelimitationItem)",
  "(0009,0010) LO [ACME 1.0]",
  "(0009,1001) LO [private value]",
  "(0009,1002) US 513",
].join("\n");

function datasetOf(path: string): Promise<Uint8Array> {
  return Deno.readFile(path).then((b) => b.subarray(decodeFileMetaInformation(b).datasetOffset));
}

async function storeAll(port: number, objects: CorpusObject[]): Promise<void> {
  const propose: Record<string, string> = { [TS.explicitLE]: "-xe", [TS.jpegBaseline]: "-xy" };
  for (const [ts, group] of Map.groupBy(objects, (o) => o.transferSyntaxUid)) {
    const r = await run("storescu", [
      propose[ts] ?? "-xe",
      "-aec",
      "MINIPACS",
      "127.0.0.1",
      String(port),
      ...group.map((o) => o.path),
    ]);
    assert.equal(r.code, 0, r.stderr);
  }
}

/** movescu in debug mode; the final response's fields parsed from its output. */
interface MoveResult extends RunResult {
  status: number;
  completed: number;
  failed: number;
  warning: number;
  remaining: number | null;
  failedUids: string[];
}

async function movescu(port: number, destination: string, args: string[]): Promise<MoveResult> {
  const r = await run("movescu", [
    "-d",
    "-aec",
    "MINIPACS",
    "-aem",
    destination,
    ...args,
    "127.0.0.1",
    String(port),
  ]);
  const out = r.stdout + r.stderr;
  const final = out.slice(out.lastIndexOf("C-MOVE RSP"));
  const num = (name: string) => {
    const m = new RegExp(`${name} Suboperations\\s*:\\s*(\\d+|none)`).exec(final);
    return m && m[1] !== "none" ? Number(m[1]) : null;
  };
  const list = /\(0008,0058\) UI \[([^\]]*)\]/.exec(final)?.[1];
  return {
    ...r,
    status: parseInt(/DIMSE Status\s*:\s*0x([0-9a-f]{4})/i.exec(final)?.[1] ?? "ffff", 16),
    completed: num("Completed") ?? 0,
    failed: num("Failed") ?? 0,
    warning: num("Warning") ?? 0,
    remaining: num("Remaining"),
    failedUids: list ? list.split("\\") : [],
  };
}

/** Copies of an object under new SOP Instance UIDs of the same length (bytes patched). */
async function clones(o: CorpusObject, dir: string, n: number): Promise<CorpusObject[]> {
  const bytes = await Deno.readFile(o.path);
  const find = new TextEncoder().encode(o.sopInstanceUid);
  const at: number[] = [];
  for (let i = 0; i + find.length <= bytes.length; i++) {
    if (find.every((b, k) => bytes[i + k] === b)) at.push(i);
  }
  const out: CorpusObject[] = [];
  const stem = o.sopInstanceUid.slice(0, -4);
  for (let k = 0; k < n; k++) {
    const uid = `${stem}${String(1000 + k).slice(-4)}`;
    const copy = bytes.slice();
    const enc = new TextEncoder().encode(uid);
    for (const i of at) copy.set(enc, i);
    const path = `${dir}/clone-${uid}.dcm`;
    await Deno.writeFile(path, copy);
    out.push({ ...o, path, sopInstanceUid: uid });
  }
  return out;
}

Deno.test({
  name: "movescu moves into storescp known AEs: levels, conversion, failures, C-CANCEL",
  ignore: !dcmtk,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-move-" });
    const dest = await startStorescp("DEST");
    const implicitOnly = await startStorescp("IMPLICIT", ["+xi"]);
    const closedPort = freePort();
    const known = (ae: string, port: number) =>
      `[[known_ae]]\nae_title = "${ae}"\nhost = "127.0.0.1"\nport = ${port}\n`;
    let pacs: MiniPacs | undefined;
    try {
      pacs = await startMiniPacs({
        extraToml: [
          known("DEST", dest.port),
          known("IMPLICIT", implicitOnly.port),
          known("DOWN", closedPort),
        ].join("\n"),
      });
      const [ct, mr] = [CORPUS_CLASSES[0], CORPUS_CLASSES[1]];
      const study = newUid();
      const [seriesA, seriesB] = [newUid(), newUid()];
      const studyObjects: CorpusObject[] = [];
      for (let i = 0; i < 3; i++) {
        studyObjects.push(
          await makeObject({
            spec: ct,
            dir,
            studyInstanceUid: study,
            seriesInstanceUid: seriesA,
            more: MORE,
          }),
        );
      }
      for (let i = 0; i < 2; i++) {
        studyObjects.push(
          await makeObject({
            spec: mr,
            dir,
            studyInstanceUid: study,
            seriesInstanceUid: seriesB,
            more: MORE,
          }),
        );
      }
      // A second study with one uncompressed and one JPEG-compressed image.
      const study2 = newUid();
      const sc = CORPUS_CLASSES.find((c) => c.name === "Secondary Capture")!;
      const plain = await makeObject({
        spec: sc,
        dir,
        studyInstanceUid: study2,
        patientId: "PAT002",
      });
      const raw = await makeObject({
        spec: sc,
        dir,
        studyInstanceUid: study2,
        patientId: "PAT002",
      });
      const jpegPath = raw.path.replace(/\.dcm$/, ".jpeg.dcm");
      assert.equal((await run("dcmcjpeg", ["+eb", "+un", raw.path, jpegPath])).code, 0);
      const jpeg = { ...raw, path: jpegPath, transferSyntaxUid: TS.jpegBaseline };
      await storeAll(pacs.port, [...studyObjects, plain, jpeg]);
      const port = pacs.port;

      const expectReceived = async (objects: CorpusObject[]) => {
        const got = await dest.received();
        assert.deepEqual([...got.keys()].sort(), objects.map((o) => o.sopInstanceUid).sort());
        for (const o of objects) {
          const r = got.get(o.sopInstanceUid)!;
          assert.equal(r.ts, o.transferSyntaxUid);
          assert.deepEqual(r.dataset, await datasetOf(o.path), `${o.className}: dataset bytes`);
        }
        await dest.clear();
      };

      await t.step("STUDY level: every instance arrives byte for byte", async () => {
        const r = await movescu(port, "DEST", [
          "-S",
          "-k",
          "QueryRetrieveLevel=STUDY",
          "-k",
          `StudyInstanceUID=${study}`,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.status, 0x0000, r.stdout.slice(-2000));
        assert.equal(r.completed, 5);
        assert.equal(r.failed, 0);
        await expectReceived(studyObjects);
      });

      await t.step("SERIES level with a UID list, IMAGE level with two UIDs", async () => {
        let r = await movescu(port, "DEST", [
          "-S",
          "-k",
          "QueryRetrieveLevel=SERIES",
          "-k",
          `StudyInstanceUID=${study}`,
          "-k",
          `SeriesInstanceUID=${seriesB}\\${newUid()}`,
        ]);
        assert.equal(r.status, 0x0000);
        assert.equal(r.completed, 2);
        await expectReceived(studyObjects.slice(3));
        const two = [studyObjects[0], studyObjects[2]];
        r = await movescu(port, "DEST", [
          "-S",
          "-k",
          "QueryRetrieveLevel=IMAGE",
          "-k",
          `StudyInstanceUID=${study}`,
          "-k",
          `SeriesInstanceUID=${seriesA}`,
          "-k",
          `SOPInstanceUID=${two.map((o) => o.sopInstanceUid).join("\\")}`,
        ]);
        assert.equal(r.status, 0x0000);
        assert.equal(r.completed, 2);
        await expectReceived(two);
      });

      await t.step("an unknown destination: 0xA801 and nothing is sent", async () => {
        const r = await movescu(port, "NOBODY", [
          "-S",
          "-k",
          "QueryRetrieveLevel=STUDY",
          "-k",
          `StudyInstanceUID=${study}`,
        ]);
        assert.equal(r.status, 0xa801);
        assert.match(r.stdout + r.stderr, /MoveDestinationUnknown|Move Destination unknown/i);
        assert.equal((await dest.received()).size, 0);
        await pacs!.waitForLog(/move refused: Move Destination "NOBODY"/);
      });

      await t.step(
        "a known AE whose port is closed: 0xA702, counts, Failed SOP Instance UID List",
        async () => {
          const r = await movescu(port, "DOWN", [
            "-S",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            `StudyInstanceUID=${study}`,
          ]);
          assert.equal(r.status, 0xa702);
          assert.equal(r.completed, 0);
          assert.equal(r.failed, 5);
          assert.deepEqual(r.failedUids.sort(), studyObjects.map((o) => o.sopInstanceUid).sort());
          await pacs!.waitForLog(
            new RegExp(`move destination DOWN cannot be reached at 127.0.0.1:${closedPort}`),
          );
        },
      );

      await t.step(
        "a destination that accepts only Implicit VR LE gets converted objects, same values",
        async () => {
          const r = await movescu(port, "IMPLICIT", [
            "-S",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            `StudyInstanceUID=${study}`,
          ]);
          assert.equal(r.status, 0x0000, r.stdout.slice(-2000));
          assert.equal(r.completed, 5);
          const got = await implicitOnly.received();
          assert.equal(got.size, 5);
          for (const o of studyObjects) {
            const received = got.get(o.sopInstanceUid)!;
            assert.equal(received.ts, TS.implicitLE);
            const original = await datasetOf(o.path);
            assert.deepEqual(
              elementValues(received.dataset, TS.implicitLE),
              elementValues(original, TS.explicitLE),
            );
            // Pixel Data is last in both: its value bytes are the same.
            const pixels = 16 * 16 * 2;
            assert.deepEqual(received.dataset.subarray(-pixels), original.subarray(-pixels));
          }
          // DCMTK reads a converted file back: the sequence's item, the private bytes (no VR in
          // Implicit VR: shown as hex).
          const [first] = await Array.fromAsync(Deno.readDir(implicitOnly.dir));
          const dump = await run("dcmdump", [`${implicitOnly.dir}/${first.name}`]);
          assert.equal(dump.code, 0, dump.stderr);
          assert.match(dump.stdout, /\(0008,1155\) UI \[1\.2\.3\.4\.5\.6\]/);
          assert.match(dump.stdout, /\(0009,1001\) \?\? 70\\72\\69\\76\\61\\74\\65/);
        },
      );

      // The JPEG image as DCMTK decodes it, to compare with what arrives decoded.
      const decodedPath = jpegPath.replace(/\.dcm$/, ".decoded.dcm");
      assert.equal((await run("dcmdjpeg", ["+te", jpegPath, decodedPath])).code, 0);
      const reference = readNative(await Deno.readFile(decodedPath));
      /** The plain image byte for byte, the JPEG one decoded (within 2 levels of dcmdjpeg). */
      const expectDecoded = async () => {
        const got = await dest.received();
        const decoded = got.get(jpeg.sopInstanceUid);
        assert.ok(decoded, "the JPEG image arrived");
        got.delete(jpeg.sopInstanceUid);
        assert.equal(decoded.ts, TS.explicitLE);
        const pixels = readNative(decoded.dataset, decoded.ts);
        assert.equal(pixels.pixels.length, reference.pixels.length);
        assert.ok(pixels.pixels.every((v, i) => Math.abs(v - reference.pixels[i]) <= 2));
        assert.equal(attr(pixels, 0x00282110), "01", "Lossy Image Compression");
        await dest.clear();
        assert.deepEqual([...got.keys()], [plain.sopInstanceUid]);
        assert.deepEqual(got.get(plain.sopInstanceUid)!.dataset, await datasetOf(plain.path));
      };

      await t.step(
        "a compressed object to a destination taking no compressed syntax arrives decoded",
        async () => {
          const r = await movescu(port, "DEST", [
            "-S",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            `StudyInstanceUID=${study2}`,
          ]);
          assert.equal(r.status, 0x0000);
          assert.equal(r.completed, 2);
          assert.equal(r.failed, 0);
          await expectDecoded();
        },
      );

      await t.step("PATIENT level (Patient Root) selects every study of the patient", async () => {
        const r = await movescu(port, "DEST", [
          "-P",
          "-k",
          "QueryRetrieveLevel=PATIENT",
          "-k",
          "PatientID=PAT002",
        ]);
        assert.equal(r.status, 0x0000, "the JPEG image is decoded again");
        assert.equal(r.completed, 2);
        await expectDecoded();
      });

      await t.step(
        "C-CANCEL during a 400-image move stops it after the sub-operation in flight",
        async () => {
          const base = await makeObject({
            spec: ct,
            dir,
            rows: 256,
            studyInstanceUid: newUid(),
            seriesInstanceUid: newUid(),
          });
          const many = await clones(base, dir, 400);
          await storeAll(port, many);
          // A Pending comes at most every 100 ms on a move this size: cancel after the first.
          const r = await movescu(port, "DEST", [
            "--cancel",
            "1",
            "-S",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            `StudyInstanceUID=${base.studyInstanceUid}`,
          ]);
          assert.equal(r.status, 0xfe00, r.stdout.slice(-1500));
          assert.ok(r.completed >= 1 && r.completed < 400, `${r.completed} completed`);
          assert.equal(r.completed + (r.remaining ?? 0) + r.failed, 400);
          assert.equal((await dest.received()).size, r.completed, "nothing sent after the cancel");
          await dest.clear();
        },
      );
    } finally {
      await pacs?.cleanup();
      await dest.stop();
      await implicitOnly.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "movescu with move_destinations: the allowed destination receives, another gets 0x0124",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-move-" });
    const allowed = await startStorescp("ALLOWED");
    const denied = await startStorescp("DENIED");
    const known = (ae: string, port: number, extra = "") =>
      `[[known_ae]]\nae_title = "${ae}"\nhost = "127.0.0.1"\nport = ${port}\n${extra}`;
    let pacs: MiniPacs | undefined;
    try {
      pacs = await startMiniPacs({
        extraToml: [
          known("ALLOWED", allowed.port),
          known("DENIED", denied.port),
          known("VIEWER", 11112, 'move_destinations = ["ALLOWED"]\n'),
        ].join("\n"),
      });
      const image = await makeObject({ spec: CORPUS_CLASSES[0], dir });
      await storeAll(pacs.port, [image]);
      const study = ["-S", "-k", "QueryRetrieveLevel=STUDY"];
      study.push("-k", `StudyInstanceUID=${image.studyInstanceUid}`);

      const ok = await movescu(pacs.port, "ALLOWED", ["-aet", "VIEWER", ...study]);
      assert.equal(ok.status, 0x0000, ok.stdout.slice(-2000));
      assert.equal(ok.completed, 1);
      assert.deepEqual([...(await allowed.received()).keys()], [image.sopInstanceUid]);

      const refused = await movescu(pacs.port, "DENIED", ["-aet", "VIEWER", ...study]);
      assert.equal(refused.status, 0x0124, refused.stdout.slice(-2000));
      assert.match(refused.stdout + refused.stderr, /"VIEWER" may not move to "DENIED"/);
      await pacs.waitForLog(/WARN\s+move refused: "VIEWER" may not move to "DENIED".*peer=VIEWER@/);
      assert.equal((await denied.received()).size, 0, "nothing sent to the refused destination");
      assert.ok(!/move sub-association open.*DENIED/.test(pacs.logs()), "no connection to it");

      // A caller without a list of its own may still move there.
      const other = await movescu(pacs.port, "DENIED", ["-aet", "WS", ...study]);
      assert.equal(other.status, 0x0000, other.stdout.slice(-2000));
      assert.equal((await denied.received()).size, 1);
    } finally {
      await pacs?.cleanup();
      await allowed.stop();
      await denied.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
