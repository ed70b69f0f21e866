// C-MOVE SCP in process: our requestor asks, the MOVE SCP selects from an in-memory index and
// sends to destination SCPs reached through an in-memory connector.
import assert from "node:assert/strict";
import { type Command, CommandField, NO_DATASET } from "../../../src/core/dimse/command.ts";
import { Status } from "../../../src/core/dimse/status.ts";
import {
  type DataElement,
  decodeDataset,
  encodeDataset,
  encodingOf,
} from "../../../src/core/dicom/dataset.ts";
import type { Connection, Connector, Logger } from "../../../src/core/ports.ts";
import { DestinationSlots, MoveService } from "../../../src/core/services/move.ts";
import type {
  DimseRequest,
  DimseResponse,
  DimseService,
  ServiceContext,
} from "../../../src/core/dimse/service_contract.ts";
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

const STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2";
const PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2";

// ---- destination SCPs ----

interface Received {
  command: Command;
  transferSyntax: string;
  dataset: Uint8Array;
  calledAe: string;
}

/** A storage SCP that keeps what it receives. */
class Destination implements DimseService {
  readonly name = "store";
  readonly commandFields = [CommandField.CStoreRq];
  received: Received[] = [];
  /** Associations open now, and the most at once. */
  open = 0;
  maxOpen = 0;
  /** Bytes received so far, all objects together. */
  bytes = 0;
  constructor(
    readonly accepts: ReadonlySet<string> = new Set([ELE, ILE]),
    readonly status: (n: number) => number = () => Status.Success,
    readonly delayMs = 0,
    readonly onChunk?: () => void,
  ) {}
  *syntaxes(): Iterable<SupportedSyntax> {
    for (const uid of [CT, MR]) {
      yield { abstractSyntax: uid, acceptsTransferSyntax: (ts) => this.accepts.has(ts) };
    }
  }
  async handle(req: DimseRequest, ctx: ServiceContext): Promise<void> {
    const parts: Uint8Array[] = [];
    for await (const chunk of req.dataset!) {
      this.bytes += chunk.length;
      this.onChunk?.();
      parts.push(chunk.slice());
    }
    const dataset = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      dataset.set(p, at);
      at += p.length;
    }
    this.received.push({
      command: req.command,
      transferSyntax: req.context.transferSyntax,
      dataset,
      calledAe: ctx.association.calledAeTitle,
    });
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    await ctx.send({
      commandField: CommandField.CStoreRsp,
      commandDataSetType: NO_DATASET,
      messageIdBeingRespondedTo: req.command.messageId ?? 0,
      affectedSopClassUid: req.command.affectedSopClassUid,
      affectedSopInstanceUid: req.command.affectedSopInstanceUid,
      status: this.status(this.received.length),
    });
  }
}

function syntaxTable(services: DimseService[]): Map<string, SupportedSyntax> {
  const m = new Map<string, SupportedSyntax>();
  for (const s of services) for (const x of s.syntaxes()) m.set(x.abstractSyntax, x);
  return m;
}

function acceptor(
  connection: Connection,
  services: DimseService[],
  aeTitle: string,
  logger: Logger,
): AcceptorAssociation {
  const syntaxes = syntaxTable(services);
  return new AcceptorAssociation({
    id: aeTitle,
    connection,
    logger,
    artimTimeoutMs: 1000,
    idleTimeoutMs: 0,
    maxPduLength: 16384,
    services,
    policy: () => ({
      aeTitle,
      checkCalledAe: true,
      maxPduLength: 16384,
      implementationClassUid: "1.2.3.4",
      implementationVersionName: aeTitle,
      syntaxes,
    }),
  });
}

/** Connects to in-memory destinations by port; any other port is refused. */
class MemoryConnector implements Connector {
  attempts = 0;
  constructor(readonly destinations: Map<number, { ae: string; scp: Destination }>) {}
  connect(_host: string, port: number): Promise<Connection> {
    this.attempts++;
    const d = this.destinations.get(port);
    if (!d) return Promise.reject(new Error("Connection refused (os error 111)"));
    const [a, b] = memoryConnectionPair();
    void acceptor(a, [d.scp], d.ae, { log() {} }).run();
    d.scp.open++;
    d.scp.maxOpen = Math.max(d.scp.maxOpen, d.scp.open);
    // Open from connect until our side closes the connection.
    let closed = false;
    const close = b.close.bind(b);
    b.close = () => {
      if (!closed) d.scp.open--;
      closed = true;
      close();
    };
    return Promise.resolve(b);
  }
}

function collectingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    log: (level, msg, f) => lines.push(`${level} ${msg} ${JSON.stringify(f ?? {})}`),
  };
}

interface Setup {
  stored: Stored[];
  destinations?: { ae: string; port: number; scp: Destination; max?: number }[];
  /** Configured known AEs beyond the reachable destinations. */
  extraKnown?: {
    aeTitle: string;
    host: string;
    port: number;
    maxAssociations: number;
    moveDestinations?: string[];
  }[];
}

function setup(s: Setup) {
  const objects = new MemoryObjects(s.stored);
  const connector = new MemoryConnector(
    new Map((s.destinations ?? []).map((d) => [d.port, { ae: d.ae, scp: d.scp }])),
  );
  const log = collectingLogger();
  const move = new MoveService({
    index: new MemoryIndex(s.stored),
    objects,
    connector,
    destinations: () => [
      ...(s.destinations ?? []).map((d) => ({
        aeTitle: d.ae,
        host: "127.0.0.1",
        port: d.port,
        maxAssociations: d.max ?? 2,
      })),
      ...(s.extraKnown ?? []),
    ],
    aeTitle: "MINIPACS",
    maxPduLength: 16384,
    implementationClassUid: "1.2.276.0.7230010.3.0.3.6.4",
    implementationVersionName: "MINIPACS_2_0",
    caseInsensitivePn: true,
    connectTimeoutMs: 2000,
    artimTimeoutMs: 1000,
    idleTimeoutMs: 0,
  });
  const caller = async () => {
    const [a, b] = memoryConnectionPair();
    void acceptor(a, [move], "MINIPACS", log).run();
    const r = new RequestorAssociation({
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
        { id: 1, abstractSyntax: STUDY_ROOT_MOVE, transferSyntaxes: [ELE] },
        { id: 3, abstractSyntax: PATIENT_ROOT_MOVE, transferSyntaxes: [ILE] },
      ],
    });
    return await r.open();
  };
  return { objects, connector, log, caller };
}

function identifier(level: string, keys: Record<number, string>, ts = ELE): Uint8Array {
  const elements: DataElement[] = [{ tag: 0x00080052, vr: "CS", value: ascii(level) }];
  for (const [tag, v] of Object.entries(keys)) {
    elements.push({
      tag: Number(tag),
      vr: Number(tag) === 0x00100020 ? "LO" : "UI",
      value: ascii(v),
    });
  }
  return encodeDataset(elements, encodingOf(ts));
}

async function move(
  assoc: RequestorAssociation,
  destination: string,
  level: string,
  keys: Record<number, string>,
  opts: { pcId?: number; messageId?: number; onPending?: (r: DimseResponse) => void } = {},
): Promise<{ final: DimseResponse; pending: DimseResponse[] }> {
  const pending: DimseResponse[] = [];
  const pcId = opts.pcId ?? 1;
  const final = await assoc.requestWithPending(
    pcId,
    {
      commandField: CommandField.CMoveRq,
      commandDataSetType: 0,
      messageId: opts.messageId,
      affectedSopClassUid: pcId === 1 ? STUDY_ROOT_MOVE : PATIENT_ROOT_MOVE,
      priority: 0,
      moveDestination: destination,
    },
    identifier(level, keys, pcId === 1 ? ELE : ILE),
    (r) => {
      pending.push(r);
      opts.onPending?.(r);
    },
  );
  return { final, pending };
}

function failedList(rsp: DimseResponse, ts = ELE): string[] {
  assert.ok(rsp.dataset, "the final response carries an identifier");
  const el = decodeDataset(rsp.dataset, encodingOf(ts)).find((e) => e.tag === 0x00080058);
  assert.ok(el, "Failed SOP Instance UID List (0008,0058)");
  return new TextDecoder().decode(el.value).replace(/\0+$/, "").split("\\");
}

