// C-GET SCP in process: our requestor takes the SCP role for storage classes and receives the
// C-STORE sub-operations on its own association, between the C-GET Pending responses.
import assert from "node:assert/strict";
import { CommandField, NO_DATASET } from "../../../src/core/dimse/command.ts";
import { Status } from "../../../src/core/dimse/status.ts";
import { decodeDataset, encodeDataset, encodingOf } from "../../../src/core/dicom/dataset.ts";
import type { ObjectStore } from "../../../src/core/ports.ts";
import { GetService } from "../../../src/core/services/get.ts";
import type {
  DimseRequest,
  DimseResponse,
  DimseService,
  ServiceContext,
} from "../../../src/core/dimse/service_contract.ts";
import { StorageService } from "../../../src/core/services/store_scp.ts";
import { producesTransferSyntax } from "../../../src/core/services/sub_operation_contexts.ts";
import { AcceptorAssociation } from "../../../src/core/ul/acceptor.ts";
import { RequestorAssociation } from "../../../src/core/ul/requestor.ts";
import type { SupportedSyntax } from "../../../src/core/ul/negotiation.ts";
import { memoryConnectionPair } from "../../helpers/memory_connection.ts";
import {
  ascii,
  CT,
  ELE,
  ILE,
  JPEG,
  makeStored,
  MemoryIndex,
  MemoryObjects,
  MR,
  type Stored,
} from "./retrieve_fixtures.ts";

const STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3";

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
    producesTransferSyntax,
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
  const stored = [
    makeStored({ study: "1.2.3" }),
    makeStored({ study: "1.2.3", ts: ELE, sopClassUid: MR }),
    makeStored({ study: "1.2.3" }),
  ];
  stored.push(makeStored({ study: "4.5.6" }));
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
  const stored = [makeStored({ study: "1.2.3" }), makeStored({ study: "1.2.3" })];
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
  const stored = [makeStored({ study: "1.2.3", ts: ELE })];
  const { assoc, viewer, events } = await setup(stored, { storage: [[CT, [ILE]]] });
  const { final } = await cget(assoc, "1.2.3", events);
  assert.equal(final.command.status, Status.Success);
  assert.equal(viewer.received[0].ts, ILE);
  const top = (bytes: Uint8Array, ts: string) =>
    decodeDataset(bytes, encodingOf(ts)).map((e) => [e.tag, [...e.value]]);
  assert.deepEqual(top(viewer.received[0].dataset, ILE), top(stored[0].dataset, ELE));
  // The pixel values at the end are the same bytes.
  assert.deepEqual(viewer.received[0].dataset.subarray(-64), stored[0].dataset.subarray(-64));
  await assoc.release();
});

Deno.test("C-GET: a compressed object without a context for its syntax fails; with one it goes as is", async () => {
  const plain = makeStored({ study: "1.2.3" });
  const jpeg = makeStored({ study: "1.2.3", ts: JPEG });
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
  const stored = Array.from({ length: 20 }, () => makeStored({ study: "1.2.3" }));
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
