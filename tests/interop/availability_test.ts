// Peers that stall or never speak cannot lock the server out: silent TCP connections do not
// count as associations (the oldest goes when too many wait), a store that stops mid-dataset
// is aborted after idle_timeout_s, and closed connections stop counting at once.
import assert from "node:assert/strict";
import { CommandField } from "../../src/core/dimse/command.ts";
import type { RequestorAssociation } from "../../src/core/ul/requestor.ts";
import { echo, IMPLICIT_LE, openAssociation, VERIFICATION } from "../helpers/scu.ts";
import { startMiniPacs } from "../helpers/server.ts";

const CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2";

async function silentConnections(port: number, n: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < n; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
  return conns;
}

/** True once the server has closed this connection (read gives EOF or an error). */
async function closedByServer(conn: Deno.TcpConn, timeoutMs: number): Promise<boolean> {
  const buf = new Uint8Array(1024);
  let t: ReturnType<typeof setTimeout> | undefined;
  const timer = new Promise<"open">((r) => (t = setTimeout(() => r("open"), timeoutMs)));
  const read = (async () => {
    for (let i = 0; i < 100; i++) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return "closed" as const;
    }
    return "open" as const;
  })();
  const outcome = await Promise.race([read, timer]);
  clearTimeout(t);
  return outcome === "closed";
}

async function openEchoes(port: number, n: number): Promise<RequestorAssociation[]> {
  const settled = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => openAssociation(port, { calling: `SCU${i}` })),
  );
  const open = settled.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
  const failed = settled.flatMap((s) => s.status === "rejected" ? [String(s.reason)] : []);
  if (failed.length) {
    await Promise.all(open.map((a) => a.abort()));
    assert.fail(`${failed.length} of ${n} associations refused: ${failed[0]}`);
  }
  return open;
}

Deno.test("silent connections at the default limits never refuse a real association", async () => {
  const pacs = await startMiniPacs();
  let silent: Deno.TcpConn[] = [];
  try {
    // 60 sockets that send nothing: more than max_associations (50) and the pending budget.
    silent = await silentConnections(pacs.port, 60);
    const assocs = await openEchoes(pacs.port, 5);
    for (const a of assocs) assert.equal(await echo(a), 0);
    await Promise.all(assocs.map((a) => a.release()));
    // The pending budget (50) was full: the oldest silent sockets were closed.
    assert.ok(await closedByServer(silent[0], 3000), "the oldest silent connection was closed");
    await pacs.waitForLog(/INFO .*too many connections without an A-ASSOCIATE-RQ/);
  } finally {
    for (const c of silent) c.close();
    await pacs.cleanup();
  }
});

Deno.test("with small limits: silent connections don't count, the oldest pending goes", async () => {
  const pacs = await startMiniPacs({
    server: { max_associations: 3, max_pending_connections: 4 },
  });
  let silent: Deno.TcpConn[] = [];
  try {
    silent = await silentConnections(pacs.port, 5);
    assert.ok(await closedByServer(silent[0], 3000), "the oldest of 5 pending (budget 4) went");
    const assocs = await openEchoes(pacs.port, 3);
    for (const a of assocs) assert.equal(await echo(a), 0);
    // The fourth association is over max_associations: refused as before.
    await assert.rejects(openAssociation(pacs.port, { calling: "ONEMORE" }), /reject/i);
    await Promise.all(assocs.map((a) => a.release()));
  } finally {
    for (const c of silent) c.close();
    await pacs.cleanup();
  }
});

Deno.test("close 10 half-open connections and at once open max_associations: all accepted", async () => {
  const pacs = await startMiniPacs({ server: { max_associations: 5 } });
  try {
    const halfOpen = await silentConnections(pacs.port, 10);
    // Each sends the start of an A-ASSOCIATE-RQ and never the rest.
    for (const c of halfOpen) await c.write(new Uint8Array([0x01, 0x00, 0x00, 0x00, 0x00, 0xcd]));
    for (const c of halfOpen) c.close();
    const assocs = await openEchoes(pacs.port, 5);
    for (const a of assocs) assert.equal(await echo(a), 0);
    await Promise.all(assocs.map((a) => a.release()));
  } finally {
    await pacs.cleanup();
  }
});

Deno.test("stores stalled mid-dataset are aborted after idle_timeout_s and free their slots", async () => {
  const pacs = await startMiniPacs({ server: { max_associations: 2, idle_timeout_s: 1 } });
  const stallers: RequestorAssociation[] = [];
  let release!: () => void;
  const never = new Promise<void>((r) => (release = r));
  try {
    for (let i = 0; i < 2; i++) {
      const assoc = await openAssociation(pacs.port, {
        calling: `STALL${i}`,
        contexts: [{ id: 1, abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [IMPLICIT_LE] }],
      });
      stallers.push(assoc);
      const partOfADataset = async function* () {
        yield new Uint8Array(300_000); // a few PDUs of the dataset (at the largest PDU length)...
        await never; // ...and then silence
      };
      void assoc.request(1, {
        commandField: CommandField.CStoreRq,
        commandDataSetType: 0,
        affectedSopClassUid: CT_IMAGE_STORAGE,
        affectedSopInstanceUid: `1.2.3.${i}`,
      }, partOfADataset()).catch(() => {});
    }
    // Both slots are held now; within a few idle timeouts both stalled stores are aborted.
    await pacs.waitForLog(/WARN .*peer sent nothing .*C-STORE-RQ dataset: aborting.*STALL0/, 8000);
    await pacs.waitForLog(/WARN .*peer sent nothing .*C-STORE-RQ dataset: aborting.*STALL1/, 8000);
    const assoc = await openAssociation(pacs.port, {
      contexts: [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] }],
    });
    assert.equal(await echo(assoc), 0);
    await assoc.release();
  } finally {
    release();
    for (const a of stallers) await a.abort().catch(() => {});
    await pacs.cleanup();
  }
});
