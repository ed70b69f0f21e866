// The real server is SIGKILLed again and again while our SCU stores objects: mid-object, right
// after an answer, while the materializer copies, at random moments of a continuous stream.
// After each restart every object answered 0000 is indexed and readable bit for bit, no index
// row points at a missing file, a half-received object is not replayed, and the object the
// kill interrupted is stored again. A final clean stop leaves every object in its home file.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { CommandField, DATASET_PRESENT } from "../../src/core/dimse/command.ts";
import type { RequestorAssociation } from "../../src/core/ul/requestor.ts";
import { EXPLICIT_LE, openAssociation } from "../helpers/scu.ts";
import { type MiniPacs, startMiniPacs } from "../helpers/server.ts";
import { concat, element, us } from "../helpers/dataset_writer.ts";

const SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7";
const ROUNDS = 24;
const CHUNK = 256 * 1024;

/** One Explicit VR Little Endian element (PS3.5 7.1.2); the value is padded to even length. */

const BASE = `2.25.${crypto.getRandomValues(new Uint32Array(2)).join("")}`;

function sopOf(n: number): string {
  return `${BASE}.3.${n}`;
}

/** 64 KiB to 2 MiB of 8-bit pixels, filled from a generator seeded with n. */
function datasetOf(n: number): Uint8Array {
  const cols = 256;
  const rows = 256 + ((n * 7919) % 32) * 256 - (n % 3) * 2;
  const head = concat([
    element(0x00080016, "UI", SECONDARY_CAPTURE),
    element(0x00080018, "UI", sopOf(n)),
    element(0x00080060, "CS", "OT"),
    // Seven series in five studies of five patients: each series in one study.
    element(0x00100010, "PN", `Crash^Patient${(n % 7) % 5}`),
    element(0x00100020, "LO", `CRASH${(n % 7) % 5}`),
    element(0x0020000d, "UI", `${BASE}.1.${(n % 7) % 5}`),
    element(0x0020000e, "UI", `${BASE}.2.${n % 7}`),
    element(0x00200013, "IS", String(n)),
    element(0x00280002, "US", us(1)),
    element(0x00280004, "CS", "MONOCHROME2"),
    element(0x00280010, "US", us(rows)),
    element(0x00280011, "US", us(cols)),
    element(0x00280100, "US", us(8)),
    element(0x00280101, "US", us(8)),
    element(0x00280102, "US", us(7)),
    element(0x00280103, "US", us(0)),
  ]);
  const pixels = rows * cols;
  const out = new Uint8Array(head.length + 12 + pixels + 4);
  out.set(head);
  const dv = new DataView(out.buffer);
  let at = head.length;
  dv.setUint16(at, 0x7fe0, true);
  dv.setUint16(at + 2, 0x0010, true);
  out.set([0x4f, 0x42], at + 4); // OB
  dv.setUint32(at + 8, pixels, true);
  at += 12;
  let x = (n * 2654435761) >>> 0 || 1;
  for (let i = 0; i < pixels; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    dv.setUint32(at + i, x >>> 0, true);
  }
  return out.subarray(0, head.length + 12 + pixels);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---- sending ----

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Hold {
  /** Bytes sent before waiting. */
  at: number;
  until: Promise<void>;
}

/** Streams the bytes in CHUNK pieces; with `hold`, stops at hold.at until it resolves. */
async function* pieces(bytes: Uint8Array, hold?: Hold) {
  for (let i = 0; i < bytes.length;) {
    if (hold && i === hold.at) await hold.until;
    const end = Math.min(bytes.length, i + CHUNK, hold && i < hold.at ? hold.at : Infinity);
    yield bytes.subarray(i, end);
    i = end;
  }
}

async function storeObject(
  assoc: RequestorAssociation,
  n: number,
  hold?: Hold,
): Promise<number> {
  const rsp = await assoc.request(1, {
    commandField: CommandField.CStoreRq,
    commandDataSetType: DATASET_PRESENT,
    affectedSopClassUid: SECONDARY_CAPTURE,
    affectedSopInstanceUid: sopOf(n),
    priority: 0,
  }, pieces(datasetOf(n), hold));
  return rsp.command.status ?? -1;
}

// ---- checking ----

interface Row {
  sop_instance_uid: string;
  loc_kind: string;
  loc_path: string;
  loc_offset: number;
  loc_length: number;
  home_path: string;
}

function readRows(storage: string): Map<string, Row> {
  const db = new DatabaseSync(`${storage}/index.sqlite`, { readOnly: true });
  try {
    const rows = db.prepare(
      "SELECT sop_instance_uid, loc_kind, loc_path, loc_offset, loc_length, home_path FROM instance",
    ).all() as unknown as Row[];
    return new Map(rows.map((r) => [r.sop_instance_uid, { ...r }]));
  } finally {
    db.close();
  }
}

/** Part 10 bytes at the row's location; null if the file is gone (moved meanwhile). */
async function readLocation(storage: string, row: Row): Promise<Uint8Array | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(`${storage}/${row.loc_path}`, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  try {
    await file.seek(row.loc_offset, Deno.SeekMode.Start);
    const out = new Uint8Array(row.loc_length);
    for (let done = 0; done < out.length;) {
      const n = await file.read(out.subarray(done));
      if (n === null) throw new Error(`${row.loc_path} is shorter than its index row says`);
      done += n;
    }
    return out;
  } finally {
    file.close();
  }
}

/**
 * Object n is indexed and its stored dataset is the one sent. The server may be running: a
 * file the materializer moved away between the query and the open is looked up again.
 */
async function assertStored(storage: string, n: number, when: string): Promise<void> {
  const uid = sopOf(n);
  for (let attempt = 0; attempt < 20; attempt++) {
    const row = readRows(storage).get(uid);
    assert.ok(row, `${when}: object ${n}, answered 0000, is in the index`);
    const part10 = await readLocation(storage, row);
    if (part10 === null) {
      await delay(20);
      continue;
    }
    const { meta, datasetOffset } = decodeFileMetaInformation(part10);
    assert.equal(meta.sopInstanceUid, uid);
    assert.ok(
      sameBytes(part10.subarray(datasetOffset), datasetOf(n)),
      `${when}: object ${n} (${row.loc_kind}) holds the dataset bytes sent`,
    );
    return;
  }
  assert.fail(`${when}: object ${n}'s file keeps vanishing`);
}

/** Every index row points at a file that exists (retrying rows the materializer moved). */
async function assertNoOrphans(storage: string, when: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const missing: string[] = [];
    for (const row of readRows(storage).values()) {
      try {
        await Deno.stat(`${storage}/${row.loc_path}`);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        missing.push(`${row.sop_instance_uid} -> ${row.loc_path}`);
      }
    }
    if (missing.length === 0) return;
    if (attempt === 19) assert.fail(`${when}: rows without a file: ${missing.join(", ")}`);
    await delay(20);
  }
}

