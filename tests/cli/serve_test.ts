// The running server as a sysadmin drives it: SIGHUP reloads [[known_ae]] (callers and C-MOVE
// destinations) and log.level without dropping associations; `[log] format = "json"` gives one
// JSON object per line.
import assert from "node:assert/strict";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { AssociationRejectedError } from "../../src/core/ul/requestor.ts";
import { CORPUS_CLASSES, makeObject } from "../helpers/corpus.ts";
import { hasTool, run, startMiniPacs } from "../helpers/server.ts";
import { echo, openAssociation } from "../helpers/scu.ts";
import { minipacs, startStoreScp } from "./cli.ts";

const FRIEND = '[[known_ae]]\nae_title = "FRIEND"\nhost = "127.0.0.1"\nport = 104\n';
const NEWCOMER = '[[known_ae]]\nae_title = "NEWCOMER"\nhost = "127.0.0.1"\nport = 105\n';

Deno.test({
  name: "SIGHUP reloads [[known_ae]] and log.level; open associations stay up",
  ignore: Deno.build.os === "windows",
  async fn() {
    const pacs = await startMiniPacs({ server: { accept: "known" }, extraToml: FRIEND });
    const config = `${pacs.dir}/config.toml`;
    const before = await openAssociation(pacs.port, { calling: "FRIEND" });
    try {
      await assert.rejects(
        openAssociation(pacs.port, { calling: "NEWCOMER" }),
        AssociationRejectedError,
      );
      const text = await Deno.readTextFile(config);
      await Deno.writeTextFile(
        config,
        text.replace("[server]\n", "[server]\nmax_associations = 7\n")
          .replace('level = "debug"', 'level = "warn"') + NEWCOMER,
      );
      await pacs.waitForLog(/MiniPACS started/); // SIGHUP is ignored while starting
      pacs.child.kill("SIGHUP");
      await pacs.waitForLog(/configuration reloaded applied=known_ae,log\.level/);
      await pacs.waitForLog(/needs a restart: server\.max_associations/);

      const after = await openAssociation(pacs.port, { calling: "NEWCOMER" });
      assert.equal(await echo(after), 0);
      await after.release();
      // The association opened before the reload is still alive and served.
      assert.equal(await echo(before), 0);
      // At level "warn" the info lines of that association are no longer written.
      assert.ok(!/association accepted .*peer=NEWCOMER/.test(pacs.logs()), pacs.logs());
    } finally {
      await before.release().catch(() => {});
      await pacs.cleanup();
    }
  },
});

/** movescu of one study to `destination`; the final DIMSE status from its debug output. */
async function moveStudy(port: number, destination: string, studyInstanceUid: string) {
  const r = await run("movescu", [
    "-d",
    "-S",
    "-aet",
    "VIEWER",
    "-aem",
    destination,
    "-aec",
    "MINIPACS",
    "-k",
    "QueryRetrieveLevel=STUDY",
    "-k",
    `StudyInstanceUID=${studyInstanceUid}`,
    "127.0.0.1",
    String(port),
  ]);
  const out = r.stdout + r.stderr;
  const final = out.slice(out.lastIndexOf("C-MOVE RSP"));
  const status = /DIMSE Status\s*:\s*0x([0-9a-f]{4})/i.exec(final)?.[1];
  return { status: status === undefined ? -1 : parseInt(status, 16), out };
}

