// Differential test: the same QIDO-RS and WADO-RS metadata requests against MiniPACS and
// Orthanc with its DICOMweb plugin (Debian orthanc + orthanc-dicomweb), both loaded by
// storescu with the same corpus. The UID sets must be equal; metadata attributes and values
// must be equal except where a difference is recorded below with the reason it is right.
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { type Peer, startOrthanc } from "../helpers/peers.ts";
import { hasTool, startMiniPacs } from "../helpers/server.ts";
import { makeDicomWebCorpus, storeCorpus } from "../web/dicomweb/fixture.ts";

const ORTHANC = "/usr/sbin/Orthanc";
const PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

function installed(path: string, pkg: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    console.log(`SKIP: ${path} is not installed (apt-get install ${pkg}); ignored`);
    return false;
  }
}

const ready = hasTool("storescu") && hasTool("dump2dcm") && hasTool("dcmcjpeg") &&
  installed(ORTHANC, "orthanc") && installed(PLUGIN, "orthanc-dicomweb");

type Attribute = { vr: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string };
type Json = Record<string, Attribute>;

/**
 * Metadata differences that are expected, by tag: why each is right (or allowed). Anything
 * else that differs fails the test.
 */
const METADATA_DIFFERENCES: Record<string, string> = {
  "7FE00010": "Orthanc leaves encapsulated (compressed) Pixel Data out of the metadata; " +
    "PS3.18 10.4.1.1.2 has every attribute there, bulk data by BulkDataURI, so MiniPACS " +
    "sends it (its URI resolves to the stored compressed frames)",
};

/** A small binary value inline on one side and by URI on the other. */
const INLINE_OR_URI = "the standard allows both: PS3.18 F.2.7 leaves it to the origin server " +
  "whether a binary value goes as InlineBinary or BulkDataURI; MiniPACS inlines those of up to " +
  "1 KiB (a request less for the viewer), Orthanc sends every UN value by URI";

async function getJson(url: string): Promise<{ status: number; body: Json[] }> {
  const r = await fetch(url, { headers: { Accept: "application/dicom+json" } });
  const text = await r.text();
  return { status: r.status, body: r.status === 200 ? JSON.parse(text) : [] };
}

Deno.test({
  name: "MiniPACS and Orthanc's DICOMweb plugin: same QIDO-RS UID sets, same metadata values",
  ignore: !ready,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-dicomweb-orthanc-" });
    const pacs = await startMiniPacs({ http: { enabled: true, port: 0, bind: "127.0.0.1" } });
    let orthanc: Peer | undefined;
    const differences: string[] = [];
    try {
      orthanc = await startOrthanc(ORTHANC, {
        plugins: [PLUGIN],
        extra: { DicomWeb: { Enable: true, Root: "/dicom-web/" } },
      });
      const corpus = await makeDicomWebCorpus(dir);
      await storeCorpus(pacs.port, "MINIPACS", corpus.all);
      await storeCorpus(orthanc.port, orthanc.aeTitle, corpus.all);
      const ours = `http://127.0.0.1:${pacs.httpPort}/dicom-web`;
      const theirs = `${orthanc.httpUrl}/dicom-web`;
      const ct = corpus.ct[0];
      const study = ct.studyInstanceUid;
      const series = ct.seriesInstanceUid;
      const queries: [string, string][] = [
        ["/studies", "0020000D"],
        ["/studies?PatientName=doe*", "0020000D"],
        ["/studies?PatientName=DOE^JANE", "0020000D"],
        ["/studies?PatientID=PAT-MR", "0020000D"],
        ["/studies?StudyDate=20240101-20241231", "0020000D"],
        ["/studies?StudyDate=20250101-", "0020000D"],
        ["/studies?ModalitiesInStudy=US", "0020000D"],
        [`/studies?StudyInstanceUID=${study},${corpus.mr.studyInstanceUid}`, "0020000D"],
        ["/series", "0020000E"],
        ["/series?Modality=CT", "0020000E"],
        [`/studies/${study}/series`, "0020000E"],
        [`/studies/${study}/instances`, "00080018"],
        [`/studies/${study}/series/${series}/instances`, "00080018"],
        [`/instances?SOPInstanceUID=${corpus.jpeg.sopInstanceUid}`, "00080018"],
        ["/instances?PatientID=PAT-BE", "00080018"],
      ];
      for (const [query, tag] of queries) {
        await t.step(`QIDO ${query}`, async () => {
          const a = await getJson(ours + query);
          const b = await getJson(theirs + query);
          const uids = (list: Json[]) => list.map((o) => o[tag]?.Value?.[0] as string).sort();
          assert.deepEqual(uids(a.body), uids(b.body), `${query}: same ${tag} set`);
          assert.equal(a.status, b.status === 200 && b.body.length === 0 ? 204 : b.status);
        });
      }
      const instances = [...corpus.ct, corpus.mr, corpus.jpeg, corpus.bigEndian];
      for (const o of instances) {
        await t.step(`metadata of ${o.className} (${o.transferSyntaxUid})`, async () => {
          const path = `/studies/${o.studyInstanceUid}/series/${o.seriesInstanceUid}` +
            `/instances/${o.sopInstanceUid}/metadata`;
          const [a] = (await getJson(ours + path)).body;
          const [b] = (await getJson(theirs + path)).body;
          assert.ok(a && b, "both answer");
          const unexplained: string[] = [];
          for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
            const x = a[key];
            const y = b[key];
            let same: boolean;
            if (x?.BulkDataURI !== undefined || y?.BulkDataURI !== undefined) {
              // Each server names its own URIs: both must send one, with the same VR.
              same = x?.BulkDataURI !== undefined && y?.BulkDataURI !== undefined && x.vr === y.vr;
            } else same = isDeepStrictEqual(x, y);
            if (same) continue;
            const what = `${o.className} ${key}: MiniPACS ${JSON.stringify(x)}, Orthanc ${
              JSON.stringify(y)
            }`;
            const inlineVsUri = x?.vr === y?.vr &&
              (x?.InlineBinary !== undefined && y?.BulkDataURI !== undefined ||
                y?.InlineBinary !== undefined && x?.BulkDataURI !== undefined);
            const why = METADATA_DIFFERENCES[key] ?? (inlineVsUri ? INLINE_OR_URI : undefined);
            if (!why) unexplained.push(what);
            else differences.push(`${what}; ${why}`);
          }
          assert.deepEqual(unexplained, [], "differences without a recorded reason");
        });
      }
    } finally {
      if (differences.length) {
        console.log(
          `Orthanc differs in ${differences.length} place(s):\n  ${differences.join("\n  ")}`,
        );
      }
      await orthanc?.stop();
      await orthanc?.cleanup();
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