const STUDY = 0x0020000d;
const SERIES = 0x0020000e;
const SOP = 0x00080018;
const PATIENT = 0x00100020;

// ---- tests ----

Deno.test("C-MOVE of a study: every instance reaches the destination with its dataset unchanged", async () => {
  const stored = [1, 2, 3].map(() => makeStored({ study: "1.2.3" }));
  stored.push(makeStored({ study: "9.9.9" })); // not selected
  const dest = new Destination();
  const { caller, log } = setup({ stored, destinations: [{ ae: "DEST", port: 104, scp: dest }] });
  const assoc = await caller();
  const { final, pending } = await move(assoc, "DEST", "STUDY", { [STUDY]: "1.2.3" }, {
    messageId: 42,
  });
  assert.equal(final.command.status, Status.Success);
  assert.equal(final.command.numberOfCompletedSuboperations, 3);
  assert.equal(final.command.numberOfFailedSuboperations, 0);
  assert.equal(final.command.numberOfWarningSuboperations, 0);
  assert.equal(final.command.numberOfRemainingSuboperations, undefined, "not in a final success");
  assert.equal(final.dataset, null, "no Failed SOP Instance UID List when nothing failed");
  assert.equal(dest.received.length, 3);
  for (const [i, r] of dest.received.entries()) {
    assert.equal(r.command.affectedSopInstanceUid, stored[i].uid);
    assert.equal(r.command.moveOriginatorAeTitle, "VIEWER");
    assert.equal(r.command.moveOriginatorMessageId, 42);
    assert.equal(r.transferSyntax, ELE);
    assert.equal(r.calledAe, "DEST");
    assert.deepEqual(r.dataset, stored[i].dataset, "dataset bytes as stored");
  }
  // A small move: one Pending after every sub-operation, counts adding up.
  assert.equal(pending.length, 3);
  for (const [i, p] of pending.entries()) {
    assert.equal(p.command.status, Status.Pending);
    assert.equal(p.command.numberOfRemainingSuboperations, 2 - i);
    assert.equal(p.command.numberOfCompletedSuboperations, i + 1);
  }
  assert.ok(log.lines.some((l) => /move done.*"completed":3/.test(l)));
  await assoc.release();
});

Deno.test("C-MOVE levels: PATIENT (Patient Root), SERIES and IMAGE with UID lists", async () => {
  const a = makeStored({ study: "1.2.3", series: "1.2.3.1" });
  const b = makeStored({ study: "1.2.3", series: "1.2.3.2" });
  const c = makeStored({ study: "1.2.3", series: "1.2.3.2" });
  const d = makeStored({ study: "4.5.6", series: "4.5.6.1" });
  const dest = new Destination();
  const { caller } = setup({
    stored: [a, b, c, d],
    destinations: [{ ae: "DEST", port: 104, scp: dest }],
  });
  const assoc = await caller();
  const uids = () => dest.received.splice(0).map((r) => r.command.affectedSopInstanceUid).sort();

  let r = await move(assoc, "DEST", "PATIENT", { [PATIENT]: "PID1" }, { pcId: 3 });
  assert.equal(r.final.command.status, Status.Success);
  assert.deepEqual(uids(), [a.uid, b.uid, c.uid, d.uid].sort());

  r = await move(assoc, "DEST", "SERIES", { [STUDY]: "1.2.3", [SERIES]: "1.2.3.1\\4.5.6.1" });
  assert.equal(r.final.command.numberOfCompletedSuboperations, 1, "series of another study: no");
  assert.deepEqual(uids(), [a.uid]);

  r = await move(assoc, "DEST", "IMAGE", {
    [STUDY]: "1.2.3",
    [SERIES]: "1.2.3.2",
    [SOP]: `${b.uid}\\${c.uid}`,
  });
  assert.equal(r.final.command.numberOfCompletedSuboperations, 2);
  assert.deepEqual(uids(), [b.uid, c.uid].sort());

  r = await move(assoc, "DEST", "PATIENT", {});
  assert.equal(
    r.final.command.status,
    Status.IdentifierDoesNotMatchSopClass,
    "PATIENT in Study Root needs a Patient ID",
  );
  r = await move(assoc, "DEST", "SERIES", { [STUDY]: "1.2.3" });
  assert.equal(r.final.command.status, Status.IdentifierDoesNotMatchSopClass, "series UID needed");
  assert.equal(dest.received.length, 0);
  r = await move(assoc, "DEST", "STUDY", { [STUDY]: "7.7.7" });
  assert.equal(
    r.final.command.status,
    Status.Success,
    "nothing matched: success, no sub-operations",
  );
  assert.equal(r.final.command.numberOfCompletedSuboperations, 0);
  await assoc.release();
});

