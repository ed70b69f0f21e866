// What a C-MOVE destination receives: objects stored in Implicit VR LE, Explicit VR Big Endian
// and JPEG Baseline, moved to destinations that take every syntax but prefer Explicit VR LE
// (DCMTK storescp +xa, Orthanc 1.10), arrive in the syntax they were stored in, dataset bytes
// unchanged; a destination taking only Implicit VR LE gets the uncompressed ones re-encoded and
// the JPEG one decoded.
import assert from "node:assert/strict";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { freePort } from "../helpers/peers.ts";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid, TS } from "../helpers/corpus.ts";
import { hasOrthanc, type Orthanc, startOrthanc } from "../helpers/orthanc.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";
import { startStorescp, type Storescp } from "../helpers/storescp.ts";

const dcmtk = ["movescu", "storescp", "storescu", "echoscu", "dump2dcm", "dcmconv", "dcmcjpeg"]
  .every(hasTool);
const orthanc = hasOrthanc();

const datasetOf = (bytes: Uint8Array) =>
  bytes.subarray(decodeFileMetaInformation(bytes).datasetOffset);

/** One study: a CT in Implicit VR LE, a CT in Explicit VR Big Endian, a JPEG Baseline image. */
async function makeStudy(dir: string): Promise<CorpusObject[]> {
  const study = newUid();
  const series = newUid();
  const patientId = `SYN${study.slice(-6)}`;
  const make = (name: string) =>
    makeObject({
      spec: CORPUS_CLASSES.find((c) => c.name === name)!,
      dir,
      studyInstanceUid: study,
      seriesInstanceUid: series,
      patientId,
    });
  const out: CorpusObject[] = [];
  for (
    const [name, tool, args, ts] of [
      ["CT Image", "dcmconv", ["+ti"], TS.implicitLE],
      ["CT Image", "dcmconv", ["+tb"], TS.explicitBE],
      ["Secondary Capture", "dcmcjpeg", ["+eb", "+un"], TS.jpegBaseline],
    ] as const
  ) {
    const o = await make(name);
    const path = o.path.replace(/\.dcm$/, `.${ts}.dcm`);
    const r = await run(tool, [...args, o.path, path]);
    assert.equal(r.code, 0, r.stderr);
    out.push({ ...o, path, transferSyntaxUid: ts });
  }
  return out;
}

/** Stores each object in its own syntax (storescu proposing that syntax first). */
async function storeAsIs(port: number, objects: CorpusObject[]): Promise<void> {
  const propose: Record<string, string> = {
    [TS.implicitLE]: "-xi",
    [TS.explicitBE]: "-xb",
    [TS.jpegBaseline]: "-xy",
  };
  for (const o of objects) {
    const r = await run("storescu", [
      propose[o.transferSyntaxUid],
      "-aec",
      "MINIPACS",
      "127.0.0.1",
      String(port),
      o.path,
    ]);
    assert.equal(r.code, 0, r.stderr);
  }
}

async function movescu(port: number, destination: string, study: string) {
  const r = await run("movescu", [
    "-d",
    "-S",
    "-aec",
    "MINIPACS",
    "-aem",
    destination,
    "-k",
    "QueryRetrieveLevel=STUDY",
    "-k",
    `StudyInstanceUID=${study}`,
    "127.0.0.1",
    String(port),
  ]);
  const out = r.stdout + r.stderr;
  const final = out.slice(out.lastIndexOf("C-MOVE RSP"));
  return {
    ...r,
    status: parseInt(/DIMSE Status\s*:\s*0x([0-9a-f]{4})/i.exec(final)?.[1] ?? "ffff", 16),
    output: final,
  };
}

Deno.test({
  name:
    "a destination preferring Explicit VR LE gets Implicit, Big Endian and JPEG objects as stored",
  ignore: !dcmtk,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-syntax-" });
    const orthancPort = freePort();
    let all: Storescp | undefined;
    let implicitOnly: Storescp | undefined;
    let peer: Orthanc | undefined;
    let pacs: MiniPacs | undefined;
    try {
      all = await startStorescp("ALLSYNTAX", ["+xa"]);
      implicitOnly = await startStorescp("IMPLICIT", ["+xi"]);
      const known = (ae: string, port: number) =>
        `[[known_ae]]\nae_title = "${ae}"\nhost = "127.0.0.1"\nport = ${port}\n`;
      pacs = await startMiniPacs({
        extraToml: [
          known(all.aeTitle, all.port),
          known(implicitOnly.aeTitle, implicitOnly.port),
          known("ORTHANC", orthancPort),
        ].join("\n"),
      });
      const objects = await makeStudy(dir);
      await storeAsIs(pacs.port, objects);
      const study = objects[0].studyInstanceUid;

      await t.step(
        "storescp +xa: each object arrives in its stored syntax, bytes unchanged",
        async () => {
          const r = await movescu(pacs!.port, all!.aeTitle, study);
          assert.equal(r.status, 0x0000, r.output);
          const got = await all!.received();
          assert.equal(got.size, 3);
          for (const o of objects) {
            const received = got.get(o.sopInstanceUid);
            assert.ok(received, o.transferSyntaxUid);
            assert.equal(received.ts, o.transferSyntaxUid);
            assert.deepEqual(received.dataset, datasetOf(await Deno.readFile(o.path)));
          }
        },
      );

      await t.step(
        "storescp +xi: uncompressed ones re-encoded, the JPEG one decoded",
        async () => {
          const r = await movescu(pacs!.port, implicitOnly!.aeTitle, study);
          assert.equal(r.status, 0x0000, r.output);
          const got = await implicitOnly!.received();
          assert.deepEqual(
            [...got.keys()].sort(),
            objects.map((o) => o.sopInstanceUid).sort(),
          );
          for (const v of got.values()) assert.equal(v.ts, TS.implicitLE);
        },
      );

      await t.step({
        name: "Orthanc 1.10: each object arrives in its stored syntax, bytes unchanged",
        ignore: !orthanc,
        fn: async () => {
          peer = await startOrthanc(pacs!.port, orthancPort);
          const r = await movescu(pacs!.port, "ORTHANC", study);
          assert.equal(r.status, 0x0000, `${r.output}\n${peer.output()}`);
          const ids = await (await peer.api("/instances")).json() as string[];
          assert.equal(ids.length, 3);
          for (const id of ids) {
            const file: Uint8Array = new Uint8Array(
              await (await peer.api(`/instances/${id}/file`)).arrayBuffer(),
            );
            const { meta } = decodeFileMetaInformation(file);
            const o = objects.find((x) => x.sopInstanceUid === meta.sopInstanceUid);
            assert.ok(o, meta.sopInstanceUid);
            assert.equal(meta.transferSyntaxUid, o.transferSyntaxUid);
            assert.deepEqual(datasetOf(file), datasetOf(await Deno.readFile(o.path)));
          }
        },
      });
    } finally {
      await peer?.stop();
      await pacs?.cleanup();
      await all?.stop();
      await implicitOnly?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
