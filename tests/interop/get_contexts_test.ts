// A C-GET caller proposing many storage contexts, each with an SCP/SCU Role Selection item,
// against the real server over TCP. The A-ASSOCIATE-RQ is written and the answer read byte by
// byte here (PS3.8 9.3.2, 9.3.3, D.3.3.4), independently of the server's own PDU codec, so a
// fault in that codec cannot hide itself. pynetdicom found A-ASSOCIATE-ACs over 512 bytes
// corrupted or never sent; every count of storage contexts from 1 to 127 is tried.
import assert from "node:assert/strict";
import {
  NON_PATIENT_STORAGE_SOP_CLASSES,
  STORAGE_SOP_CLASSES,
} from "../../src/core/dicom/sop_classes.ts";
import { type MiniPacs, startMiniPacs } from "../helpers/server.ts";

const STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3";
const IMPLICIT_LE = "1.2.840.10008.1.2";
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const STORAGE = [...STORAGE_SOP_CLASSES.keys()].filter((u) =>
  !NON_PATIENT_STORAGE_SOP_CLASSES.has(u)
);

const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array) => String.fromCharCode(...b).replace(/[\0 ]+$/, "");

/** Type, reserved byte, 2-byte big-endian length, data (PS3.8 9.3.2). */
function item(type: number, ...parts: Uint8Array[]): Uint8Array {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(4 + length);
  out[0] = type;
  new DataView(out.buffer).setUint16(2, length);
  let at = 4;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

const u16 = (v: number) => new Uint8Array([v >> 8, v & 0xff]);
const u32 = (v: number) => new Uint8Array([v >>> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]);
const join = (parts: Uint8Array[]) => item(0, ...parts).subarray(4);

function associateRq(storage: string[], transferSyntaxes: string[]): Uint8Array {
  const contexts = [STUDY_ROOT_GET, ...storage].map((uid, k) =>
    item(
      0x20,
      new Uint8Array([2 * k + 1, 0, 0, 0]),
      item(0x30, latin1(uid)),
      ...(k === 0 ? [IMPLICIT_LE] : transferSyntaxes).map((ts) => item(0x40, latin1(ts))),
    )
  );
  const roles = storage.map((uid) =>
    item(0x54, u16(uid.length), latin1(uid), new Uint8Array([0, 1])) // SCU role no, SCP role yes
  );
  const body = join([
    u16(1), // protocol version
    u16(0),
    latin1("MINIPACS".padEnd(16)),
    latin1("RAWGET".padEnd(16)),
    new Uint8Array(32),
    item(0x10, latin1("1.2.840.10008.3.1.1.1")),
    ...contexts,
    item(
      0x50,
      item(0x51, u32(16384)),
      item(0x52, latin1("1.2.826.0.1.3680043.9.7433.9")),
      ...roles,
    ),
  ]);
  return join([new Uint8Array([0x01, 0]), u32(body.length), body]);
}

interface AcceptAnswer {
  type: number;
  contexts: Map<number, { result: number; ts: string }>;
  roles: Map<string, { scu: number; scp: number }>;
  maxLength?: number;
}

/** Walks an A-ASSOCIATE-AC's items (PS3.8 9.3.3) with bounds checks of its own. */
function decodeAnswer(pdu: Uint8Array): AcceptAnswer {
  const view = new DataView(pdu.buffer, pdu.byteOffset, pdu.byteLength);
  const answer: AcceptAnswer = { type: pdu[0], contexts: new Map(), roles: new Map() };
  if (pdu[0] !== 0x02) return answer;
  const items = (from: number, to: number) => {
    const out: { type: number; at: number; end: number }[] = [];
    for (let at = from; at < to;) {
      assert.ok(at + 4 <= to, `item header at ${at} runs past ${to}`);
      const end = at + 4 + view.getUint16(at + 2);
      assert.ok(end <= to, `item 0x${pdu[at].toString(16)} at ${at} runs past ${to}`);
      out.push({ type: pdu[at], at: at + 4, end });
      at = end;
    }
    return out;
  };
  for (const it of items(6 + 68, pdu.length)) {
    if (it.type === 0x21) {
      const sub = items(it.at + 4, it.end).find((s) => s.type === 0x40);
      answer.contexts.set(pdu[it.at], {
        result: pdu[it.at + 2],
        ts: sub ? text(pdu.subarray(sub.at, sub.end)) : "",
      });
    } else if (it.type === 0x50) {
      for (const sub of items(it.at, it.end)) {
        if (sub.type === 0x51) answer.maxLength = view.getUint32(sub.at);
        if (sub.type === 0x54) {
          const n = view.getUint16(sub.at);
          const uid = text(pdu.subarray(sub.at + 2, sub.at + 2 + n));
          answer.roles.set(uid, { scu: pdu[sub.at + 2 + n], scp: pdu[sub.at + 3 + n] });
        }
      }
    }
  }
  return answer;
}

/** Reads one whole PDU (bounded by a timeout); null when the server closed first. */
async function readPdu(conn: Deno.Conn, timeoutMs = 5000): Promise<Uint8Array | null> {
  const deadline = Date.now() + timeoutMs;
  let have = new Uint8Array(0);
  const buf = new Uint8Array(65536);
  while (Date.now() < deadline) { // each pass reads a chunk or ends
    if (have.length >= 6) {
      const need = 6 + new DataView(have.buffer).getUint32(2);
      if (have.length >= need) return have.subarray(0, need);
    }
    const n = await Promise.race([
      conn.read(buf),
      new Promise<"timeout">((r) => setTimeout(() => r("timeout"), deadline - Date.now())),
    ]);
    if (n === "timeout") break;
    if (n === null) return null;
    const next = new Uint8Array(have.length + n);
    next.set(have);
    next.set(buf.subarray(0, n), have.length);
    have = next;
  }
  throw new Error("no whole PDU within the timeout");
}

async function associate(port: number, storage: string[], transferSyntaxes: string[]) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(associateRq(storage, transferSyntaxes));
    const pdu = await readPdu(conn);
    assert.ok(pdu, `${storage.length} storage contexts: connection closed without an answer`);
    const answer = decodeAnswer(pdu);
    if (answer.type === 0x02) {
      await conn.write(new Uint8Array([0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0])); // A-RELEASE-RQ
      const rp = await readPdu(conn);
      assert.equal(rp?.[0], 0x06, "A-RELEASE-RP");
    }
    return { answer, bytes: pdu.length };
  } finally {
    conn.close();
  }
}

