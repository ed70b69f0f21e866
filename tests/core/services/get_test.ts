// C-GET SCP in process: our requestor takes the SCP role for storage classes and receives the
// C-STORE sub-operations on its own association, between the C-GET Pending responses.
import assert from "node:assert/strict";
import { CommandField, NO_DATASET } from "../../../src/core/dimse/command.ts";
import { Status } from "../../../src/core/dimse/status.ts";
import {
  type DataElement,
  decodeDataset,
  encodeDataset,
  encodingOf,
} from "../../../src/core/dicom/dataset.ts";
import { encodeFileMetaInformation } from "../../../src/core/dicom/part10.ts";
import type {
  InstanceRef,
  ObjectReader,
  ObjectStore,
  QueryIndex,
  StoredObjectStream,
} from "../../../src/core/ports.ts";
import { rowMatches } from "../../../src/core/query/matching.ts";
import type { Query } from "../../../src/core/query/query.ts";
import { GetService } from "../../../src/core/services/get.ts";
import type {
  DimseRequest,
  DimseResponse,
  DimseService,
  ServiceContext,
} from "../../../src/core/services/service.ts";
import { StorageService } from "../../../src/core/services/store.ts";
import { AcceptorAssociation } from "../../../src/core/ul/acceptor.ts";
import { RequestorAssociation } from "../../../src/core/ul/requestor.ts";
import type { SupportedSyntax } from "../../../src/core/ul/negotiation.ts";
import { memoryConnectionPair } from "../../helpers/memory_connection.ts";

const ILE = "1.2.840.10008.1.2";
const ELE = "1.2.840.10008.1.2.1";
const JPEG = "1.2.840.10008.1.2.4.50";
const CT = "1.2.840.10008.5.1.4.1.1.2";
const MR = "1.2.840.10008.5.1.4.1.1.4";
const STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3";

interface Stored {
  uid: string;
  sopClassUid: string;
  ts: string;
  study: string;
  dataset: Uint8Array;
  part10: Uint8Array;
}

const ascii = (s: string) => new TextEncoder().encode(s);
let counter = 0;

function makeStored(study: string, ts = ELE, sopClassUid = CT): Stored {
  const uid = `1.2.826.0.1.3680043.9.7433.8.${++counter}`;
  const elements: DataElement[] = [
    { tag: 0x00080016, vr: "UI", value: ascii(sopClassUid) },
    { tag: 0x00080018, vr: "UI", value: ascii(uid) },
    { tag: 0x00100010, vr: "PN", value: ascii("Roe^Richard") },
    { tag: 0x0020000d, vr: "UI", value: ascii(study) },
    { tag: 0x0020000e, vr: "UI", value: ascii(`${study}.1`) },
  ];
  let dataset = encodeDataset(elements, encodingOf(ts === JPEG ? ELE : ts));
  // A tail standing in for pixel data: native OW, or an encapsulated fragment sequence.
  const tail = ts === JPEG
    ? new Uint8Array([
      0xe0,
      0x7f,
      0x10,
      0x00,
      0x4f,
      0x42,
      0,
      0,
      0xff,
      0xff,
      0xff,
      0xff, // (7FE0,0010) OB undef
      0xfe,
      0xff,
      0x00,
      0xe0,
      0,
      0,
      0,
      0, // empty offset table
      0xfe,
      0xff,
      0x00,
      0xe0,
      4,
      0,
      0,
      0,
      1,
      2,
      3,
      4, // one fragment
      0xfe,
      0xff,
      0xdd,
      0xe0,
      0,
      0,
      0,
      0, // sequence delimiter
    ])
    : ts === ILE
    ? new Uint8Array([0xe0, 0x7f, 0x10, 0x00, 4, 0, 0, 0, 9, 8, 7, 6])
    : new Uint8Array([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57, 0, 0, 4, 0, 0, 0, 9, 8, 7, 6]);
  const whole = new Uint8Array(dataset.length + tail.length);
  whole.set(dataset);
  whole.set(tail, dataset.length);
  dataset = whole;
  const meta = encodeFileMetaInformation({
    sopClassUid,
    sopInstanceUid: uid,
    transferSyntaxUid: ts,
    implementationClassUid: "1.2.3",
    implementationVersionName: "TEST",
  });
  const part10 = new Uint8Array(meta.length + dataset.length);
  part10.set(meta);
  part10.set(dataset, meta.length);
  return { uid, sopClassUid, ts, study, dataset, part10 };
}

