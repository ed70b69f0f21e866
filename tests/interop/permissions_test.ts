// Who may do what, with DCMTK peers: accept = "store" lets any AE store but only known ones
// query and retrieve; a known AE's allow narrows its services and hosts its addresses.
// Refusals happen at negotiation (the presentation context), never half-way through.
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config.ts";
import { CORPUS_CLASSES, makeObject } from "../helpers/corpus.ts";
import { hasTool, ROOT, run, startMiniPacs } from "../helpers/server.ts";

const ready = ["storescu", "findscu", "movescu", "getscu", "echoscu", "dump2dcm"].every(hasTool);

Deno.test('accept = "store" is the built-in default and the shipped config.toml\'s value', async () => {
  assert.equal(parseConfig("", "empty.toml").server.accept, "store");
  const shipped = await Deno.readTextFile(`${ROOT}config.toml`);
  assert.equal(parseConfig(shipped, "config.toml").server.accept, "store");
});

Deno.test("[[known_ae]] allow and hosts are checked when the file is read", () => {
  const entry = (more: string) =>
    `[[known_ae]]\nae_title = "CT1"\nhost = "10.0.0.1"\nport = 104\n${more}\n`;
  assert.deepEqual(
    parseConfig(entry('allow = ["echo", "store"]\nhosts = ["10.0.0.21", "10.0.1.0/24"]'), "c")
      .knownAe[0],
    {
      aeTitle: "CT1",
      host: "10.0.0.1",
      port: 104,
      maxAssociations: 2,
      allow: ["echo", "store"],
      hosts: ["10.0.0.21", "10.0.1.0/24"],
    },
  );
  assert.throws(
    () => parseConfig(entry('allow = ["echo", "print"]'), "c.toml"),
    /c\.toml:5: known_ae\[0\]\.allow: entry 1 must be one of echo, store, find, move, get, commit, got "print"/,
  );
  assert.throws(
    () => parseConfig(entry('hosts = ["10.0.0.0/33"]'), "c.toml"),
    /known_ae\[0\]\.hosts: entry 0 must be an IP address or CIDR block/,
  );
});

Deno.test({
  name:
    "permissions: an unknown AE stores but its find, move and get contexts are refused; allow and hosts of known AEs enforced",
  ignore: !ready,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-perm-" });
    const pacs = await startMiniPacs({
      server: { accept: "store" },
      extraToml: [
        "[[known_ae]]",
        'ae_title = "VIEWER"',
        'host = "127.0.0.1"',
        "port = 11112",
        "[[known_ae]]",
        'ae_title = "CT1"',
        'host = "127.0.0.1"',
        "port = 104",
        'allow = ["echo", "store"]',
        'hosts = ["127.0.0.0/8"]',
        "[[known_ae]]",
        'ae_title = "FARAWAY"',
        'host = "10.9.9.9"',
        "port = 104",
        'hosts = ["10.9.9.9"]',
      ].join("\n"),
    });
    try {
      const port = String(pacs.port);
      const obj = await makeObject({ spec: CORPUS_CLASSES[0], dir, patientId: "PERM1" });
      const as = (aet: string) => ["-aet", aet, "-aec", "MINIPACS"];
      const query = ["-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=PERM1"];

      const stored = await run("storescu", [...as("STRANGER"), "127.0.0.1", port, obj.path]);
      assert.equal(stored.code, 0, stored.stderr);

      const find = await run("findscu", [...as("STRANGER"), "-S", ...query, "127.0.0.1", port]);
      assert.notEqual(find.code, 0);
      assert.match(find.stdout + find.stderr, /No Acceptable Presentation Contexts/i);
      await pacs.waitForLog(/WARN.*services refused to STRANGER: find/);
      const move = await run("movescu", [
        ...as("STRANGER"),
        "-S",
        "-aem",
        "VIEWER",
        ...query,
        "127.0.0.1",
        port,
      ]);
      assert.notEqual(move.code, 0);
      await pacs.waitForLog(/services refused to STRANGER: .*\bmove\b/);
      const get = await run("getscu", [
        ...as("STRANGER"),
        "-S",
        ...query,
        "-od",
        dir,
        "127.0.0.1",
        port,
      ]);
      assert.notEqual(get.code, 0);
      await pacs.waitForLog(/services refused to STRANGER: .*\bget\b/);

      // A known AE queries; one allowed only echo and store does not.
      const viewer = await run("findscu", [...as("VIEWER"), "-S", ...query, "127.0.0.1", port]);
      assert.equal(viewer.code, 0, viewer.stderr);
      assert.match(viewer.stdout + viewer.stderr, /PERM1/);
      const ct1 = await run("findscu", [...as("CT1"), "-S", ...query, "127.0.0.1", port]);
      assert.notEqual(ct1.code, 0);
      await pacs.waitForLog(/services refused to CT1: find/);
      assert.equal((await run("echoscu", [...as("CT1"), "127.0.0.1", port])).code, 0);

      // FARAWAY may call only from 10.9.9.9: from here its title is rejected.
      const far = await run("echoscu", [...as("FARAWAY"), "127.0.0.1", port]);
      assert.notEqual(far.code, 0);
      assert.match(far.stdout + far.stderr, /Calling AE Title Not Recognized/i);
      await pacs.waitForLog(
        /WARN.*association rejected: calling AE title "FARAWAY" is not accepted from 127\.0\.0\.1/,
      );
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
