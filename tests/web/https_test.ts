// [http] certificate + private_key: the status page and the JSON API over HTTPS only.
import assert from "node:assert/strict";
import { minipacs } from "../cli/cli.ts";
import { hasOpenssl, makeCertificates } from "../helpers/certificates.ts";
import { hasTool, MAIN, run, startMiniPacs } from "../helpers/server.ts";

const ready = hasOpenssl() && hasTool("curl");

Deno.test({
  name: "HTTPS: the status page and /api/status with curl --cacert; plain HTTP to the port fails",
  ignore: !ready,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-https-" });
    const c = await makeCertificates(dir);
    const pacs = await startMiniPacs({
      http: {
        enabled: true,
        port: 0,
        certificate: c.serverCert,
        private_key: c.serverKey,
      },
    });
    try {
      await pacs.waitForLog(/HTTPS listening/);
      const base = `https://127.0.0.1:${pacs.httpPort}`;
      const page = await run("curl", ["-sS", "--max-time", "10", "--cacert", c.ca, `${base}/`]);
      assert.equal(page.code, 0, page.stderr);
      assert.match(page.stdout, /MINIPACS/);
      const api = await run("curl", [
        "-sS",
        "--max-time",
        "10",
        "--cacert",
        c.ca,
        `${base}/api/status`,
      ]);
      assert.equal(api.code, 0, api.stderr);
      assert.equal(JSON.parse(api.stdout).aeTitle, "MINIPACS");
      // The host name is checked too: the certificate is for localhost and 127.0.0.1.
      const local = await run("curl", [
        "-sS",
        "--max-time",
        "10",
        "--cacert",
        c.ca,
        `https://localhost:${pacs.httpPort}/api/status`,
      ]);
      assert.equal(local.code, 0, local.stderr);
      // Without our CA curl refuses the certificate.
      const untrusted = await run("curl", ["-sS", "--max-time", "10", `${base}/api/status`]);
      assert.notEqual(untrusted.code, 0);
      // Plain HTTP to the HTTPS port gets no HTTP answer.
      const plain = await run("curl", [
        "-sS",
        "--max-time",
        "10",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        `http://127.0.0.1:${pacs.httpPort}/api/status`,
      ]);
      assert.ok(plain.code !== 0 || plain.stdout !== "200", `plain HTTP answered: ${plain.stdout}`);
      assert.notEqual(plain.stdout, "200");
      // The health check speaks HTTPS too, given the CA.
      const health = await minipacs([
        "healthcheck",
        "--url",
        `${base}/healthz`,
        "--ca",
        c.ca,
      ]);
      assert.equal(health.code, 0, health.stderr);
      // And the server goes on serving HTTPS.
      const again = await run("curl", ["-sS", "--max-time", "10", "--cacert", c.ca, `${base}/`]);
      assert.equal(again.code, 0, again.stderr);
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "HTTPS: a key that does not match the certificate stops the start (exit 2, one line)",
  ignore: !hasOpenssl(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-https-" });
    try {
      const c = await makeCertificates(dir);
      const other = await c.issue("else.example");
      await Deno.writeTextFile(
        `${dir}/config.toml`,
        [
          "[server]",
          'bind = "127.0.0.1"',
          "port = 0",
          "[storage]",
          `path = ${JSON.stringify(`${dir}/data`)}`,
          "journal_reserve_mb = 0",
          "[http]",
          "port = 0",
          `certificate = ${JSON.stringify(c.serverCert)}`,
          `private_key = ${JSON.stringify(other.key)}`,
        ].join("\n"),
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, "serve", "--config", `${dir}/config.toml`],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(20_000),
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 2, stderr);
      const lines = stderr.trim().split("\n").filter((l) => !/ INFO /.test(l));
      assert.equal(lines.length, 1, stderr);
      assert.match(lines[0], /http\.private_key: does not match the certificate/);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
