// Send from the API to a [[known_ae]] with tls = true: over DICOM TLS, as C-MOVE's
// sub-associations go (our certificate as the client's, the destination checked against
// ca_certificates), to a storescp +tls that requires a client certificate.
import assert from "node:assert/strict";
import { hasOpenssl, makeCertificates } from "../helpers/certificates.ts";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid } from "../helpers/corpus.ts";
import { datasetOf, readPart10Dir } from "../helpers/part10_files.ts";
import { hasTool, run, startMiniPacs } from "../helpers/server.ts";
import { destinationsToml, startTlsStorescp, tlsToml } from "../helpers/tls_storescp.ts";

const ready = hasOpenssl() && ["storescu", "storescp", "echoscu", "dump2dcm"].every(hasTool);
if (!ready) console.log("SKIP: the TLS send test needs openssl and DCMTK with +tls");

/** Starts a send through the API and reads its job until it has finished (about 60 s). */
async function sendAndWait(base: string, study: string, destination: string) {
  const r = await fetch(`${base}/api/studies/${study}/send`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ destination }),
  });
  assert.equal(r.status, 202);
  const { id } = await r.json();
  for (let i = 0; i < 600; i++) {
    const job = await (await fetch(`${base}/api/sends/${id}`)).json();
    if (job.state !== "running") return job;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error("the send did not finish");
}

Deno.test({
  name: "send to a tls = true known AE goes over TLS with our certificate; plain is refused",
  ignore: !ready,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-send-tls-" });
    const c = await makeCertificates(`${dir}/certs`);
    const client = await c.issue("ct1.example");
    const dest = await c.issue("dest.example", { san: "DNS:localhost,IP:127.0.0.1" });
    const scp = await startTlsStorescp(c, dest, client);
    const pacs = await startMiniPacs({
      http: { enabled: true, bind: "127.0.0.1", port: 0 },
      extraToml: [
        tlsToml(c),
        destinationsToml(scp.port),
      ].join("\n"),
    });
    try {
      const study = newUid();
      const objects: CorpusObject[] = [];
      for (let i = 0; i < 3; i++) {
        objects.push(await makeObject({ spec: CORPUS_CLASSES[0], dir, studyInstanceUid: study }));
      }
      const stored = await run("storescu", [
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        String(pacs.port),
        ...objects.map((o) => o.path),
      ]);
      assert.equal(stored.code, 0, stored.stderr);
      const base = `http://127.0.0.1:${pacs.httpPort}`;

      const job = await sendAndWait(base, study, "DEST");
      assert.equal(job.state, "completed", job.error);
      assert.equal(job.tls, true);
      assert.equal(job.completed, 3);
      const got = await readPart10Dir(scp.dir);
      assert.equal(got.size, 3, "storescp +tls received the study");
      for (const o of objects) {
        assert.deepEqual(got.get(o.sopInstanceUid)?.dataset, await datasetOf(o.path));
      }
      await pacs.waitForLog(/send done.*destination=DEST.*tls=true.*completed=3/);

      // The same storescp as a plain destination: not spoken to in plain DICOM.
      const plain = await sendAndWait(base, study, "PLAINDEST");
      assert.equal(plain.state, "failed");
      assert.equal(plain.completed, 0);
      assert.equal(plain.failed, 3);
    } finally {
      await pacs.cleanup();
      await scp.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