class MemoryIndex implements QueryIndex {
  constructor(readonly stored: Stored[]) {}
  find(): AsyncIterable<never> {
    throw new Error("not used");
  }
  async *instancesFor(query: Query): AsyncGenerator<InstanceRef> {
    for (const s of this.stored) {
      if (!rowMatches(query.matches, { studyInstanceUid: s.study, sopInstanceUid: s.uid })) {
        continue;
      }
      yield {
        sopInstanceUid: s.uid,
        sopClassUid: s.sopClassUid,
        transferSyntaxUid: s.ts,
        studyInstanceUid: s.study,
        seriesInstanceUid: `${s.study}.1`,
        location: { kind: "home", path: "", offset: 0, length: s.part10.length },
      };
    }
  }
  readAttributes(): Promise<null> {
    return Promise.resolve(null);
  }
}

class MemoryObjects implements ObjectReader {
  constructor(readonly stored: Stored[]) {}
  readObject(uid: string): Promise<StoredObjectStream | null> {
    const s = this.stored.find((x) => x.uid === uid);
    if (!s) return Promise.resolve(null);
    return Promise.resolve({
      stream: new Blob([s.part10 as Uint8Array<ArrayBuffer>]).stream(),
      length: s.part10.length,
      transferSyntaxUid: s.ts,
      sopClassUid: s.sopClassUid,
    });
  }
}

/** The viewer's own storage SCP on the C-GET association; `events` shows the interleaving. */
class ViewerStore implements DimseService {
  readonly name = "store";
  readonly commandFields = [CommandField.CStoreRq];
  received: { uid: string; ts: string; dataset: Uint8Array }[] = [];
  constructor(readonly events: string[], readonly delayMs = 0) {}
  *syntaxes(): Iterable<SupportedSyntax> {}
  async handle(req: DimseRequest, ctx: ServiceContext): Promise<void> {
    const dataset = await req.dataset!.collect(64 * 1024 * 1024);
    const uid = req.command.affectedSopInstanceUid ?? "";
    this.received.push({ uid, ts: req.context.transferSyntax, dataset });
    this.events.push(`store ${uid}`);
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    await ctx.send({
      commandField: CommandField.CStoreRsp,
      commandDataSetType: NO_DATASET,
      messageIdBeingRespondedTo: req.command.messageId ?? 0,
      affectedSopClassUid: req.command.affectedSopClassUid,
      affectedSopInstanceUid: uid,
      status: Status.Success,
    });
  }
}

interface Options {
  /** Storage contexts the viewer proposes: class -> transfer syntaxes. */
  storage?: [string, string[]][];
  /** Propose the SCP role for them (default true). */
  scpRole?: boolean;
  delayMs?: number;
}