Deno.test("Study Root C-MOVE at PATIENT level with a Patient ID moves every study of the patient", async () => {
  const stored = [makeStored({ study: "1.2.3" }), makeStored({ study: "4.5.6" })];
  const dest = new Destination();
  const { caller, log } = setup({ stored, destinations: [{ ae: "DEST", port: 104, scp: dest }] });
  const assoc = await caller();
  const { final } = await move(assoc, "DEST", "PATIENT", { [PATIENT]: "PID1" });
  assert.equal(final.command.status, Status.Success);
  assert.equal(dest.received.length, 2);
  assert.ok(log.lines.some((l) => /^debug move at PATIENT level in the Study Root model/.test(l)));
  const wild = await move(assoc, "DEST", "PATIENT", { [PATIENT]: "PID*" });
  assert.equal(wild.final.command.status, Status.IdentifierDoesNotMatchSopClass);
  assert.equal(wild.final.command.errorComment, "no wildcards in Patient ID to retrieve");
  assert.equal(dest.received.length, 2, "nothing more sent");
  await assoc.release();
});

Deno.test("an unknown Move Destination gets 0xA801 and no connection is attempted", async () => {
  const stored = [makeStored({ study: "1.2.3" })];
  const { caller, connector, log } = setup({ stored });
  const assoc = await caller();
  const { final } = await move(assoc, "NOBODY", "STUDY", { [STUDY]: "1.2.3" });
  assert.equal(final.command.status, Status.RefusedMoveDestinationUnknown);
  assert.equal(connector.attempts, 0);
  assert.ok(log.lines.some((l) => l.includes("NOBODY") && l.startsWith("warn")));
  await assoc.release();
});

Deno.test("a caller's move_destinations: another known destination gets 0x0124, no connection", async () => {
  const stored = [makeStored({ study: "1.2.3" })];
  const allowed = new Destination();
  const denied = new Destination();
  const { caller, connector, log } = setup({
    stored,
    destinations: [
      { ae: "ALLOWED", port: 104, scp: allowed },
      { ae: "DENIED", port: 105, scp: denied },
    ],
    // The caller, VIEWER, may move only to ALLOWED.
    extraKnown: [{
      aeTitle: "VIEWER",
      host: "127.0.0.1",
      port: 11112,
      maxAssociations: 2,
      moveDestinations: ["ALLOWED"],
    }],
  });
  const assoc = await caller();
  let r = await move(assoc, "DENIED", "STUDY", { [STUDY]: "1.2.3" });
  assert.equal(r.final.command.status, Status.NotAuthorized);
  assert.equal(r.final.command.status, 0x0124);
  assert.equal(r.final.command.errorComment, '"VIEWER" may not move to "DENIED"');
  assert.equal(r.pending.length, 0);
  assert.equal(connector.attempts, 0, "no connection to the refused destination");
  assert.equal(denied.received.length, 0);
  assert.ok(
    log.lines.some((l) =>
      l.startsWith("warn move refused") && l.includes("VIEWER@") && l.includes('"DENIED"')
    ),
    log.lines.join("\n"),
  );
  // An unknown destination is still 0xA801 first.
  r = await move(assoc, "NOBODY", "STUDY", { [STUDY]: "1.2.3" });
  assert.equal(r.final.command.status, Status.RefusedMoveDestinationUnknown);
  // The allowed one works.
  r = await move(assoc, "ALLOWED", "STUDY", { [STUDY]: "1.2.3" });
  assert.equal(r.final.command.status, Status.Success);
  assert.equal(allowed.received.length, 1);
  assert.equal(connector.attempts, 1);
  await assoc.release();
});

