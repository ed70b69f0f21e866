// The server's start steps wired together, in process: it answers C-ECHO, serves its page,
// reloads [[known_ae]], and a stop (or a step that fails) gives back ports and the storage lock.
import assert from "node:assert/strict";
import { type Config, DEFAULT_CONFIG } from "../../src/config.ts";
import { startServer } from "../../src/app/server.ts";
import { RELEASE_AFTER_MS } from "../../src/app/idle_release.ts";
import { AssociationRejectedError } from "../../src/core/ul/requestor.ts";
import { echo, openAssociation, quietLogger } from "../helpers/scu.ts";

function configFor(dir: string, over: {
  server?: Partial<Config["server"]>;
  http?: Partial<Config["http"]>;
  knownAe?: Config["knownAe"];
} = {}): Config {
  const d = DEFAULT_CONFIG;
  return {
    ...d,
    server: { ...d.server, bind: "127.0.0.1", port: 0, ...over.server },
    storage: { ...d.storage, path: `${dir}/data` },
    http: { ...d.http, bind: "127.0.0.1", port: 0, ...over.http },
    knownAe: over.knownAe ?? [],
  };
}

/** A port nothing listens on right now. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** True when `port` can be listened on again (the server gave it back). */
function isFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-server-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("startServer answers C-ECHO and serves /, stop gives back both ports and the lock", () =>
  withTempDir(async (dir) => {
    const config = configFor(dir);
    const server = await startServer(config, quietLogger);
    const dicomPort = server.dicomPort;
    const httpPort = server.httpPort!;
    try {
      assert.ok(dicomPort > 0 && httpPort > 0);
      assert.equal(server.tlsPort, null);
      const assoc = await openAssociation(dicomPort);
      assert.equal(await echo(assoc), 0x0000);
      await assoc.release();
      const page = await fetch(`http://127.0.0.1:${httpPort}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /MINIPACS/);
    } finally {
      await server.stop();
    }
    await server.done;
    assert.ok(isFree(dicomPort), "DICOM port still taken after stop");
    assert.ok(isFree(httpPort), "HTTP port still taken after stop");
    // The storage lock is released: a second server on the same folder starts.
    const again = await startServer(config, quietLogger);
    await again.stop();
  }));

Deno.test("a second server on the same storage folder is refused while the first runs", () =>
  withTempDir(async (dir) => {
    const server = await startServer(configFor(dir), quietLogger);
    try {
      await assert.rejects(startServer(configFor(dir), quietLogger));
    } finally {
      await server.stop();
    }
  }));

Deno.test("an HTTP port in use fails the start and undoes the DICOM listener and the lock", () =>
  withTempDir(async (dir) => {
    const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const dicomPort = freePort();
    try {
      const config = configFor(dir, {
        server: { port: dicomPort },
        http: { port: (busy.addr as Deno.NetAddr).port },
      });
      await assert.rejects(startServer(config, quietLogger), /cannot listen for HTTP/);
      assert.ok(isFree(dicomPort), "DICOM port kept after a failed start");
      // Nothing else was left running (the test's leak check) and the lock is free.
      const ok = await startServer(configFor(dir), quietLogger);
      await ok.stop();
    } finally {
      busy.close();
    }
  }));

Deno.test("a DICOM port in use fails the start with its address and releases the lock", () =>
  withTempDir(async (dir) => {
    const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (busy.addr as Deno.NetAddr).port;
    try {
      await assert.rejects(
        startServer(configFor(dir, { server: { port } }), quietLogger),
        new RegExp(`cannot listen for DICOM on 127\\.0\\.0\\.1:${port}`),
      );
      const ok = await startServer(configFor(dir), quietLogger);
      await ok.stop();
    } finally {
      busy.close();
    }
  }));

Deno.test("reload lets a new [[known_ae]] in without restarting; other keys need a restart", () =>
  withTempDir(async (dir) => {
    const config = configFor(dir, { server: { accept: "known" } });
    const server = await startServer(config, quietLogger);
    try {
      await assert.rejects(
        openAssociation(server.dicomPort, { calling: "NEWCOMER" }),
        AssociationRejectedError,
      );
      const next = configFor(dir, {
        server: { accept: "known", maxAssociations: 7 },
        knownAe: [{ aeTitle: "NEWCOMER", host: "127.0.0.1", port: 105, maxAssociations: 1 }],
      });
      const result = server.reload(next);
      assert.deepEqual(result.applied, ["known_ae"]);
      assert.deepEqual(result.needsRestart, ["server.max_associations"]);
      const assoc = await openAssociation(server.dicomPort, { calling: "NEWCOMER" });
      assert.equal(await echo(assoc), 0x0000);
      await assoc.release();
    } finally {
      await server.stop();
    }
  }));

Deno.test("once quiet after a C-ECHO, the server runs its idle release, the association still open", () =>
  withTempDir(async (dir) => {
    const lines: string[] = [];
    const logger = { log: (level: string, message: string) => lines.push(`${level} ${message}`) };
    const server = await startServer(configFor(dir, { http: { enabled: false } }), logger);
    try {
      const released = () => lines.filter((l) => l.startsWith("debug idle release")).length;
      const assoc = await openAssociation(server.dicomPort);
      try {
        assert.equal(await echo(assoc), 0x0000);
        for (let i = 0; i < (RELEASE_AFTER_MS[0] + 5000) / 100 && !released(); i++) {
          await new Promise((r) => setTimeout(r, 100));
        }
        // A quiet association left open (a viewer between queries) does not keep it back.
        assert.equal(released(), 1, lines.join("\n"));
      } finally {
        await assoc.release();
      }
    } finally {
      await server.stop();
    }
  }));
