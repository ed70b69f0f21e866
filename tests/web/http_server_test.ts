// The web app on a real socket: listens on the port asked (0: any free one), answers, and
// after stop() the port is closed and the index reader released.
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config.ts";
import { ServerStats } from "../../src/app/stats.ts";
import { IndexDb } from "../../src/storage/index_db.ts";
import { startWebServer } from "../../src/web/http_server.ts";
import { MemoryLogger } from "../storage/fixtures.ts";

Deno.test("startWebServer() serves on a free loopback port and stops cleanly", async () => {
  const root = await Deno.makeTempDir({ prefix: "minipacs-http-" });
  const index = IndexDb.open(`${root}/index.sqlite`);
  const logger = new MemoryLogger();
  try {
    await Deno.mkdir(`${root}/tmp`);
    const config = parseConfig(`[storage]\npath = "${root}"\nmin_free_mb = 1\n`, "test.toml");
    const server = startWebServer({
      bind: "127.0.0.1",
      port: 0,
      logger,
      config: () => config,
      stats: new ServerStats(),
      storage: {
        root,
        openReader: () => index.openReader(),
        freeBytes: () => Promise.resolve(1e12),
      },
      dicomPort: () => 11112,
    });
    try {
      assert.ok(server.port > 0);
      const r = await fetch(`http://127.0.0.1:${server.port}/healthz`);
      assert.equal(r.status, 200);
      assert.equal((await r.json()).status, "ok");
      const status = await fetch(`http://127.0.0.1:${server.port}/api/status`);
      assert.equal((await status.json()).httpPort, server.port);
    } finally {
      await server.stop();
    }
    await assert.rejects(fetch(`http://127.0.0.1:${server.port}/healthz`));
    assert.ok(logger.lines.some((l) => l.message === "HTTP listening"), "logged");
  } finally {
    index.close();
    await Deno.remove(root, { recursive: true });
  }
});