Deno.test("a C-GET association proposing 1 to 127 storage contexts with role selection is accepted whole", async () => {
  let pacs: MiniPacs | undefined;
  try {
    pacs = await startMiniPacs();
    assert.ok(STORAGE.length >= 127);
    let largest = 0;
    for (let k = 1; k <= 127; k++) {
      const storage = STORAGE.slice(0, k);
      const { answer, bytes } = await associate(pacs.port, storage, [IMPLICIT_LE, EXPLICIT_LE]);
      largest = Math.max(largest, bytes);
      assert.equal(answer.type, 0x02, `${k} storage contexts: A-ASSOCIATE-AC`);
      assert.equal(answer.maxLength, 16384);
      assert.equal(answer.contexts.size, k + 1, `${k}: every context answered`);
      assert.deepEqual(answer.contexts.get(1), { result: 0, ts: IMPLICIT_LE });
      for (const [i, uid] of storage.entries()) {
        // The first proposed syntax the server can produce: Implicit VR LE, as proposed first.
        assert.deepEqual(answer.contexts.get(2 * i + 3), { result: 0, ts: IMPLICIT_LE }, uid);
        assert.deepEqual(answer.roles.get(uid), { scu: 0, scp: 1 }, `${k}: role for ${uid}`);
      }
    }
    assert.ok(largest > 8000, `answers up to ${largest} bytes`);
    // 90 contexts proposing Explicit VR LE first: that one is taken.
    const { answer } = await associate(pacs.port, STORAGE.slice(0, 90), [EXPLICIT_LE, IMPLICIT_LE]);
    assert.equal(answer.contexts.get(3)?.ts, EXPLICIT_LE);
    assert.doesNotMatch(pacs.logs(), /ERROR/);
  } finally {
    await pacs?.cleanup();
  }
});