Deno.test("move_destinations restricts only the AE it belongs to; an empty list allows none", async () => {
  const stored = [makeStored({ study: "1.2.3" })];
  const dest = new Destination();
  const known = (ae: string, moveDestinations: string[]) => ({
    aeTitle: ae,
    host: "127.0.0.1",
    port: 11112,
    maxAssociations: 2,
    moveDestinations,
  });
  // Another AE's list does not bind VIEWER, who has no list of its own.
  let s = setup({
    stored,
    destinations: [{ ae: "DEST", port: 104, scp: dest }],
    extraKnown: [known("WS", [])],
  });
  let assoc = await s.caller();
  assert.equal((await move(assoc, "DEST", "STUDY", { [STUDY]: "1.2.3" })).final.command.status, 0);
  await assoc.release();
  s = setup({
    stored,
    destinations: [{ ae: "DEST", port: 104, scp: dest }],
    extraKnown: [known("VIEWER", [])],
  });
  assoc = await s.caller();
  const r = await move(assoc, "DEST", "STUDY", { [STUDY]: "1.2.3" });
  assert.equal(r.final.command.status, Status.NotAuthorized);
  assert.equal(s.connector.attempts, 0);
  assert.equal(dest.received.length, 1, "only the first move arrived");
  await assoc.release();
});

Deno.test("a destination that cannot be reached: 0xA702, every instance failed and listed", async () => {
  const stored = [1, 2, 3].map(() => makeStored({ study: "1.2.3" }));
  const { caller, log } = setup({
    stored,
    extraKnown: [{ aeTitle: "DOWN", host: "127.0.0.1", port: 9, maxAssociations: 2 }],
  });
  const assoc = await caller();
  const { final } = await move(assoc, "DOWN", "STUDY", { [STUDY]: "1.2.3" });
  assert.equal(final.command.status, Status.OutOfResourcesSubOps);
  assert.equal(final.command.numberOfFailedSuboperations, 3);
  assert.equal(final.command.numberOfCompletedSuboperations, 0);
  assert.deepEqual(failedList(final).sort(), stored.map((s) => s.uid).sort());
  assert.ok(
    log.lines.some((l) => /move destination DOWN .*cannot be reached.*refused/.test(l)),
    "the log names the destination",
  );
  await assoc.release();
});

Deno.test("a destination that rejects the association: 0xA702 with the failed list", async () => {
  const stored = [makeStored({ study: "1.2.3" })];
  const dest = new Destination();
  // The destination answers to another AE title: it rejects "DEST" as called AE.
  const { caller, log } = setup({
    stored,
    destinations: [{ ae: "OTHER", port: 104, scp: dest }],
    extraKnown: [{ aeTitle: "DEST", host: "127.0.0.1", port: 104, maxAssociations: 2 }],
  });
  const assoc = await caller();
  const { final } = await move(assoc, "DEST", "STUDY", { [PATIENT]: "PID1", [STUDY]: "1.2.3" }, {
    pcId: 3,
  });
  assert.equal(final.command.status, Status.OutOfResourcesSubOps);
  assert.deepEqual(failedList(final, ILE), [stored[0].uid]);
  assert.ok(log.lines.some((l) => /move destination DEST refused the association/.test(l)));
  await assoc.release();
});

