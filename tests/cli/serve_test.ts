// The running server as a sysadmin drives it: SIGHUP reloads [[known_ae]] and log.level
// without dropping associations; `[log] format = "json"` gives one JSON object per line.
import assert from "node:assert/strict";
import { AssociationRejectedError } from "../../src/core/ul/association.ts";
import { startMiniPacs } from "../helpers/server.ts";
import { echo, openAssociation } from "../helpers/scu.ts";
import { minipacs } from "./cli.ts";

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
