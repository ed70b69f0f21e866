// The TCP adapter: keepalive on every accepted and every outgoing connection, so a peer that
// vanished without a FIN is noticed. `ss -o` shows a keepalive timer on such sockets.
import assert from "node:assert/strict";
import { listenTcp, type TcpConnection, tcpConnector } from "../../src/net/tcp.ts";

const hasSs = await new Deno.Command("ss", { args: ["-V"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success).catch(() => false);
if (!hasSs) console.log("SKIP: keepalive tests need `ss` (package iproute2)");

/** The socket's timer as `ss -tno` shows it, for the connection with this local port. */
async function timerOf(localPort: number): Promise<string> {
  const out = await new Deno.Command("ss", {
    args: ["-tnoH", "state", "established", `( sport = :${localPort} )`],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name: "accepted and outgoing TCP connections have keepalive on",
  ignore: !hasSs,
  async fn() {
    const accepted: TcpConnection[] = [];
    const listener = listenTcp("127.0.0.1", 0, (c) => accepted.push(c));
    let outgoing;
    try {
      outgoing = await tcpConnector.connect("127.0.0.1", listener.port, 2000);
      for (let i = 0; i < 100 && accepted.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(accepted.length, 1);
      const serverSide = await timerOf(listener.port);
      assert.match(serverSide, /timer:\(keepalive/, `accepted socket: ${serverSide}`);
      const clientPort = Number(accepted[0].remote.split(":").pop());
      const clientSide = await timerOf(clientPort);
      assert.match(clientSide, /timer:\(keepalive/, `outgoing socket: ${clientSide}`);
    } finally {
      outgoing?.close();
      for (const c of accepted) c.close();
      listener.close();
      await listener.done;
    }
  },
});
