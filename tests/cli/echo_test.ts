// `minipacs echo`: against our own server and DCMTK storescp; failures exit 1 with the reason.
import assert from "node:assert/strict";
import { hasTool, startMiniPacs } from "../helpers/server.ts";
import { freePort, minipacs, startStoreScp } from "./cli.ts";

const RTT = /status 0x0000 success, round trip \d+\.\d ms \(association set-up \d+\.\d ms\)/;

Deno.test("echo gets Success from MiniPACS, prints the round trip and exits 0", async () => {
  const pacs = await startMiniPacs();
  try {
    const r = await minipacs(["echo", `MINIPACS@127.0.0.1:${pacs.port}`, "--aet", "ECHOER"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, RTT);
    assert.match(r.stdout, /^C-ECHO MINIPACS@127\.0\.0\.1:\d+ as ECHOER:/);
    await pacs.waitForLog(/association released .*peer=ECHOER@127\.0\.0\.1/);
  } finally {
    await pacs.cleanup();
  }
});

Deno.test({
  name: "echo gets Success from DCMTK storescp",
  ignore: !hasTool("storescp"),
  async fn() {
    const scp = await startStoreScp("ANYSCP");
    try {
      const r = await minipacs(["echo", `ANYSCP@127.0.0.1:${scp.port}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, RTT);
    } finally {
      await scp.stop();
    }
  },
});

Deno.test("echo exits 1 naming the reason when the association is rejected", async () => {
  const pacs = await startMiniPacs({
    server: { accept: "known" },
    extraToml: '[[known_ae]]\nae_title = "FRIEND"\nhost = "127.0.0.1"\nport = 104\n',
  });
  try {
    const stranger = await minipacs([
      "echo",
      `MINIPACS@127.0.0.1:${pacs.port}`,
      "--aet",
      "STRANGER",
    ]);
    assert.equal(stranger.code, 1);
    assert.equal(stranger.stdout, "");
    assert.match(stranger.stderr, /rejected the association: calling AE title not recognized/);
    const wrongCalled = await minipacs(["echo", `NOTUS@127.0.0.1:${pacs.port}`, "--aet", "FRIEND"]);
    assert.equal(wrongCalled.code, 1);
    assert.match(wrongCalled.stderr, /called AE title not recognized/);
    const friend = await minipacs(["echo", `MINIPACS@127.0.0.1:${pacs.port}`, "--aet", "FRIEND"]);
    assert.equal(friend.code, 0, friend.stderr);
  } finally {
    await pacs.cleanup();
  }
});

Deno.test("echo exits 1 when nothing listens, and 1 when the peer never answers", async () => {
  const refused = await minipacs(["echo", `PACS@127.0.0.1:${freePort()}`]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /cannot connect to PACS@127\.0\.0\.1:\d+/);
  // A peer that accepts the connection and says nothing.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of silent) held.push(c);
  })();
  try {
    const port = (silent.addr as Deno.NetAddr).port;
    const r = await minipacs(["echo", `PACS@127.0.0.1:${port}`, "--timeout", "0.5"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no answer within 0\.5 s/);
  } finally {
    silent.close();
    for (const c of held) c.close();
    await accepting.catch(() => {});
  }
});

Deno.test("echo refuses a malformed target or AE title with exit 2", async () => {
  for (
    const [args, pattern] of [
      [["echo", "127.0.0.1:104"], /expected AET@host:port/],
      [["echo", "PACS@127.0.0.1:70000"], /port must be 1 to 65535/],
      [["echo", "A_VERY_LONG_AE_TITLE@h:104"], /called AE title must be 1 to 16/],
      [["echo", "PACS@h:104", "--aet", "BACK\\SLASH"], /--aet must be 1 to 16/],
      [["echo"], /echo takes one AET@host:port/],
    ] as const
  ) {
    const r = await minipacs([...args]);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.stderr, pattern);
  }
});