Deno.test("a destination taking only Implicit VR LE gets converted datasets with the same values", async () => {
  const stored = [makeStored({ study: "1.2.3", ts: ELE }), makeStored({ study: "1.2.3", ts: ILE })];
  const dest = new Destination(new Set([ILE]));
  const { caller } = setup({ stored, destinations: [{ ae: "DEST", port: 104, scp: dest }] });
  const assoc = await caller();
  const { final } = await move(assoc, "DEST", "STUDY", { [STUDY]: "1.2.3" });
  assert.equal(final.command.status, Status.Success);
  assert.equal(dest.received.length, 2);
  for (const r of dest.received) assert.equal(r.transferSyntax, ILE);
  const values = (bytes: Uint8Array, ts: string) => decodeDataset(bytes, encodingOf(ts));
  assert.deepEqual(
    values(dest.received[0].dataset, ILE).map((e) => [e.tag, e.value, e.items?.length]),
    values(stored[0].dataset, ELE).map((e) => [e.tag, e.value, e.items?.length]),
  );
  assert.deepEqual(dest.received[1].dataset, stored[1].dataset, "already Implicit: untouched");
  // Pixel data (not decoded by decodeDataset) ends both, byte for byte.
  assert.deepEqual(dest.received[0].dataset.subarray(-512), stored[0].dataset.subarray(-512));
  await assoc.release();
});

Deno.test("a large object is converted as it streams (beyond the read-ahead window)", async () => {
  const big = makeStored({ study: "1.2.3", ts: ELE, pixels: 3 * 1024 * 1024 });
  const dest = new Destination(new Set([ILE]));
  const { caller } = setup({ stored: [big], destinations: [{ ae: "DEST", port: 104, scp: dest }] });
  const assoc = await caller();
  const { final } = await move(assoc, "DEST", "STUDY", { [STUDY]: "1.2.3" });
  assert.equal(final.command.status, Status.Success);
  const got = dest.received[0];
  assert.equal(got.transferSyntax, ILE);
  const top = (bytes: Uint8Array, ts: string) =>
    decodeDataset(bytes, encodingOf(ts)).map((e) => [e.tag, e.value, e.items?.length]);
  assert.deepEqual(top(got.dataset, ILE), top(big.dataset, ELE));
  const pixels = 3 * 1024 * 1024;
  assert.deepEqual(got.dataset.subarray(-pixels), big.dataset.subarray(-pixels));
  // SQ and OW headers lose 4 bytes each in Implicit VR; the sequence and its item gain delimiters.
  assert.equal(got.dataset.length, big.dataset.length - 4 - 4 + 8 + 8);
  await assoc.release();
});

Deno.test("a compressed object that cannot be decoded for the destination is a counted, listed failure (0xB000)", async () => {
  const plain = makeStored({ study: "1.2.3" });
  const jpeg = makeStored({ study: "1.2.3", ts: JPEG });
  const dest = new Destination(new Set([ELE, ILE]));
  const { caller, log } = setup({
    stored: [plain, jpeg],
    destinations: [{ ae: "DEST", port: 104, scp: dest }],
  });
  const assoc = await caller();
  const { final } = await move(assoc, "DEST", "STUDY", { [STUDY]: "1.2.3" });
  assert.equal(final.command.status, Status.SubOpsCompleteWithFailures);
  assert.equal(final.command.numberOfCompletedSuboperations, 1);
  assert.equal(final.command.numberOfFailedSuboperations, 1);
  assert.deepEqual(failedList(final), [jpeg.uid]);
  // Command Data Set Type 0x0001 for "dataset present", as GDCM and pynetdicom expect.
  assert.equal(final.command.commandDataSetType, 0x0001);
  assert.equal(dest.received.length, 1);
  assert.equal(dest.received[0].command.commandDataSetType, 0x0001, "C-STORE-RQ too");
  // Its header has no Image Pixel Module: the log line says why it could not be decoded.
  assert.ok(
    log.lines.some((l) =>
      /sub-operation failed: .*cannot decode .*\(0028,0010\) is missing/.test(l)
    ),
    log.lines.join("\n"),
  );
  await assoc.release();
});

Deno.test("a compressed object goes as stored when the destination accepts its syntax", async () => {
  const jpeg = makeStored({ study: "1.2.3", ts: JPEG });
  const dest = new Destination(new Set([JPEG, ELE, ILE]));
  const { caller } = setup({
    stored: [jpeg],
    destinations: [{ ae: "DEST", port: 104, scp: dest }],
  });
  const assoc = await caller();
  const { final } = await move(assoc, "DEST", "STUDY", { [STUDY]: "1.2.3" });
  assert.equal(final.command.status, Status.Success);
  assert.equal(dest.received[0].transferSyntax, JPEG);
  assert.deepEqual(dest.received[0].dataset, jpeg.dataset);
  await assoc.release();
});