// ---- the rounds ----

type Mode = "mid-object" | "after-answer" | "materializing" | "continuous";
const MODES: Mode[] = ["mid-object", "after-answer", "materializing", "continuous"];

interface State {
  next: number;
  acked: Set<number>;
  /** Acknowledged since the last restart: checked bit for bit after it. */
  fresh: number[];
  /** In flight when the server was killed: sent again after the restart. */
  interrupted?: number;
  /** Cut off mid-dataset: must not be indexed after the restart. */
  cutShort?: number;
}

async function ack(assoc: RequestorAssociation, state: State, n: number): Promise<void> {
  const status = await storeObject(assoc, n);
  assert.equal(status, 0, `object ${n}: status 0x${status.toString(16)}`);
  state.acked.add(n);
  state.fresh.push(n);
}

/** Runs one round's traffic and SIGKILLs the server at the point the mode calls for. */
async function trafficThenKill(pacs: MiniPacs, round: number, state: State): Promise<void> {
  const mode = MODES[round % MODES.length];
  const assoc = await openAssociation(pacs.port, {
    contexts: [{ id: 1, abstractSyntax: SECONDARY_CAPTURE, transferSyntaxes: [EXPLICIT_LE] }],
  });
  const kill = () => pacs.stop("SIGKILL");
  try {
    if (state.interrupted !== undefined) {
      // The object the last kill interrupted is stored again on the restarted server.
      await ack(assoc, state, state.interrupted);
      state.interrupted = undefined;
    }
    const warmup = 1 + (round % 3);
    if (mode !== "continuous") {
      for (let i = 0; i < warmup; i++) await ack(assoc, state, state.next++);
    }
    if (mode === "mid-object") {
      // Half the dataset is sent, then the server dies while waiting for the rest.
      const n = state.next++;
      let release!: () => void;
      const until = new Promise<void>((r) => (release = r));
      const at = (datasetOf(n).length >> 1) & ~1;
      const sending = storeObject(assoc, n, { at, until });
      sending.catch(() => {});
      await delay(30 + (round % 5) * 10);
      await kill();
      release();
      await assert.rejects(sending, `object ${n} cannot be answered by a dead server`);
      state.interrupted = n;
      state.cutShort = n;
    } else if (mode === "after-answer") {
      const n = state.next++;
      const status = await storeObject(assoc, n);
      const killed = kill(); // at once: before anything else runs on our side
      assert.equal(status, 0);
      state.acked.add(n);
      state.fresh.push(n);
      await killed;
    } else if (mode === "materializing") {
      // Quiet for longer than the materializer's idle time: it copies to home files.
      await delay(80 + ((round * 37) % 220));
      await kill();
    } else {
      let stop = false;
      let current: number | undefined;
      const statuses: [number, number][] = [];
      const sending = (async () => {
        for (let i = 0; i < 64 && !stop; i++) {
          current = state.next++;
          const status = await storeObject(assoc, current);
          statuses.push([current, status]);
          if (status === 0) (state.acked.add(current), state.fresh.push(current));
          current = undefined;
        }
      })();
      await delay(20 + ((round * 53) % 260));
      stop = true;
      await kill();
      // A rejection means the kill landed while `current` was in flight.
      await sending.catch(() => {});
      assert.deepEqual(statuses.filter(([, s]) => s !== 0), [], "failure statuses");
      if (current !== undefined) state.interrupted = current;
    }
  } finally {
    await kill();
    await assoc.abort().catch(() => {});
  }
}

