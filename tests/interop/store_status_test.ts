// C-STORE failure statuses from the real server (PS3.4 B.2.3): a dataset that contradicts its
// command, one that cannot be parsed, one without a Study Instance UID; and peers that give
// up half way through an object. None of them leaves anything in the index or the journal,
// and the association (or a new one) goes on storing.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { CommandField, DATASET_PRESENT } from "../../src/core/dimse/command.ts";
import { fragmentCapacity } from "../../src/core/dimse/data_packer.ts";
import type { Connection } from "../../src/core/ports.ts";
import { RequestorAssociation } from "../../src/core/ul/requestor.ts";
import { tcpConnector } from "../../src/net/tcp.ts";
import { echo, EXPLICIT_LE, quietLogger, VERIFICATION } from "../helpers/scu.ts";
import { type MiniPacs, startMiniPacs } from "../helpers/server.ts";
import { concat, element, us } from "../helpers/dataset_writer.ts";

const SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7";
const SC_PC = 1;
/** Dataset bytes in one P-DATA-TF PDU to the server (max_pdu_length 16384 by default). */
const PDU_DATA = fragmentCapacity(16384);
const ECHO_PC = 3;

const BASE = `2.25.${crypto.getRandomValues(new Uint32Array(2)).join("")}`;
let counter = 0;
const newUid = () => `${BASE}.${++counter}`;

interface Made {
  sop: string;
  /** Everything before Pixel Data. */
  header: Uint8Array;
  bytes: Uint8Array;
}

/**
 * A Secondary Capture dataset (64 KiB of pixels unless told); `omit` leaves tags out;
 * `headerLength` pads the part before Pixel Data to that many bytes with Image Comments.
 */
function makeDataset(
  o: { sop?: string; omit?: number[]; pixels?: number; headerLength?: number } = {},
): Made {
  const sop = o.sop ?? newUid();
  const elements: [number, string, Uint8Array | string][] = [
    [0x00080016, "UI", SECONDARY_CAPTURE],
    [0x00080018, "UI", sop],
    [0x00080060, "CS", "OT"],
    [0x00100010, "PN", "Status^Test"],
    [0x00100020, "LO", "STATUS1"],
    [0x0020000d, "UI", `${BASE}.900`],
    [0x0020000e, "UI", `${BASE}.901`],
    [0x00280002, "US", us(1)],
    [0x00280004, "CS", "MONOCHROME2"],
    [0x00280010, "US", us((o.pixels ?? 65536) / 256)],
    [0x00280011, "US", us(256)],
    [0x00280100, "US", us(8)],
    [0x00280101, "US", us(8)],
    [0x00280102, "US", us(7)],
    [0x00280103, "US", us(0)],
  ];
  const kept = elements.filter(([tag]) => !o.omit?.includes(tag));
  if (o.headerLength !== undefined) {
    const used = concat(kept.map(([t, vr, v]) => element(t, vr, v))).length;
    kept.splice(7, 0, [0x00204000, "LT", " ".repeat(o.headerLength - used - 8)]);
  }
  const header = concat(kept.map(([t, vr, v]) => element(t, vr, v)));
  if (o.headerLength !== undefined) assert.equal(header.length, o.headerLength);
  const pixels = new Uint8Array(o.pixels ?? 65536);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 31 + sop.length) & 0xff;
  return { sop, header, bytes: concat([header, element(0x7fe00010, "OB", pixels)]) };
}

// ---- our requestor, with its socket at hand (to drop it without an A-ABORT) ----

async function open(port: number): Promise<{ assoc: RequestorAssociation; conn: Connection }> {
  const conn = await tcpConnector.connect("127.0.0.1", port, 5000);
  const assoc = new RequestorAssociation({
    id: "status-test",
    connection: conn,
    logger: quietLogger,
    artimTimeoutMs: 5000,
    idleTimeoutMs: 0,
    maxPduLength: 16384,
    callingAeTitle: "STATUSSCU",
    calledAeTitle: "MINIPACS",
    implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.2",
    implementationVersionName: "STATUSSCU",
    presentationContexts: [
      { id: SC_PC, abstractSyntax: SECONDARY_CAPTURE, transferSyntaxes: [EXPLICIT_LE] },
      { id: ECHO_PC, abstractSyntax: VERIFICATION, transferSyntaxes: [EXPLICIT_LE] },
    ],
  });
  return { assoc: await assoc.open(), conn };
}

function storeRq(sop: string) {
  return {
    commandField: CommandField.CStoreRq,
    commandDataSetType: DATASET_PRESENT,
    affectedSopClassUid: SECONDARY_CAPTURE,
    affectedSopInstanceUid: sop,
    priority: 0,
  };
}

