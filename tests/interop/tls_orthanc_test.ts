// Orthanc 1.10 with DICOM TLS (DicomTlsEnabled: its DICOM port speaks TLS only, and it requires
// the peer's certificate) as MiniPACS's central archive and as a modality. Forwarding with
// commit = true reaches it over TLS and its storage commitment report comes back over TLS on
// a new association, from the AE title tied to its certificate (tls_name); Orthanc's own
// C-STORE over TLS is taken, and the report on its storage commitment request goes to it over
// TLS on a new association; a C-MOVE to it goes over TLS. Certificates made with openssl.
import assert from "node:assert/strict";
import { hasOpenssl, makeCertificates } from "../helpers/certificates.ts";
import { freePort } from "../helpers/peers.ts";
import { askCommitment, hasOrthanc, type Orthanc, startOrthanc } from "../helpers/orthanc.ts";
import { hasTool, type MiniPacs, run, startMiniPacs, storescuTo } from "../helpers/server.ts";
import { newStudyUid, type SmallImage, writeSmallImage } from "../helpers/small_image.ts";
import { tlsToml } from "../helpers/tls_storescp.ts";

const ready = hasOpenssl() && ["storescu", "movescu"].every(hasTool) && hasOrthanc();
const HTTP = { enabled: true, bind: "127.0.0.1", port: 0 };
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function api(server: MiniPacs, path: string) {
  const r = await fetch(`http://127.0.0.1:${server.httpPort}${path}`);
  assert.equal(r.status, 200);
  return await r.json();
}

async function orthancInstances(orthanc: Orthanc): Promise<number> {
  return ((await (await orthanc.api("/instances")).json()) as string[]).length;
}

Deno.test({
  name: "TLS with Orthanc 1.10: forwarding with commitment, Orthanc's report and its own " +
    "C-STORE come over TLS; our commitment report and a C-MOVE reach it over TLS",
  ignore: !ready,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-tls-orthanc-" });
    const c = await makeCertificates(`${dir}/certs`);
    const cert = await c.issue("orthanc.example", { san: "DNS:orthanc.example,IP:127.0.0.1" });
    const orthancPort = freePort();
    let server: MiniPacs | undefined;
    let orthanc: Orthanc | undefined;
    try {
      server = await startMiniPacs({
        http: HTTP,
        extraToml: [
          tlsToml(c),
          "[forward]",
          "retry_max_s = 1",
          "[[known_ae]]",
          'ae_title = "ORTHANC"',
          'host = "127.0.0.1"',
          `port = ${orthancPort}`,
          "tls = true",
          // Calls as ORTHANC are taken only over TLS with Orthanc's certificate.
          'tls_name = "orthanc.example"',
          "[[route]]",
          'destination = "ORTHANC"',
          'calling_ae = ["CT1"]',
          "commit = true",
        ].join("\n"),
      });
      orthanc = await startOrthanc(server.tlsPort!, orthancPort, {
        DicomTlsEnabled: true,
        DicomTlsCertificate: cert.cert,
        DicomTlsPrivateKey: cert.key,
        DicomTlsTrustedCertificates: c.ca,
        DicomTlsRemoteCertificateRequired: true,
        DicomAlwaysAllowMove: true,
        DicomModalities: {
          minipacs: { AET: "MINIPACS", Host: "127.0.0.1", Port: server.tlsPort, UseDicomTls: true },
        },
      });

      // Forwarded over TLS; Orthanc commits them on a new association to our TLS port.
      const study = newStudyUid();
      const objects: SmallImage[] = [];
      for (let i = 0; i < 2; i++) objects.push(await writeSmallImage(dir, "CT", study));
      await storescuTo(server.port, objects.map((o) => o.path));
      let view: { committed: number; queued: number; lastError: string | null } | undefined;
      for (let i = 0; i < 600; i++) { // bounded: about 60 s
        const all = await api(server, "/api/forward");
        view = all.destinations.find((d: { destination: string }) => d.destination === "ORTHANC");
        if (view?.committed === 2) break;
        await delay(100);
      }
      assert.equal(view?.committed, 2, JSON.stringify(view) + server.logs().slice(-3000));
      assert.equal(await orthancInstances(orthanc), 2);
      await server.waitForLog(/association accepted .*ORTHANC@127\.0\.0\.1/);

      // Orthanc's own C-STORE over TLS: one more object, sent from Orthanc.
      const third = await writeSmallImage(dir, "MR", newStudyUid());
      const uploaded = await (await orthanc.api("/instances", {
        method: "POST",
        body: await Deno.readFile(third.path),
      })).json() as { ID: string };
      const sent = await orthanc.api("/modalities/minipacs/store", {
        method: "POST",
        body: JSON.stringify({ Resources: [uploaded.ID], Synchronous: true }),
      });
      assert.equal(sent.status, 200, await sent.text());
      await server.waitForLog(new RegExp(`stored .*${third.sop.replaceAll(".", "\\.")}`));

      // Orthanc asks for storage commitment and releases at once: the report goes on a new
      // association, over TLS to ORTHANC.
      const job = await askCommitment(orthanc, [{ cls: third.sopClassUid, sop: third.sop }]);
      assert.equal(job.Status, "Success", JSON.stringify(job));
      assert.deepEqual(job.Success?.map((x) => x.SOPInstanceUID), [third.sop]);
      await server.waitForLog(/storage commitment reported on a new association/);

      // A C-MOVE of that study to ORTHANC goes over TLS (asked on the plain port).
      await orthanc.api(`/instances/${uploaded.ID}`, { method: "DELETE" });
      assert.equal(await orthancInstances(orthanc), 2);
      const moved = await run("movescu", [
        "-S",
        "-aec",
        "MINIPACS",
        "-aem",
        "ORTHANC",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        `StudyInstanceUID=${third.study}`,
        "127.0.0.1",
        String(server.port),
      ]);
      assert.equal(moved.code, 0, moved.stderr);
      assert.equal(await orthancInstances(orthanc), 3, "Orthanc has the moved object again");
    } finally {
      await orthanc?.stop();
      await server?.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
