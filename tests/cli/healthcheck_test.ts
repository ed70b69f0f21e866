// `minipacs healthcheck`: exit 0 only when /healthz answers 2xx; the URL follows [http].
import assert from "node:assert/strict";
import { healthUrl } from "../../src/cli/healthcheck.ts";
import { freePort, minipacs } from "./cli.ts";

/** A stand-in web server whose /healthz answers with `status`. */
function webServer(status: number) {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/healthz"
        ? new Response(status === 200 ? "ok" : "storage unavailable", { status })
        : new Response("not found", { status: 404 }),
  );
}

Deno.test("healthcheck exits 0 on a 2xx /healthz and 1 on an error status", async () => {
  const healthy = webServer(200);
  const sick = webServer(503);
  try {
    const ok = await minipacs([
      "healthcheck",
      "--url",
      `http://127.0.0.1:${healthy.addr.port}/healthz`,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /HTTP 200 ok/);
    const bad = await minipacs([
      "healthcheck",
      "--url",
      `http://127.0.0.1:${sick.addr.port}/healthz`,
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /HTTP 503 storage unavailable/);
  } finally {
    await healthy.shutdown();
    await sick.shutdown();
  }
});

Deno.test("healthcheck finds /healthz from [http] in the configuration", async () => {
  const web = webServer(200);
  const dir = await Deno.makeTempDir({ prefix: "minipacs-health-" });
  try {
    const config = `${dir}/config.toml`;
    await Deno.writeTextFile(config, `[http]\nbind = "0.0.0.0"\nport = ${web.addr.port}\n`);
    const ok = await minipacs(["healthcheck"], { env: { MINIPACS_CONFIG: config } });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(
      ok.stdout,
      new RegExp(`^http://127\\.0\\.0\\.1:${web.addr.port}/healthz: HTTP 200`),
    );
    await Deno.writeTextFile(config, `[http]\nenabled = false\n`);
    const off = await minipacs(["healthcheck", "--config", config]);
    assert.equal(off.code, 1);
    assert.match(off.stderr, /http\.enabled is false/);
  } finally {
    await web.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("healthcheck exits 1 when nothing answers", async () => {
  const r = await minipacs(["healthcheck", "--url", `http://127.0.0.1:${freePort()}/healthz`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /healthcheck: http:\/\/127\.0\.0\.1:\d+\/healthz: .*(refused|error)/i);
});

Deno.test("healthUrl() reaches a wildcard bind over loopback", () => {
  assert.equal(healthUrl("0.0.0.0", 8080), "http://127.0.0.1:8080/healthz");
  assert.equal(healthUrl("::", 8080), "http://[::1]:8080/healthz");
  assert.equal(healthUrl("10.0.0.5", 80), "http://10.0.0.5:80/healthz");
});