/**
 * RequestorAssociation.request() creates its response promise before sending; when the
 * connection dies while the dataset is still being sent, that promise is rejected with no
 * handler yet (the send's own error is what request() throws). Those strays are expected.
 */
function ignoreStrayAbortRejections(): () => void {
  const handler = (e: PromiseRejectionEvent) => {
    if (e.reason instanceof Error && /^association (aborted|closed)/.test(e.reason.message)) {
      e.preventDefault();
    }
  };
  globalThis.addEventListener("unhandledrejection", handler);
  return () => globalThis.removeEventListener("unhandledrejection", handler);
}

Deno.test({
  name: "SIGKILL at 24 points of a C-STORE stream: every 0000 survives bit for bit, nothing else",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "minipacs-crash-" });
    const storage = `${root}/data`;
    const state: State = { next: 0, acked: new Set(), fresh: [] };
    const opts = { storagePath: storage, server: { max_pdu_length: 65536 } };
    const restore = ignoreStrayAbortRejections();
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const pacs = await startMiniPacs(opts);
        try {
          const when = `after kill ${round}`;
          if (round > 0) {
            assert.match(pacs.logs(), /DICOM listening/);
            for (const n of state.fresh) await assertStored(storage, n, when);
            state.fresh = [];
            if (state.cutShort !== undefined) {
              assert.equal(
                readRows(storage).has(sopOf(state.cutShort)),
                false,
                `${when}: the half-received object ${state.cutShort} is not replayed`,
              );
              state.cutShort = undefined;
            }
            await assertNoOrphans(storage, when);
          }
          await trafficThenKill(pacs, round, state);
        } finally {
          await pacs.cleanup();
        }
      }

      // A last start: store the one still interrupted, then stop cleanly.
      const pacs = await startMiniPacs(opts);
      try {
        const assoc = await openAssociation(pacs.port, {
          contexts: [{ id: 1, abstractSyntax: SECONDARY_CAPTURE, transferSyntaxes: [EXPLICIT_LE] }],
        });
        if (state.interrupted !== undefined) await ack(assoc, state, state.interrupted);
        await assoc.release();
        // Its SIGTERM handler is armed a moment after this line; sooner would be a kill.
        await pacs.waitForLog(/MiniPACS started/);
        await delay(50);
        assert.equal(await pacs.stop(), 0, "clean stop");
      } finally {
        await pacs.cleanup();
      }
      assert.ok(state.acked.size >= 40, `only ${state.acked.size} objects were acknowledged`);
      assert.equal(state.acked.size, state.next, "every object sent was stored in the end");
      const rows = readRows(storage);
      assert.equal(rows.size, state.acked.size, "one index row per object, no extra");
      for (const n of state.acked) {
        const row = rows.get(sopOf(n));
        assert.ok(row, `object ${n} is indexed`);
        assert.equal(row.loc_kind, "home", `object ${n} reached its home file`);
        assert.equal(row.loc_path, row.home_path);
        const part10 = await Deno.readFile(`${storage}/${row.home_path}`);
        const { datasetOffset } = decodeFileMetaInformation(part10);
        assert.ok(sameBytes(part10.subarray(datasetOffset), datasetOf(n)), `object ${n} intact`);
      }
      assert.deepEqual([...Deno.readDirSync(`${storage}/tmp`)], [], "nothing left in tmp/");
    } finally {
      restore();
      await Deno.remove(root, { recursive: true });
    }
  },
});