Deno.test("failure and warning statuses from the destination are counted apart", async () => {
  const stored = [1, 2, 3, 4].map(() => makeStored({ study: "1.2.3" }));
  const dest = new Destination(undefined, (n) => (n === 2 ? 0xa700 : n === 3 ? 0xb000 : 0));
  const { caller } = setup({ stored, destinations: [{ ae: "DEST", port: 104, scp: dest }] });
  const assoc = await caller();
  const { final } = await move(assoc, "DEST", "STUDY", { [STUDY]: "1.2.3" });
  assert.equal(final.command.status, Status.SubOpsCompleteWithFailures);
  assert.equal(final.command.numberOfCompletedSuboperations, 2);
  assert.equal(final.command.numberOfFailedSuboperations, 1);
  assert.equal(final.command.numberOfWarningSuboperations, 1);
  assert.deepEqual(failedList(final), [stored[1].uid], "warnings are not listed as failed");
  await assoc.release();
});

Deno.test("a destination lost mid-move fails the sub-operation in flight and the rest", async () => {
  const stored = [1, 2, 3, 4].map(() => makeStored({ study: "1.2.3" }));
  const dest = new Destination(undefined, (n) => {
    if (n === 2) throw new Error("destination crashed"); // its association is aborted
    return Status.Success;
  });
  const { caller, log } = setup({ stored, destinations: [{ ae: "DEST", port: 104, scp: dest }] });
  const assoc = await caller();
  const { final } = await move(assoc, "DEST", "STUDY", { [STUDY]: "1.2.3" });
  assert.equal(final.command.status, Status.SubOpsCompleteWithFailures);
  assert.equal(final.command.numberOfCompletedSuboperations, 1);
  assert.equal(final.command.numberOfFailedSuboperations, 3);
  assert.deepEqual(failedList(final), stored.slice(1).map((s) => s.uid));
  assert.ok(log.lines.some((l) => /association lost.*3 sub-operation/.test(l)));
  await assoc.release();
});

Deno.test("a larger move reports Pending at most ten times a second, not after every image", async () => {
  const stored = Array.from({ length: 150 }, () => makeStored({ study: "1.2.3", pixels: 64 }));
  const dest = new Destination(undefined, undefined, 9);
  const { caller } = setup({ stored, destinations: [{ ae: "DEST", port: 104, scp: dest }] });
  const assoc = await caller();
  const t0 = performance.now();
  const { final, pending } = await move(assoc, "DEST", "STUDY", { [STUDY]: "1.2.3" });
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(final.command.numberOfCompletedSuboperations, 150);
  assert.ok(pending.length >= Math.floor(seconds), "at least one Pending a second");
  assert.ok(pending.length <= seconds * 10 + 2, `${pending.length} in ${seconds.toFixed(1)} s`);
  assert.ok(pending.length < 50, "far fewer than one per image");
  const last = pending.at(-1)!.command;
  assert.equal(
    last.numberOfRemainingSuboperations! + last.numberOfCompletedSuboperations!,
    150,
    "counts add up",
  );
  await assoc.release();
});

Deno.test("C-CANCEL stops a move after the sub-operation in flight: 0xFE00 with the counts", async () => {
  const stored = Array.from({ length: 30 }, () => makeStored({ study: "1.2.3" }));
  const dest = new Destination(undefined, undefined, 20);
  const { caller } = setup({ stored, destinations: [{ ae: "DEST", port: 104, scp: dest }] });
  const assoc = await caller();
  let cancelSent = false;
  const { final } = await move(assoc, "DEST", "STUDY", { [STUDY]: "1.2.3" }, {
    messageId: 9,
    onPending: (p) => {
      if (!cancelSent && (p.command.numberOfCompletedSuboperations ?? 0) >= 2) {
        cancelSent = true;
        void assoc.cancel(1, 9);
      }
    },
  });
  assert.equal(final.command.status, Status.Cancel);
  const done = final.command.numberOfCompletedSuboperations!;
  const remaining = final.command.numberOfRemainingSuboperations!;
  assert.ok(done >= 2 && done < 30, `stopped early (${done} completed)`);
  assert.equal(done + remaining + final.command.numberOfFailedSuboperations!, 30);
  assert.equal(dest.received.length, done, "nothing sent after the one in flight");
  await assoc.release();
});

