// The npm dicomweb-client (the DICOMweb client OHIF uses, not written here) against the running
// server: STOW-RS, QIDO-RS and WADO-RS (instance, metadata, frames, rendered). What it stores is
// found by DCMTK findscu and moved by movescu; what storescu stores it finds: one index.
import assert from "node:assert/strict";
import { api } from "dicomweb-client";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { freePort } from "../helpers/peers.ts";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid } from "../helpers/corpus.ts";
import { hasTool, run, startMiniPacs } from "../helpers/server.ts";
import { installXmlHttpRequest } from "../helpers/xhr.ts";

installXmlHttpRequest();

const tools = ["dump2dcm", "storescu", "findscu", "movescu", "storescp", "echoscu"];
const ready = tools.every(hasTool);
const spec = (name: string) => CORPUS_CLASSES.find((c) => c.name === name)!;
type Json = Record<string, { vr: string; Value?: unknown[] }>;
type Client = Record<string, (options: Record<string, unknown>) => Promise<unknown>>;

Deno.test({
  name: "dicomweb-client stores, searches and retrieves; DCMTK finds and moves what it stored",
  ignore: !ready,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-dicomweb-client-" });
    const scpDir = `${dir}/received`;
    await Deno.mkdir(scpDir);
    const scpPort = freePort();
    const storescp = new Deno.Command("storescp", {
      args: ["-aet", "DEST", "-od", scpDir, String(scpPort)],
      env: { TCP_NODELAY: "1" },
      stdout: "null",
      stderr: "null",
    }).spawn();
    const pacs = await startMiniPacs({
      http: { enabled: true, port: 0, bind: "127.0.0.1" },
      extraToml: `[[known_ae]]\nae_title = "DEST"\nhost = "127.0.0.1"\nport = ${scpPort}\n`,
    });
    try {
      for (let i = 0; i < 100; i++) { // bounded: about 10 s
        if ((await run("echoscu", ["-aec", "DEST", "127.0.0.1", String(scpPort)])).code === 0) {
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = `http://127.0.0.1:${pacs.httpPort}/dicom-web`;
      // Its declared types make optional options required: called through a plain view.
      const client = new api.DICOMwebClient({ url, singlepart: false }) as unknown as Client;
      const study = newUid();
      const series = newUid();
      const objects: CorpusObject[] = [];
      for (let n = 1; n <= 2; n++) {
        objects.push(
          await makeObject({
            spec: spec("CT Image"),
            dir,
            studyInstanceUid: study,
            seriesInstanceUid: series,
            instanceNumber: n,
            patientId: "DWC1",
            patientName: "Client^Web",
            rows: 16,
          }),
        );
      }
      const [first] = objects;

      await t.step("STOW-RS: storeInstances", async () => {
        const datasets = await Promise.all(
          objects.map(async (o) => (await Deno.readFile(o.path)).buffer),
        );
        await client.storeInstances({ datasets });
      });
      await t.step("QIDO-RS: searchForStudies, Series, Instances", async () => {
        const studies = await client.searchForStudies({
          queryParams: { PatientID: "DWC1" },
        }) as Json[];
        assert.equal(studies.length, 1);
        assert.equal(studies[0]["0020000D"].Value![0], study);
        assert.deepEqual(studies[0]["00100010"].Value, [{ Alphabetic: "Client^Web" }]);
        const s = await client.searchForSeries({ studyInstanceUID: study }) as Json[];
        assert.deepEqual(s.map((x) => x["0020000E"].Value![0]), [series]);
        const i = await client.searchForInstances({
          studyInstanceUID: study,
          seriesInstanceUID: series,
        }) as Json[];
        assert.equal(i.length, 2);
      });
      const ids = {
        studyInstanceUID: study,
        seriesInstanceUID: series,
        sopInstanceUID: first.sopInstanceUid,
      };
      await t.step("WADO-RS: retrieveInstance is the object stored", async () => {
        const part10 = new Uint8Array(await client.retrieveInstance(ids) as ArrayBuffer);
        const { meta, datasetOffset } = decodeFileMetaInformation(part10);
        assert.equal(meta.sopInstanceUid, first.sopInstanceUid);
        const original = await Deno.readFile(first.path);
        const o = decodeFileMetaInformation(original);
        assert.deepEqual(part10.subarray(datasetOffset), original.subarray(o.datasetOffset));
      });
      await t.step("WADO-RS: retrieveSeriesMetadata and retrieveInstanceMetadata", async () => {
        const m = await client.retrieveSeriesMetadata({
          studyInstanceUID: study,
          seriesInstanceUID: series,
        }) as Json[];
        assert.equal(m.length, 2);
        assert.deepEqual(m[0]["00280010"], { vr: "US", Value: [16] });
        const one = await client.retrieveInstanceMetadata(ids) as Json[];
        assert.equal(one[0]["00080018"].Value![0], first.sopInstanceUid);
      });
      await t.step("WADO-RS: retrieveInstanceFrames and retrieveInstanceRendered", async () => {
        const frames = await client.retrieveInstanceFrames({
          ...ids,
          frameNumbers: [1],
        }) as ArrayBuffer[];
        assert.equal(frames.length, 1);
        assert.equal(frames[0].byteLength, 16 * 16 * 2);
        const original = await Deno.readFile(first.path);
        assert.deepEqual(new Uint8Array(frames[0]), original.subarray(original.length - 512));
        const rendered = await client.retrieveInstanceRendered({
          ...ids,
          mediaTypes: [{ mediaType: "image/png" }],
        });
        const png = new Uint8Array(
          (Array.isArray(rendered) ? rendered[0] : rendered) as ArrayBuffer,
        );
        assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
      });
      await t.step("findscu finds and movescu moves what STOW-RS stored", async () => {
        const find = await run("findscu", [
          "-v",
          "-S",
          "-aec",
          "MINIPACS",
          "-k",
          "QueryRetrieveLevel=STUDY",
          "-k",
          "PatientID=DWC1",
          "-k",
          "StudyInstanceUID",
          "127.0.0.1",
          String(pacs.port),
        ]);
        assert.equal(find.code, 0, find.stderr);
        assert.ok((find.stdout + find.stderr).includes(study), "C-FIND returns the study");
        const move = await run("movescu", [
          "-S",
          "-aec",
          "MINIPACS",
          "-aem",
          "DEST",
          "-k",
          "QueryRetrieveLevel=STUDY",
          "-k",
          `StudyInstanceUID=${study}`,
          "127.0.0.1",
          String(pacs.port),
        ]);
        assert.equal(move.code, 0, move.stderr);
        const received: string[] = [];
        for await (const e of Deno.readDir(scpDir)) {
          const bytes = await Deno.readFile(`${scpDir}/${e.name}`);
          received.push(decodeFileMetaInformation(bytes).meta.sopInstanceUid);
        }
        assert.deepEqual(received.sort(), objects.map((o) => o.sopInstanceUid).sort());
      });
      await t.step("what storescu stores, dicomweb-client finds", async () => {
        const mr = await makeObject({ spec: spec("MR Image"), dir, patientId: "DWC2" });
        const r = await run("storescu", [
          "-aec",
          "MINIPACS",
          "127.0.0.1",
          String(pacs.port),
          mr.path,
        ]);
        assert.equal(r.code, 0, r.stderr);
        const found = await client.searchForInstances({
          queryParams: { SOPInstanceUID: mr.sopInstanceUid },
        }) as Json[];
        assert.equal(found.length, 1);
        assert.equal(found[0]["00080060"]?.Value?.[0], "MR");
      });
    } finally {
      await pacs.cleanup();
      try {
        storescp.kill("SIGTERM");
      } catch { /* gone */ }
      await storescp.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