Deno.test({
  name: "SIGHUP reload changes the known AEs seen by a C-MOVE without a restart",
  ignore: Deno.build.os === "windows" ||
    !["movescu", "storescp", "storescu", "dump2dcm"].every(hasTool),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-reload-move-" });
    const dest = await startStoreScp("DEST");
    const pacs = await startMiniPacs();
    try {
      const ct = CORPUS_CLASSES.find((c) => c.modality === "CT")!;
      const o = await makeObject({ spec: ct, dir });
      const stored = await run("storescu", [
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        `${pacs.port}`,
        o.path,
      ]);
      assert.equal(stored.code, 0, stored.stderr);
      const before = await openAssociation(pacs.port);
      try {
        const unknown = await moveStudy(pacs.port, "DEST", o.studyInstanceUid);
        assert.equal(unknown.status, 0xa801, unknown.out.slice(-2000)); // Move Destination Unknown
        assert.deepEqual([...Deno.readDirSync(dest.dir)], []);

        const config = `${pacs.dir}/config.toml`;
        await Deno.writeTextFile(
          config,
          (await Deno.readTextFile(config)) +
            `\n[[known_ae]]\nae_title = "DEST"\nhost = "127.0.0.1"\nport = ${dest.port}\n`,
        );
        pacs.child.kill("SIGHUP");
        await pacs.waitForLog(/configuration reloaded applied=known_ae/);

        const moved = await moveStudy(pacs.port, "DEST", o.studyInstanceUid);
        assert.equal(moved.status, 0x0000, moved.out.slice(-2000));
        const arrived = [...Deno.readDirSync(dest.dir)].map((e) =>
          decodeFileMetaInformation(Deno.readFileSync(`${dest.dir}/${e.name}`)).meta.sopInstanceUid
        );
        assert.deepEqual(arrived, [o.sopInstanceUid]);
        // The association opened before the reload is still alive and served.
        assert.equal(await echo(before), 0);
      } finally {
        await before.release().catch(() => {});
      }
    } finally {
      await pacs.cleanup();
      await dest.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "SIGHUP with a broken config keeps the running configuration",
  ignore: Deno.build.os === "windows",
  async fn() {
    const pacs = await startMiniPacs({ server: { accept: "known" }, extraToml: FRIEND });
    try {
      await Deno.writeTextFile(`${pacs.dir}/config.toml`, "[server]\nport = 70000\n");
      await pacs.waitForLog(/MiniPACS started/); // SIGHUP is ignored while starting
      pacs.child.kill("SIGHUP");
      await pacs.waitForLog(/reload refused, the running configuration is kept .*server\.port/);
      const r = await minipacs(["echo", `MINIPACS@127.0.0.1:${pacs.port}`, "--aet", "FRIEND"]);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await pacs.cleanup();
    }
  },
});

Deno.test('[log] format = "json" writes one JSON object per line, with level, msg and assoc', async () => {
  // extraToml is appended inside the helper's [log] section.
  const pacs = await startMiniPacs({ extraToml: 'format = "json"' });
  try {
    const listening = await pacs.waitForLog(/"msg":"DICOM listening"/);
    const port = JSON.parse(listening).port;
    assert.equal(typeof port, "number");
    const r = await minipacs(["echo", `MINIPACS@127.0.0.1:${port}`, "--aet", "JSONTEST"]);
    assert.equal(r.code, 0, r.stderr);
    await pacs.waitForLog(/"msg":"association released"/);
    assert.equal(await pacs.stop(), 0);
    const lines = pacs.logs().split("\n").filter((l) => l !== "" && !/^Warning /.test(l));
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const e of entries) {
      assert.equal(typeof e.msg, "string");
      assert.ok(["error", "warn", "info", "debug"].includes(e.level as string), String(e.level));
      assert.ok(!Number.isNaN(Date.parse(e.time as string)));
    }
    const accepted = entries.find((e) => e.msg === "association accepted");
    assert.ok(accepted, lines.join("\n"));
    assert.equal(accepted.level, "info");
    assert.equal(typeof accepted.assoc, "string");
    assert.match(accepted.peer as string, /^JSONTEST@127\.0\.0\.1:\d+$/);
    assert.ok(entries.some((e) => e.msg === "stopped"));
  } finally {
    await pacs.cleanup();
  }
});

Deno.test("a port already in use: serve exits 1 naming the port, DICOM or HTTP", async () => {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-port-in-use-" });
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (busy.addr as Deno.NetAddr).port;
    await Deno.writeTextFile(
      `${dir}/c.toml`,
      `[server]\nbind = "127.0.0.1"\n[storage]\npath = "${dir}/data"\njournal_reserve_mb = 0\n` +
        `min_free_mb = 1\n[http]\nenabled = true\nport = 0\n`,
    );
    const dicom = await minipacs(["serve", "--config", `${dir}/c.toml`, "--port", String(port)]);
    assert.equal(dicom.code, 1);
    assert.match(
      dicom.stderr,
      new RegExp(
        `cannot listen for DICOM on 127\\.0\\.0\\.1:${port}: port ${port} is already in use`,
      ),
    );
    const http = await minipacs([
      "serve",
      "--config",
      `${dir}/c.toml`,
      "--port",
      "0",
      "--http-port",
      String(port),
    ]);
    assert.equal(http.code, 1);
    assert.match(
      http.stderr,
      new RegExp(
        `cannot listen for HTTP on 127\\.0\\.0\\.1:${port}: port ${port} is already in use`,
      ),
    );
  } finally {
    busy.close();
    await Deno.remove(dir, { recursive: true });
  }
});