async function setup(stored: Stored[], o: Options = {}) {
  const get = new GetService({
    index: new MemoryIndex(stored),
    objects: new MemoryObjects(stored),
    caseInsensitivePn: true,
  });
  // The real storage service: its syntaxes are what offer the SCP role to C-GET callers.
  const storage = new StorageService({
    store: {} as ObjectStore,
    sopClasses: [CT, MR],
    minFreeBytes: 0,
  });
  const services = [get, storage];
  const syntaxes = new Map<string, SupportedSyntax>();
  for (const s of services) for (const x of s.syntaxes()) syntaxes.set(x.abstractSyntax, x);
  const lines: string[] = [];
  const [a, b] = memoryConnectionPair();
  void new AcceptorAssociation({
    id: "1",
    connection: a,
    logger: { log: (level, msg, f) => lines.push(`${level} ${msg} ${JSON.stringify(f ?? {})}`) },
    artimTimeoutMs: 1000,
    idleTimeoutMs: 0,
    maxPduLength: 16384,
    services,
    policy: () => ({
      aeTitle: "MINIPACS",
      checkCalledAe: true,
      maxPduLength: 16384,
      implementationClassUid: "1.2.3.4",
      implementationVersionName: "MINIPACS",
      syntaxes,
    }),
  }).run();
  const events: string[] = [];
  const viewer = new ViewerStore(events, o.delayMs);
  const storageContexts = o.storage ?? [[CT, [ELE]], [MR, [ELE]]];
  const assoc = new RequestorAssociation({
    id: "viewer",
    connection: b,
    logger: { log() {} },
    artimTimeoutMs: 1000,
    idleTimeoutMs: 0,
    maxPduLength: 16384,
    callingAeTitle: "VIEWER",
    calledAeTitle: "MINIPACS",
    implementationClassUid: "1.2.3",
    implementationVersionName: "TEST",
    presentationContexts: [
      { id: 1, abstractSyntax: STUDY_ROOT_GET, transferSyntaxes: [ELE] },
      ...storageContexts.map(([uid, ts], i) => ({
        id: 3 + 2 * i,
        abstractSyntax: uid,
        transferSyntaxes: ts,
      })),
    ],
    roleSelections: o.scpRole === false ? [] : [...new Set(storageContexts.map(([uid]) => uid))]
      .map((uid) => ({ sopClassUid: uid, scuRole: false, scpRole: true })),
    services: [viewer],
  });
  await assoc.open();
  return { assoc, viewer, events, lines };
}

async function cget(
  assoc: RequestorAssociation,
  study: string,
  events: string[],
  opts: { messageId?: number; onPending?: (r: DimseResponse) => void } = {},
) {
  const pending: DimseResponse[] = [];
  const identifier = encodeDataset([
    { tag: 0x00080052, vr: "CS", value: ascii("STUDY ") },
    { tag: 0x0020000d, vr: "UI", value: ascii(study) },
  ], encodingOf(ELE));
  const final = await assoc.requestWithPending(
    1,
    {
      commandField: CommandField.CGetRq,
      commandDataSetType: 0,
      messageId: opts.messageId,
      affectedSopClassUid: STUDY_ROOT_GET,
      priority: 0,
    },
    identifier,
    (r) => {
      pending.push(r);
      events.push(`pending ${r.command.numberOfCompletedSuboperations}`);
      opts.onPending?.(r);
    },
  );
  return { final, pending };
}

function failedList(rsp: DimseResponse): string[] {
  const el = decodeDataset(rsp.dataset!, encodingOf(ELE)).find((e) => e.tag === 0x00080058);
  assert.ok(el, "Failed SOP Instance UID List");
  return new TextDecoder().decode(el.value).replace(/\0+$/, "").split("\\");
}

Deno.test("C-GET sends each instance back on the caller's association, between Pending responses", async () => {
  const stored = [makeStored("1.2.3"), makeStored("1.2.3", ELE, MR), makeStored("1.2.3")];
  stored.push(makeStored("4.5.6"));
  const { assoc, viewer, events } = await setup(stored);
  assert.equal(assoc.contexts.get(3)?.requestorIsScp, true, "SCP role accepted for CT");
  const { final } = await cget(assoc, "1.2.3", events);
  assert.equal(final.command.status, Status.Success);
  assert.equal(final.command.numberOfCompletedSuboperations, 3);
  assert.equal(final.command.numberOfFailedSuboperations, 0);
  assert.equal(viewer.received.length, 3);
  for (const [i, r] of viewer.received.entries()) {
    assert.equal(r.uid, stored[i].uid);
    assert.deepEqual(r.dataset, stored[i].dataset, "dataset bytes as stored");
  }
  assert.deepEqual(events, [
    `store ${stored[0].uid}`,
    "pending 1",
    `store ${stored[1].uid}`,
    "pending 2",
    `store ${stored[2].uid}`,
    "pending 3",
  ]);
  await assoc.release();
});