async function store(assoc: RequestorAssociation, sop: string, bytes: Uint8Array) {
  const rsp = await assoc.request(SC_PC, storeRq(sop), bytes);
  return rsp.command.status ?? -1;
}

const hex = (s: number) => `0x${s.toString(16).padStart(4, "0")}`;

function assertCannotUnderstand(status: number, what: string): void {
  assert.ok(status >= 0xc000 && status <= 0xcfff, `${what}: ${hex(status)} is not 0xCxxx`);
}

function indexedSops(storage: string): string[] {
  const db = new DatabaseSync(`${storage}/index.sqlite`, { readOnly: true });
  try {
    return db.prepare("SELECT sop_instance_uid AS uid FROM instance ORDER BY uid").all()
      .map((r) => String(r.uid));
  } finally {
    db.close();
  }
}

/** Runs fn against a server on a storage folder of its own (kept across restarts). */
async function withStorage(fn: (storage: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "minipacs-status-" });
  try {
    await fn(`${root}/data`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function withServer(storage: string, fn: (pacs: MiniPacs) => Promise<void>) {
  const pacs = await startMiniPacs({ storagePath: storage });
  try {
    // The server installs its SIGTERM handler after this line, and Deno arms it a moment
    // later: a SIGTERM sent sooner kills it without a clean stop (exit 143).
    await pacs.waitForLog(/MiniPACS started/);
    await new Promise((r) => setTimeout(r, 50));
    await fn(pacs);
  } finally {
    await pacs.cleanup();
  }
}

Deno.test("a dataset whose SOP Instance UID differs from the command's gets 0xA900 and is not stored", async () => {
  await withStorage(async (storage) => {
    const made = makeDataset();
    const other = newUid();
    await withServer(storage, async (pacs) => {
      const { assoc } = await open(pacs.port);
      assert.equal(await store(assoc, other, made.bytes), 0xa900);
      assert.equal(await echo(assoc), 0, "the association goes on");
      await assoc.release();
      await pacs.waitForLog(/store failed: dataset SOP Class\/Instance UID differs/);
      assert.equal(await pacs.stop(), 0);
    });
    assert.deepEqual(indexedSops(storage), []);
    await withServer(storage, async (pacs) => {
      assert.doesNotMatch(pacs.logs(), /recovery done/, "nothing in the journal to recover");
      assert.equal(await pacs.stop(), 0);
    });
    assert.deepEqual(indexedSops(storage), []);
  });
});

Deno.test("unparsable datasets get 0xCxxx, leave nothing, and the association goes on", async () => {
  await withStorage(async (storage) => {
    const good = makeDataset();
    const garbage = new TextEncoder().encode("this is not a DICOM dataset at all, just text.");
    // (0010,0010) PN says 40 bytes, 6 follow: cut off inside the element.
    const truncated = concat([
      element(0x00080016, "UI", SECONDARY_CAPTURE),
      element(0x00080018, "UI", newUid()),
      new Uint8Array([0x10, 0x00, 0x10, 0x00, 0x50, 0x4e, 40, 0]),
      new TextEncoder().encode("Doe^Jo"),
    ]);
    const badVr = concat([element(0x00080016, "UI", SECONDARY_CAPTURE), new Uint8Array(64)]);
    await withServer(storage, async (pacs) => {
      const { assoc } = await open(pacs.port);
      for (
        const [what, bytes] of [["garbage", garbage], ["truncated", truncated], [
          "bad VR",
          badVr,
        ]] as const
      ) {
        assertCannotUnderstand(await store(assoc, newUid(), bytes), what);
        assert.equal(await echo(assoc), 0, `C-ECHO after ${what}`);
      }
      assert.equal(await store(assoc, good.sop, good.bytes), 0, "a good C-STORE after them");
      await assoc.release();
      assert.equal(await pacs.stop(), 0);
    });
    assert.deepEqual(indexedSops(storage), [good.sop]);
    await withServer(storage, async (pacs) => {
      assert.equal(await pacs.stop(), 0);
    });
    assert.deepEqual(indexedSops(storage), [good.sop], "nothing replayed after a restart");
  });
});

Deno.test("a dataset without Study Instance UID gets 0xCxxx and is not stored", async () => {
  await withStorage(async (storage) => {
    const made = makeDataset({ omit: [0x0020000d] });
    await withServer(storage, async (pacs) => {
      const { assoc } = await open(pacs.port);
      assertCannotUnderstand(await store(assoc, made.sop, made.bytes), "no Study Instance UID");
      await assoc.release();
      await pacs.waitForLog(/store failed: dataset lacks Study Instance UID/);
      assert.equal(await pacs.stop(), 0);
    });
    assert.deepEqual(indexedSops(storage), []);
  });
});

// A peer that gives up half way. What arrived may even look complete: a whole header cut at
// an element boundary, or a header and part of Pixel Data. Given up after a pause, the server
// waits idle for the rest; given up at once, it is still writing what came before.
type HowGivenUp = "A-ABORT" | "a dropped TCP connection";
type Cut = "pause, inside Pixel Data" | "pause, before Pixel Data" | "at once, 4 of 8 MiB";
const giveUps: { how: HowGivenUp; cut: Cut }[] = [];
for (const how of ["A-ABORT", "a dropped TCP connection"] as const) {
  for (
    const cut of [
      "pause, inside Pixel Data",
      "pause, before Pixel Data",
      "at once, 4 of 8 MiB",
    ] as const
  ) {
    giveUps.push({ how, cut });
  }
}

/** Opens an association, stores one object, then sends part of `made` and gives up. */
async function giveUpHalfWay(pacs: MiniPacs, made: Made, how: HowGivenUp, cut: Cut) {
  const { assoc, conn } = await open(pacs.port);
  // A stored object first, so the association's journal segment holds a record.
  const first = makeDataset();
  assert.equal(await store(assoc, first.sop, first.bytes), 0);
  // Our sender keeps the last PDU back until more bytes come: one byte past a header of
  // whole PDUs puts exactly the header on the wire.
  const at = cut === "pause, before Pixel Data"
    ? made.header.length + 1
    : cut === "pause, inside Pixel Data"
    ? made.header.length + 12 + 30000
    : made.header.length + 12 + (4 << 20);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  async function* partThenWait() {
    for (let i = 0; i < at; i += 256 * 1024) {
      yield made.bytes.subarray(i, Math.min(at, i + 256 * 1024));
    }
    await held;
    yield made.bytes.subarray(at);
  }
  const sending = assoc.sendMessage(SC_PC, storeRq(made.sop), partThenWait());
  sending.catch(() => {});
  if (cut.startsWith("pause")) await new Promise((r) => setTimeout(r, 150));
  else await new Promise((r) => setTimeout(r, 1));
  if (how === "A-ABORT") await assoc.abort();
  else conn.close();
  release();
  await assert.rejects(sending);
  return first.sop;
}

for (const { how, cut } of giveUps) {
  Deno.test(`part of an object then ${how} (${cut}): no row, nothing replayed, storable again`, async () => {
    await withStorage(async (storage) => {
      const big = cut.startsWith("at once");
      // At once, the race is with the server's own writes: tried on several associations.
      const tries = big ? 3 : 1;
      const made = Array.from(
        { length: tries },
        () => makeDataset({ pixels: big ? 8 << 20 : 65536, headerLength: PDU_DATA }),
      );
      await withServer(storage, async (pacs) => {
        const firsts: string[] = [];
        for (const m of made) firsts.push(await giveUpHalfWay(pacs, m, how, cut));
        const logged = how === "A-ABORT" ? /peer sent A-ABORT/g : /connection closed by peer/g;
        for (let i = 0; i < 50 && (pacs.logs().match(logged)?.length ?? 0) < tries; i++) {
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.equal(pacs.logs().match(logged)?.length, tries, pacs.logs());
        await new Promise((r) => setTimeout(r, 300)); // let the store handlers finish
        assert.deepEqual(indexedSops(storage), firsts.sort(), "no row while running");
        assert.equal(await pacs.stop(), 0);
      });
      for (const m of made) {
        assert.equal(indexedSops(storage).includes(m.sop), false, "no row after a clean stop");
      }
      await withServer(storage, async (pacs) => {
        const { assoc } = await open(pacs.port);
        for (const m of made) {
          assert.equal(indexedSops(storage).includes(m.sop), false, "not replayed at restart");
          assert.equal(await store(assoc, m.sop, m.bytes), 0, "the same SOP Instance UID");
        }
        await assoc.release();
        assert.equal(await pacs.stop(), 0);
      });
      const db = new DatabaseSync(`${storage}/index.sqlite`, { readOnly: true });
      try {
        for (const m of made) {
          const row = db.prepare("SELECT home_path FROM instance WHERE sop_instance_uid = ?")
            .get(m.sop) as { home_path: string } | undefined;
          assert.ok(row);
          const part10 = await Deno.readFile(`${storage}/${row.home_path}`);
          const offset = decodeFileMetaInformation(part10).datasetOffset;
          assert.ok(sameBytes(part10.subarray(offset), m.bytes), "stored whole the second time");
        }
      } finally {
        db.close();
      }
    });
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