Deno.test("max_associations: moves to one destination beyond its limit wait their turn", async () => {
  const stored = [1, 2, 3].map(() => makeStored({ study: "1.2.3" }));
  const dest = new Destination(undefined, undefined, 5);
  const { caller } = setup({
    stored,
    destinations: [{ ae: "DEST", port: 104, scp: dest, max: 1 }],
  });
  const callers = await Promise.all([caller(), caller(), caller()]);
  const results = await Promise.all(
    callers.map((c) => move(c, "DEST", "STUDY", { [STUDY]: "1.2.3" })),
  );
  for (const r of results) assert.equal(r.final.command.status, Status.Success);
  assert.equal(dest.received.length, 9);
  assert.equal(dest.maxOpen, 1, "never more than one association to the destination");
  for (const c of callers) await c.release();
});

Deno.test("moves to two destinations run at the same time", async () => {
  const stored = Array.from({ length: 5 }, () => makeStored({ study: "1.2.3" }));
  const one = new Destination(undefined, undefined, 10);
  const two = new Destination(undefined, undefined, 10);
  let overlap = false;
  const { caller } = setup({
    stored,
    destinations: [{ ae: "ONE", port: 104, scp: one, max: 1 }, {
      ae: "TWO",
      port: 105,
      scp: two,
      max: 1,
    }],
  });
  const [a, b] = await Promise.all([caller(), caller()]);
  const watch = setInterval(() => (overlap ||= one.open > 0 && two.open > 0), 2);
  try {
    const [ra, rb] = await Promise.all([
      move(a, "ONE", "STUDY", { [STUDY]: "1.2.3" }),
      move(b, "TWO", "STUDY", { [STUDY]: "1.2.3" }),
    ]);
    assert.equal(ra.final.command.status, Status.Success);
    assert.equal(rb.final.command.status, Status.Success);
  } finally {
    clearInterval(watch);
  }
  assert.ok(overlap, "both sub-associations were open at once");
  await a.release();
  await b.release();
});

Deno.test("a large object streams: the reader is never far ahead of the destination", async () => {
  const big = makeStored({ study: "1.2.3", pixels: 8 * 1024 * 1024 });
  const seen: { lag: number; reader?: MemoryObjects } = { lag: 0 };
  const dest = new Destination(undefined, undefined, 0, () => {
    seen.lag = Math.max(seen.lag, seen.reader!.pulled - dest.bytes);
  });
  const s = setup({ stored: [big], destinations: [{ ae: "DEST", port: 104, scp: dest }] });
  seen.reader = s.objects;
  const assoc = await s.caller();
  const { final } = await move(assoc, "DEST", "STUDY", { [STUDY]: "1.2.3" });
  assert.equal(final.command.status, Status.Success);
  assert.deepEqual(dest.received[0].dataset, big.dataset);
  // Read-ahead is one 1 MiB window; the rest follows as the destination takes it.
  assert.ok(seen.lag < 1.5 * 1024 * 1024, `read-ahead stays bounded (${seen.lag} bytes)`);
  await assoc.release();
});

Deno.test("DestinationSlots: a released slot wakes one waiter; an aborted wait gives up", async () => {
  const slots = new DestinationSlots();
  const never = new AbortController().signal;
  const r1 = await slots.acquire("D", 1, never);
  assert.ok(r1);
  let second = false;
  const p2 = slots.acquire("D", 1, never).then((r) => ((second = true), r));
  const abort = new AbortController();
  const p3 = slots.acquire("D", 1, abort.signal);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(second, false, "waits while the slot is taken");
  abort.abort();
  assert.equal(await p3, null);
  r1();
  const r2 = await p2;
  assert.ok(r2 && second);
  assert.equal(slots.busy("D"), 1);
  r2();
  assert.equal(slots.busy("D"), 0);
});
