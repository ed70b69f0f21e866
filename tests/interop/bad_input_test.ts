// Bad input over a raw TCP socket: each ends only that association, logs a line, and the
// server goes on answering C-ECHO (issue "Bad input"; PS3.8 9.2 error paths).
import assert from "node:assert/strict";
import { encodePdu } from "../../src/core/ul/pdu_encode.ts";
import { AAssociateRq, PduType } from "../../src/core/ul/pdu_types.ts";
import { echo, openAssociation } from "../helpers/scu.ts";
import { MiniPacs, startMiniPacs } from "../helpers/server.ts";

function associateRq(): Uint8Array {
  const rq: AAssociateRq = {
    type: PduType.AAssociateRq,
    protocolVersion: 1,
    calledAeTitle: "MINIPACS",
    callingAeTitle: "RAWPEER",
    applicationContext: "1.2.840.10008.3.1.1.1",
    presentationContexts: [{
      id: 1,
      abstractSyntax: "1.2.840.10008.1.1",
      transferSyntaxes: ["1.2.840.10008.1.2"],
    }],
    userInformation: {
      maxLength: 16384,
      implementationClassUid: "1.2.3.4",
      roleSelections: [],
      extendedNegotiations: [],
      commonExtendedNegotiations: [],
      unknown: [],
    },
  };
  return encodePdu(rq);
}

function header(type: number, length: number): Uint8Array {
  const b = new Uint8Array(6);
  b[0] = type;
  new DataView(b.buffer).setUint32(2, length);
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

/** Sends bytes, then reads until the server closes (or 10 s), returning what it sent. */
async function sendRaw(
  port: number,
  steps: Uint8Array[],
  waitForReplyBetween = false,
): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const received: Uint8Array[] = [];
  const reader = (async () => {
    const buf = new Uint8Array(65536);
    for (let i = 0; i < 1000; i++) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return;
      received.push(buf.slice(0, n));
    }
  })();
  for (const s of steps) {
    await conn.write(s).catch(() => 0);
    if (waitForReplyBetween) await new Promise((r) => setTimeout(r, 150));
  }
  const timeout = new Promise((r) => setTimeout(r, 10000, "timeout"));
  const outcome = await Promise.race([reader, timeout]);
  try {
    conn.close();
  } catch { /* closed */ }
  assert.notEqual(outcome, "timeout", "the server must end the connection");
  return concat(...received);
}

async function stillServes(pacs: MiniPacs): Promise<void> {
  const assoc = await openAssociation(pacs.port);
  try {
    assert.equal(await echo(assoc), 0);
  } finally {
    await assoc.release();
  }
}

/** The last PDU type the server sent (A-ABORT = 7), or null when it just closed. */
function lastPduType(bytes: Uint8Array): number | null {
  let at = 0;
  let last: number | null = null;
  while (at + 6 <= bytes.length) {
    last = bytes[at];
    at += 6 + new DataView(bytes.buffer, bytes.byteOffset + at + 2, 4).getUint32(0);
  }
  return last;
}

const cases: { name: string; steps: () => Uint8Array[]; log: RegExp; expectAbort: boolean }[] = [
  {
    name: "garbage bytes",
    steps: () => [new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n")],
    log: /protocol error: .*aborting/,
    expectAbort: true,
  },
  {
    name: "an unknown PDU type",
    steps: () => [concat(header(0x09, 4), new Uint8Array(4))],
    log: /protocol error: .*aborting/,
    expectAbort: true,
  },
  {
    name: "a PDU whose length field says more than is sent, then silence and close",
    steps: () => [concat(header(0x01, 5000), new Uint8Array(20))],
    log: /closed by peer|protocol error|ARTIM/,
    expectAbort: false,
  },
  {
    name: "an A-ASSOCIATE-RQ whose length field says less than its items",
    steps: () => {
      const rq = associateRq();
      new DataView(rq.buffer).setUint32(2, rq.length - 6 - 40);
      return [rq];
    },
    log: /protocol error: .*aborting/,
    expectAbort: true,
  },
  {
    name: "a P-DATA PDU larger than our maximum (refused from its header)",
    steps: () => [associateRq(), header(0x04, 1 << 30)],
    log: /protocol error: .*aborting/,
    expectAbort: true,
  },
  {
    name: "a PDV that runs past its PDU",
    steps: () => {
      const pdata = concat(
        header(0x04, 12),
        new Uint8Array([0, 0, 0, 200, 1, 3]),
        new Uint8Array(6),
      );
      return [associateRq(), pdata];
    },
    log: /protocol error: .*aborting/,
    expectAbort: true,
  },
  {
    name: "a P-DATA before the association is established",
    steps: () => [concat(header(0x04, 8), new Uint8Array([0, 0, 0, 2, 1, 3]), new Uint8Array(2))],
    log: /association aborted|unexpected|protocol error/,
    expectAbort: true,
  },
  {
    name: "a second A-ASSOCIATE-RQ on an established association",
    steps: () => [associateRq(), associateRq()],
    log: /association aborted|unexpected|protocol error/,
    expectAbort: true,
  },
];

for (const c of cases) {
  Deno.test(`bad input: ${c.name} ends only that association, and C-ECHO still works`, async () => {
    const pacs = await startMiniPacs({ server: { artim_timeout_s: 2 } });
    try {
      const reply = await sendRaw(pacs.port, c.steps(), true);
      if (c.expectAbort) {
        assert.equal(lastPduType(reply), PduType.AAbort, "the server answers with A-ABORT");
      }
      await pacs.waitForLog(c.log, 5000);
      await stillServes(pacs);
    } finally {
      await pacs.cleanup();
    }
  });
}

Deno.test("a peer that connects and says nothing delays the next association by far less than a second", async () => {
  const pacs = await startMiniPacs({ server: { artim_timeout_s: 30 } });
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: pacs.port });
  try {
    const t0 = performance.now();
    await stillServes(pacs);
    const ms = performance.now() - t0;
    assert.ok(ms < 500, `echo took ${ms.toFixed(0)} ms while a silent peer was connected`);
  } finally {
    silent.close();
    await pacs.cleanup();
  }
});

Deno.test("a silent peer is dropped when the ARTIM timer expires", async () => {
  const pacs = await startMiniPacs({ server: { artim_timeout_s: 1 } });
  try {
    const reply = await sendRaw(pacs.port, []);
    assert.equal(reply.length, 0);
    await stillServes(pacs);
  } finally {
    await pacs.cleanup();
  }
});
