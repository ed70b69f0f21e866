// storescp +tls for tests: a DICOM over TLS destination that requires a client certificate.
import { freePort } from "./peers.ts";
import type { CertificateSet } from "./certificates.ts";
import { run } from "./server.ts";

/** storescp +tls on a free port, requiring a client certificate from the test CA. */
export async function startTlsStorescp(
  c: CertificateSet,
  cert: { cert: string; key: string },
  client: { cert: string; key: string },
) {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-storescp-tls-" });
  const port = freePort();
  const child = new Deno.Command("storescp", {
    args: ["+tls", cert.key, cert.cert, "+cf", c.ca, "-aet", "DEST", "-od", dir, String(port)],
    env: { TCP_NODELAY: "1" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  let up = false;
  for (let i = 0; i < 100 && !up; i++) { // bounded: about 10 s
    const r = await run("echoscu", [
      "+tls",
      client.key,
      client.cert,
      "+cf",
      c.ca,
      "-aec",
      "DEST",
      "127.0.0.1",
      String(port),
    ]);
    up = r.code === 0;
    if (!up) await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    dir,
    async files(): Promise<string[]> {
      const names: string[] = [];
      for await (const e of Deno.readDir(dir)) names.push(e.name);
      return names;
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** The [tls] section of a MiniPACS with the test CA's server certificate, on a free port. */
export function tlsToml(c: CertificateSet): string {
  return [
    "[tls]",
    "enabled = true",
    "port = 0",
    `certificate = ${JSON.stringify(c.serverCert)}`,
    `private_key = ${JSON.stringify(c.serverKey)}`,
    `ca_certificates = ${JSON.stringify(c.ca)}`,
  ].join("\n");
}

/** Two [[known_ae]] at the same storescp +tls: DEST over TLS, PLAINDEST without. */
export function destinationsToml(port: number): string {
  return [
    "[[known_ae]]",
    'ae_title = "DEST"',
    'host = "127.0.0.1"',
    `port = ${port}`,
    "tls = true",
    "[[known_ae]]",
    'ae_title = "PLAINDEST"',
    'host = "127.0.0.1"',
    `port = ${port}`,
  ].join("\n");
}
