// Store, query and move over DICOM TLS with DCMTK's TLS tools, and C-MOVE sub-associations to
// a storescp +tls that requires our client certificate; our own SCU commands with --tls.
import assert from "node:assert/strict";
import { minipacs } from "../cli/cli.ts";
import { hasOpenssl, makeCertificates } from "../helpers/certificates.ts";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid } from "../helpers/corpus.ts";
import { hasTool, run, startMiniPacs } from "../helpers/server.ts";
import { startStorescp } from "../helpers/storescp.ts";
import { destinationsToml, startTlsStorescp, tlsToml } from "../helpers/tls_storescp.ts";

const ready = hasOpenssl() &&
  ["storescu", "findscu", "movescu", "storescp", "echoscu", "dump2dcm"].every(hasTool);

Deno.test({
  name:
    "TLS: storescu and findscu +tls; C-MOVE goes to a storescp +tls over TLS with our certificate",
  ignore: !ready,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-tls-svc-" });
    const c = await makeCertificates(`${dir}/certs`);
    const client = await c.issue("ct1.example");
    const dest = await c.issue("dest.example", { san: "DNS:localhost,IP:127.0.0.1" });
    const scp = await startTlsStorescp(c, dest, client);
    const pacs = await startMiniPacs({
      extraToml: [
        tlsToml(c),
        destinationsToml(scp.port),
      ].join("\n"),
    });
    try {
      const tls = ["+tls", client.key, client.cert, "+cf", c.ca, "-aec", "MINIPACS"];
      const study = newUid();
      const objects: CorpusObject[] = [];
      for (let i = 0; i < 3; i++) {
        objects.push(
          await makeObject({ spec: CORPUS_CLASSES[0], dir, studyInstanceUid: study }),
        );
      }
      const stored = await run("storescu", [
        ...tls,
        "127.0.0.1",
        String(pacs.tlsPort),
        ...objects.map((o) => o.path),
      ]);
      assert.equal(stored.code, 0, stored.stderr);
      assert.equal(pacs.logs().match(/ stored .*sop_class="CT Image Storage"/g)?.length, 3);

      const found = await run("findscu", [
        ...tls,
        "-S",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        `StudyInstanceUID=${study}`,
        "-k",
        "PatientID",
        "127.0.0.1",
        String(pacs.tlsPort),
      ]);
      assert.equal(found.code, 0, found.stderr);
      assert.match(found.stdout + found.stderr, /PAT001/);

      // DCMTK 3.6.7's movescu has no TLS: it asks on the plain port; the images go over TLS.
      const moved = await run("movescu", [
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
      assert.equal(moved.code, 0, moved.stderr);
      assert.equal((await scp.files()).length, 3, "storescp +tls received the study");

      // The same storescp as a plain destination: no TLS, so it is not reached.
      const plain = await run("movescu", [
        "-S",
        "-aec",
        "MINIPACS",
        "-aem",
        "PLAINDEST",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        `StudyInstanceUID=${study}`,
        "127.0.0.1",
        String(pacs.port),
      ]);
      assert.match(plain.stdout + plain.stderr, /Failed|A702|Refused/i);
    } finally {
      await pacs.cleanup();
      await scp.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "TLS: a C-MOVE destination whose certificate is from another CA is refused; nothing is sent",
  ignore: !ready,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-tls-svc-" });
    const c = await makeCertificates(`${dir}/certs`);
    const client = await c.issue("ct1.example");
    // storescp trusts our CA (so it would take us), but its own certificate is another CA's.
    const other = await c.otherCa("localhost");
    const scpCa = { ...c, ca: `${dir}/both.crt` };
    await Deno.writeTextFile(
      scpCa.ca,
      (await Deno.readTextFile(c.ca)) + (await Deno.readTextFile(other.ca)),
    );
    const scp = await startTlsStorescp(scpCa, other, client);
    const pacs = await startMiniPacs({
      extraToml: [
        tlsToml(c),
        "[[known_ae]]",
        'ae_title = "DEST"',
        'host = "127.0.0.1"',
        `port = ${scp.port}`,
        "tls = true",
      ].join("\n"),
    });
    try {
      const obj = await makeObject({ spec: CORPUS_CLASSES[0], dir });
      const tls = ["+tls", client.key, client.cert, "+cf", c.ca, "-aec", "MINIPACS"];
      const stored = await run("storescu", [...tls, "127.0.0.1", String(pacs.tlsPort), obj.path]);
      assert.equal(stored.code, 0, stored.stderr);
      const moved = await run("movescu", [
        "-S",
        "-aec",
        "MINIPACS",
        "-aem",
        "DEST",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        `StudyInstanceUID=${obj.studyInstanceUid}`,
        "127.0.0.1",
        String(pacs.port),
      ]);
      assert.notEqual(moved.code === 0 && /Success/.test(moved.stderr + moved.stdout), true);
      await pacs.waitForLog(/move destination DEST cannot be reached.*certificate/i);
      assert.equal((await scp.files()).length, 0);
    } finally {
      await pacs.cleanup();
      await scp.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "minipacs echo, store, find, move and get --tls --cert --key --ca against the TLS port",
  ignore: !ready,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-tls-cli-" });
    const c = await makeCertificates(`${dir}/certs`);
    const client = await c.issue("ct1.example");
    const archive = await startStorescp("ARCHIVE");
    const pacs = await startMiniPacs({
      extraToml: [
        tlsToml(c),
        "[[known_ae]]",
        'ae_title = "ARCHIVE"',
        'host = "127.0.0.1"',
        `port = ${archive.port}`,
      ].join("\n"),
    });
    try {
      const target = `MINIPACS@127.0.0.1:${pacs.tlsPort}`;
      const tls = ["--tls", "--cert", client.cert, "--key", client.key, "--ca", c.ca];
      const echo = await minipacs(["echo", target, ...tls]);
      assert.equal(echo.code, 0, echo.stderr);
      assert.match(echo.stdout, /status 0000|Success/i);

      const obj = await makeObject({ spec: CORPUS_CLASSES[0], dir, patientId: "TLSPAT" });
      const store = await minipacs(["store", target, obj.path, ...tls]);
      assert.equal(store.code, 0, store.stderr);
      assert.match(store.stdout, /stored 1, failed 0/);

      // find's --key is a query key: the private key is --cert-key there.
      const findTls = ["--tls", "--cert", client.cert, "--cert-key", client.key, "--ca", c.ca];
      const find = await minipacs(["find", target, "-k", "PatientID=TLSPAT", "--json", ...findTls]);
      assert.equal(find.code, 0, find.stderr);
      assert.match(find.stdout, /TLSPAT/);

      // move and get take -k as find does.
      const study = `StudyInstanceUID=${obj.studyInstanceUid}`;
      const move = await minipacs(["move", target, "--dest", "ARCHIVE", "-k", study, ...findTls]);
      assert.equal(move.code, 0, move.stderr);
      assert.equal((await archive.received()).has(obj.sopInstanceUid), true);
      const out = `${dir}/got`;
      const get = await minipacs(["get", target, "-k", study, "--out", out, ...findTls]);
      assert.equal(get.code, 0, get.stderr);
      assert.equal((await Array.fromAsync(Deno.readDir(out))).length, 1);
      const anonGet = await minipacs(["get", target, "-k", study, "--out", out, "--tls"]);
      assert.equal(anonGet.code, 1, "no client certificate, and the server's CA not trusted");

      // Without a client certificate the server (which requires one) refuses.
      const anon = await minipacs(["echo", target, "--tls", "--ca", c.ca]);
      assert.equal(anon.code, 1);
      // Plain TCP to the TLS port fails too; the server is unharmed.
      const plain = await minipacs(["echo", target, "--timeout", "5"]);
      assert.equal(plain.code, 1);
      // Not trusting the server's CA: its certificate is refused by us.
      const untrusted = await minipacs(["echo", target, ...tls.slice(0, 5)]);
      assert.equal(untrusted.code, 1);
      assert.match(untrusted.stderr, /certificate/i);
      assert.equal((await minipacs(["echo", target, ...tls])).code, 0);

      const stray = await minipacs(["echo", target, "--cert", client.cert]);
      assert.equal(stray.code, 2);
      assert.match(stray.stderr, /--cert.* need --tls/);
      const missing = await minipacs(["echo", target, "--tls", "--ca", `${dir}/none.crt`]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /--ca: missing/);
    } finally {
      await pacs.cleanup();
      await archive.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
