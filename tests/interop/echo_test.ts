// DCMTK's echoscu against the running server: association policies of the conformance
// statement (3.1.2, 3.1.3) as a real peer sees them.
import assert from "node:assert/strict";
import type { RequestorAssociation } from "../../src/core/ul/requestor.ts";
import { echo, openAssociation } from "../helpers/scu.ts";
import { hasTool, run, startMiniPacs } from "../helpers/server.ts";

const dcmtk = hasTool("echoscu");

Deno.test({
  name: "echoscu succeeds, and -d shows our implementation class UID, version and max PDU",
  ignore: !dcmtk,
  async fn() {
    const pacs = await startMiniPacs({ server: { max_pdu_length: 32768 } });
    try {
      const r = await run("echoscu", [
        "-d",
        "-aec",
        "MINIPACS",
        "-aet",
        "ECHOSCU",
        "127.0.0.1",
        String(pacs.port),
      ]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const out = r.stdout + r.stderr;
      assert.match(out, /Their Implementation Class UID:\s+1\.2\.276\.0\.7230010\.3\.0\.3\.6\.4/);
      assert.match(out, /Their Implementation Version Name:\s+MINIPACS_2_0/);
      assert.match(out, /Their Max PDU Receive Size:\s+32768/);
      assert.match(out, /Received Echo Response \(Success\)/);
      await pacs.waitForLog(/association accepted .*peer=ECHOSCU@127\.0\.0\.1/);
      await pacs.waitForLog(/association released/);
    } finally {
      await pacs.cleanup();
    }
  },
});

Deno.test({
  name: "echoscu with a wrong called AE title is rejected (called AE not recognized)",
  ignore: !dcmtk,
  async fn() {
    const pacs = await startMiniPacs();
    try {
      const r = await run("echoscu", ["-aec", "SOMEONEELSE", "127.0.0.1", String(pacs.port)]);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout + r.stderr, /Called AE Title Not Recognized/i);
      await pacs.waitForLog(/association rejected: called AE title "SOMEONEELSE" is not ours/);
      // The server still answers everyone else.
      const ok = await run("echoscu", ["-aec", "MINIPACS", "127.0.0.1", String(pacs.port)]);
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      await pacs.cleanup();
    }
  },
});

Deno.test({
  name: 'accept = "known": an unknown calling AE is rejected, a known one accepted',
  ignore: !dcmtk,
  async fn() {
    const pacs = await startMiniPacs({
      server: { accept: "known" },
      extraToml: '[[known_ae]]\nae_title = "FRIEND"\nhost = "127.0.0.1"\nport = 11112\n',
    });
    try {
      const stranger = await run("echoscu", [
        "-aet",
        "STRANGER",
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        String(pacs.port),
      ]);
      assert.notEqual(stranger.code, 0);
      assert.match(stranger.stdout + stranger.stderr, /Calling AE Title Not Recognized/i);
      const friend = await run("echoscu", [
        "-aet",
        "FRIEND",
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        String(pacs.port),
      ]);
      assert.equal(friend.code, 0, friend.stderr);
    } finally {
      await pacs.cleanup();
    }
  },
});

Deno.test({
  name: "max_associations + 1 simultaneous associations: exactly one is rejected, the rest work",
  ignore: !dcmtk,
  async fn() {
    const max = 4;
    const pacs = await startMiniPacs({ server: { max_associations: max } });
    const held: RequestorAssociation[] = [];
    try {
      for (let i = 0; i < max; i++) {
        held.push(await openAssociation(pacs.port, { calling: `HOLD${i}` }));
      }
      const extra = await run("echoscu", [
        "-aet",
        "EXTRA",
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        String(pacs.port),
      ]);
      assert.notEqual(extra.code, 0, "the association over the limit must be rejected");
      assert.match(
        extra.stdout + extra.stderr,
        /Transient.*Local Limit Exceeded|Local Limit Exceeded/is,
      );
      await pacs.waitForLog(/association rejected: too many associations/);
      for (const a of held) assert.equal(await echo(a), 0x0000);
      await held.pop()!.release();
      await pacs.waitForLog(new RegExp(`association released .*peer=HOLD${max - 1}@`));
      const again = await run("echoscu", ["-aec", "MINIPACS", "127.0.0.1", String(pacs.port)]);
      assert.equal(again.code, 0, "a slot freed by a release is usable again");
    } finally {
      for (const a of held) await a.abort().catch(() => {});
      await pacs.cleanup();
    }
  },
});

Deno.test({
  name:
    "known_ae max_incoming = 1: a second association from that AE is rejected (transient), others not",
  ignore: !dcmtk,
  async fn() {
    const pacs = await startMiniPacs({
      extraToml: '[[known_ae]]\nae_title = "HOLDER"\nhost = "127.0.0.1"\nport = 11112\n' +
        "max_incoming = 1\n",
    });
    let held: RequestorAssociation | undefined;
    const echoscu = (aet: string) =>
      run("echoscu", ["-aet", aet, "-aec", "MINIPACS", "127.0.0.1", String(pacs.port)]);
    try {
      // Trailing spaces in the calling AE title are not significant.
      held = await openAssociation(pacs.port, { calling: "HOLDER  " });
      const second = await echoscu("HOLDER");
      assert.notEqual(second.code, 0, "HOLDER already has its one association");
      const out = second.stdout + second.stderr;
      assert.match(out, /Association Rejected/i, out);
      assert.match(
        out,
        /Result:\s*Rejected Transient, Source:\s*Service Provider \(Presentation Related\)/i,
        out,
      );
      assert.match(out, /Reason:\s*Local Limit Exceeded/i, out);
      await pacs.waitForLog(
        /WARN\s+association rejected: calling AE title "HOLDER" already has its max_incoming = 1/,
      );
      const other = await echoscu("OTHER");
      assert.equal(other.code, 0, other.stderr + other.stdout);
      // The held association still works, and once released HOLDER is welcome again.
      assert.equal(await echo(held), 0x0000);
      await held.release();
      held = undefined;
      await pacs.waitForLog(/association released .*peer=HOLDER@/);
      const again = await echoscu("HOLDER");
      assert.equal(again.code, 0, again.stderr + again.stdout);
      // A reload raising the limit applies to the next association at once.
      if (Deno.build.os !== "windows") {
        held = await openAssociation(pacs.port, { calling: "HOLDER" });
        const config = `${pacs.dir}/config.toml`;
        const text = await Deno.readTextFile(config);
        await Deno.writeTextFile(config, text.replace("max_incoming = 1", "max_incoming = 2"));
        pacs.child.kill("SIGHUP");
        await pacs.waitForLog(/configuration reloaded applied=known_ae/);
        const raised = await echoscu("HOLDER");
        assert.equal(raised.code, 0, raised.stderr + raised.stdout);
      }
    } finally {
      await held?.abort().catch(() => {});
      await pacs.cleanup();
    }
  },
});