Deno.test("C-GET without the SCP role negotiated: every sub-operation fails (0xA702)", async () => {
  const stored = [makeStored("1.2.3"), makeStored("1.2.3")];
  const { assoc, viewer, events, lines } = await setup(stored, { scpRole: false });
  assert.equal(assoc.contexts.get(3)?.requestorIsScp, false);
  const { final } = await cget(assoc, "1.2.3", events);
  assert.equal(final.command.status, Status.OutOfResourcesSubOps);
  assert.equal(final.command.numberOfFailedSuboperations, 2);
  assert.deepEqual(failedList(final).sort(), stored.map((s) => s.uid).sort());
  assert.equal(viewer.received.length, 0);
  assert.ok(lines.some((l) => /get done.*"failed":2/.test(l)));
  await assoc.release();
});

Deno.test("C-GET into an Implicit VR LE context converts Explicit VR LE objects, values kept", async () => {
  const stored = [makeStored("1.2.3", ELE)];
  const { assoc, viewer, events } = await setup(stored, { storage: [[CT, [ILE]]] });
  const { final } = await cget(assoc, "1.2.3", events);
  assert.equal(final.command.status, Status.Success);
  assert.equal(viewer.received[0].ts, ILE);
  const top = (bytes: Uint8Array, ts: string) =>
    decodeDataset(bytes, encodingOf(ts)).map((e) => [e.tag, [...e.value]]);
  assert.deepEqual(top(viewer.received[0].dataset, ILE), top(stored[0].dataset, ELE));
  assert.deepEqual(viewer.received[0].dataset.subarray(-4), new Uint8Array([9, 8, 7, 6]));
  await assoc.release();
});

Deno.test("C-GET: a compressed object without a context for its syntax fails; with one it goes as is", async () => {
  const plain = makeStored("1.2.3");
  const jpeg = makeStored("1.2.3", JPEG);
  let s = await setup([plain, jpeg]);
  let r = await cget(s.assoc, "1.2.3", s.events);
  assert.equal(r.final.command.status, Status.SubOpsCompleteWithFailures);
  assert.equal(r.final.command.numberOfCompletedSuboperations, 1);
  assert.equal(r.final.command.numberOfFailedSuboperations, 1);
  assert.deepEqual(failedList(r.final), [jpeg.uid]);
  await s.assoc.release();

  s = await setup([plain, jpeg], { storage: [[CT, [ELE]], [CT, [JPEG]]] });
  r = await cget(s.assoc, "1.2.3", s.events);
  assert.equal(r.final.command.status, Status.Success);
  const got = s.viewer.received.find((x) => x.uid === jpeg.uid)!;
  assert.equal(got.ts, JPEG);
  assert.deepEqual(got.dataset, jpeg.dataset);
  await s.assoc.release();
});

Deno.test("C-CANCEL during a C-GET: 0xFE00 after the sub-operation in flight", async () => {
  const stored = Array.from({ length: 20 }, () => makeStored("1.2.3"));
  const { assoc, viewer, events } = await setup(stored, { delayMs: 15 });
  let cancelled = false;
  const { final } = await cget(assoc, "1.2.3", events, {
    messageId: 5,
    onPending: (p) => {
      if (!cancelled && (p.command.numberOfCompletedSuboperations ?? 0) >= 2) {
        cancelled = true;
        void assoc.cancel(1, 5);
      }
    },
  });
  assert.equal(final.command.status, Status.Cancel);
  const done = final.command.numberOfCompletedSuboperations!;
  assert.ok(done >= 2 && done < 20, `${done} completed`);
  assert.equal(done + final.command.numberOfRemainingSuboperations!, 20);
  assert.equal(viewer.received.length, done);
  await assoc.release();
});
