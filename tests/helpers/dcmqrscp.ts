// DCMTK dcmqrscp on loopback: one AE (QRSCP) with its own storage area, and the C-MOVE
// destinations it may send to.
import { freePort } from "../cli/cli.ts";

export interface Dcmqrscp {
  port: number;
  stop(): Promise<void>;
}

export async function startDcmqrscp(
  dir: string,
  destinations: { aeTitle: string; port: number }[] = [],
): Promise<Dcmqrscp> {
  const port = freePort();
  await Deno.mkdir(`${dir}/db`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/dcmqrscp.cfg`,
    [
      `NetworkTCPPort = ${port}`,
      "MaxPDUSize = 16384",
      "MaxAssociations = 16",
      "HostTable BEGIN",
      ...destinations.map((d) => `${d.aeTitle} = (${d.aeTitle}, 127.0.0.1, ${d.port})`),
      "HostTable END",
      "VendorTable BEGIN",
      "VendorTable END",
      "AETable BEGIN",
      `QRSCP ${dir}/db RW (50, 64mb) ANY`,
      "AETable END",
      "",
    ].join("\n"),
  );
  // One process per association (its single-process mode crashes after a release in 3.6.7).
  const child = new Deno.Command("dcmqrscp", {
    args: ["-c", `${dir}/dcmqrscp.cfg`],
    env: { TCP_NODELAY: "1" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
  };
  for (let i = 0; i < 100; i++) { // bounded: about 5 s
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return { port, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await stop();
  throw new Error("dcmqrscp did not start listening");
}
