// The C-FIND SCP against an in-memory index: streaming, statuses, cancel and the result limit.
import assert from "node:assert/strict";
import type { DataElement } from "../../../src/core/dicom/dataset.ts";
import { decodeDataset, encodingOf, textOf } from "../../../src/core/dicom/dataset.ts";
import { type Command, CommandField } from "../../../src/core/dimse/command.ts";
import { DatasetStream } from "../../../src/core/dimse/dataset_stream.ts";
import { Status } from "../../../src/core/dimse/status.ts";
import type { InstanceRef, QueryIndex } from "../../../src/core/ports.ts";
import { rowMatches } from "../../../src/core/query/matching.ts";
import type { Query, QueryRow } from "../../../src/core/query/query.ts";
import type { FileAttributes } from "../../../src/core/query/response.ts";
import { findExtendedNegotiationReply, FindService } from "../../../src/core/services/find_scp.ts";
import type { ServiceContext } from "../../../src/core/dimse/service_contract.ts";
import { EXPLICIT_LE, identifier, type Key, T } from "../query/helpers.ts";

const STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1";

class MemoryIndex implements QueryIndex {
  produced = 0;
  constructor(readonly rows: QueryRow[], readonly files = new Map<string, FileAttributes>()) {}
  async *find(query: Query, signal?: AbortSignal): AsyncGenerator<QueryRow> {
    for (const row of this.rows) {
      if (signal?.aborted) return;
      await Promise.resolve();
      this.produced++;
      if (rowMatches(query.matches, row)) yield row;
    }
  }
  // deno-lint-ignore require-yield
  async *instancesFor(): AsyncGenerator<InstanceRef> {
    return;
  }
  readAttributes(sop: string): Promise<FileAttributes | null> {
    return Promise.resolve(this.files.get(sop) ?? null);
  }
}

interface Sent {
  command: Command;
  dataset?: DataElement[];
  /** Rows the index had produced when this was sent. */
  produced: number;
}

async function find(
  index: MemoryIndex,
  keys: Key[],
  opts: {
    maxResults?: number;
    cancelAfter?: number;
    /** Offer sendAll, each call recorded in `writes` and taking a turn of the event loop. */
    writes?: Sent[][];
  } = {},
): Promise<Sent[]> {
  const service = new FindService({
    index,
    aeTitle: "MINIPACS",
    caseInsensitivePn: true,
    maxResults: opts.maxResults ?? 0,
  });
  const dataset = new DatasetStream();
  const abort = new AbortController();
  const sent: Sent[] = [];
  const ctx: ServiceContext = {
    association: { id: "1", callingAeTitle: "SCU", calledAeTitle: "MINIPACS", remote: "test" },
    logger: { log() {} },
    cancelled: abort.signal,
    contexts: () => [],
    request: () => Promise.reject(new Error("not used")),
    send(command, bytes) {
      sent.push({
        command,
        dataset: bytes ? decodeDataset(bytes, encodingOf(EXPLICIT_LE)) : undefined,
        produced: index.produced,
      });
      if (sent.length === opts.cancelAfter) abort.abort();
      return Promise.resolve();
    },
  };
  const writes = opts.writes;
  if (writes) {
    ctx.sendAll = async (messages) => {
      const write: Sent[] = [];
      for (const m of messages) {
        await ctx.send(m.command, m.dataset);
        write.push(sent.at(-1)!);
      }
      writes.push(write);
      await new Promise((r) => setTimeout(r, 1));
    };
  }
  const handled = service.handle({
    context: {
      id: 1,
      abstractSyntax: STUDY_ROOT_FIND,
      transferSyntax: EXPLICIT_LE,
      requestorIsScu: true,
      requestorIsScp: false,
    },
    command: {
      commandField: CommandField.CFindRq,
      commandDataSetType: 0,
      messageId: 7,
      affectedSopClassUid: STUDY_ROOT_FIND,
    },
    dataset,
  }, ctx);
  await dataset.push(identifier(keys));
  dataset.end();
  await handled;
  return sent;
}

const STUDIES: QueryRow[] = [1, 2, 3].map((n) => ({
  studyInstanceUid: `1.2.${n}`,
  patientName: n === 3 ? "Roe^Richard" : `Doe^John${n}`,
  modalitiesInStudy: "CT",
}));
const BY_NAME: Key[] = [
  [T.QueryRetrieveLevel, "CS", "STUDY"],
  [T.StudyInstanceUID, "UI", ""],
  [T.PatientName, "PN", "doe*"],
];

const statuses = (sent: Sent[]) => sent.map((s) => s.command.status);
const uid = (s: Sent) => textOf(s.dataset!.find((e) => e.tag === T.StudyInstanceUID)!, "");

Deno.test("FindService sends one Pending per match as the index reads it, then Success", async () => {
  const sent = await find(new MemoryIndex(STUDIES), BY_NAME);
  assert.deepEqual(statuses(sent), [Status.Pending, Status.Pending, Status.Success]);
  assert.deepEqual(sent.slice(0, 2).map(uid), ["1.2.1", "1.2.2"]);
  assert.equal(sent[0].produced, 1, "the first match goes out before the next row is read");
  for (const s of sent) {
    assert.equal(s.command.commandField, CommandField.CFindRsp);
    assert.equal(s.command.messageIdBeingRespondedTo, 7);
    assert.equal(s.command.affectedSopClassUid, STUDY_ROOT_FIND);
  }
  assert.equal(sent.at(-1)!.dataset, undefined, "the final response has no identifier");
});

Deno.test("FindService joins the matches found while a write is under way into one write", async () => {
  const rows = Array.from({ length: 300 }, (_, i) => ({ studyInstanceUid: `1.3.${i}` }));
  const writes: Sent[][] = [];
  const sent = await find(new MemoryIndex(rows), [[T.QueryRetrieveLevel, "CS", "STUDY"], [
    T.StudyInstanceUID,
    "UI",
    "",
  ]], { writes });
  assert.equal(sent.length, 301);
  assert.deepEqual(sent.slice(0, 300).map(uid), rows.map((r) => r.studyInstanceUid));
  assert.equal(sent.at(-1)!.command.status, Status.Success);
  assert.equal(writes[0].length, 1, "the first match goes out alone, at once");
  assert.equal(writes[0][0].produced, 1, "before the next row is read");
  assert.ok(writes.length <= 3, `300 matches and the final status in ${writes.length} writes`);
  assert.equal(writes.at(-1)!.at(-1)!.command.status, Status.Success, "the final status joins");
});

Deno.test("FindService holds at most about 64 KiB of matches while a write is under way", async () => {
  // Identifiers of about 1 KiB: 300 of them cannot all wait for one write.
  const rows = Array.from({ length: 300 }, (_, i) => ({
    studyInstanceUid: `1.3.${i}`,
    studyDescription: "x".repeat(1000),
  }));
  const writes: Sent[][] = [];
  const sent = await find(new MemoryIndex(rows), [
    [T.QueryRetrieveLevel, "CS", "STUDY"],
    [T.StudyInstanceUID, "UI", ""],
    [0x00081030, "LO", ""], // Study Description
  ], { writes });
  assert.equal(sent.length, 301);
  assert.ok(writes.length >= 300 * 1000 / (64 * 1024), `${writes.length} writes`);
  for (const w of writes) assert.ok(w.length <= 66, `a write of ${w.length} responses`);
});

Deno.test("FindService answers 0xFF01 when a key with a value is not matched", async () => {
  const sent = await find(new MemoryIndex(STUDIES), [...BY_NAME, [T.InstitutionName, "LO", "X"]]);
  assert.deepEqual(statuses(sent), [Status.PendingWarning, Status.PendingWarning, Status.Success]);
});

Deno.test("FindService stops at C-CANCEL and ends with 0xFE00", async () => {
  const rows = Array.from({ length: 50 }, (_, i) => ({ studyInstanceUid: `1.3.${i}` }));
  const sent = await find(new MemoryIndex(rows), [[T.QueryRetrieveLevel, "CS", "STUDY"]], {
    cancelAfter: 2,
  });
  assert.deepEqual(statuses(sent), [Status.Pending, Status.Pending, Status.Cancel]);
});

Deno.test("FindService refuses past max_results with 0xA700 and says the query was too broad", async () => {
  const sent = await find(new MemoryIndex(STUDIES), [[T.QueryRetrieveLevel, "CS", "STUDY"]], {
    maxResults: 2,
  });
  assert.deepEqual(statuses(sent), [Status.Pending, Status.Pending, Status.RefusedOutOfResources]);
  assert.match(sent.at(-1)!.command.errorComment!, /more than 2 matches: query too broad/);
  const fits = await find(new MemoryIndex(STUDIES), BY_NAME, { maxResults: 2 });
  assert.equal(fits.at(-1)!.command.status, Status.Success, "exactly the limit is fine");
});

Deno.test("FindService answers a broken identifier with one failure and an Error Comment", async () => {
  const sent = await find(new MemoryIndex(STUDIES), [[T.PatientName, "PN", "Doe"]]);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].command.status, Status.IdentifierDoesNotMatchSopClass);
  assert.match(sent[0].command.errorComment!, /Query\/Retrieve Level/);
  assert.deepEqual(sent[0].command.offendingElement, [T.QueryRetrieveLevel]);
});

Deno.test("FindService matches IMAGE-level keys on the stored header of matched instances only", async () => {
  const rows: QueryRow[] = ["1.2.1.1", "1.2.1.2"].map((sop) => ({
    sopInstanceUid: sop,
    studyInstanceUid: "1.2",
    seriesInstanceUid: "1.2.1",
  }));
  const rowsValue = (n: number) => new Uint8Array([n & 0xff, n >> 8]);
  const files = new Map<string, FileAttributes>([
    ["1.2.1.1", {
      elements: [{ tag: T.Rows, vr: "US", value: rowsValue(512) }],
      specificCharacterSet: "",
    }],
    ["1.2.1.2", {
      elements: [{ tag: T.Rows, vr: "US", value: rowsValue(256) }],
      specificCharacterSet: "",
    }],
  ]);
  const index = new MemoryIndex(rows, files);
  let reads = 0;
  const read = index.readAttributes.bind(index);
  index.readAttributes = (sop: string) => (reads++, read(sop));
  const sent = await find(index, [
    [T.QueryRetrieveLevel, "CS", "IMAGE"],
    [T.StudyInstanceUID, "UI", "1.2"],
    [T.SeriesInstanceUID, "UI", "1.2.1"],
    [T.SOPInstanceUID, "UI", "1.2.1.2"],
    { tag: T.Rows, vr: "US", value: rowsValue(256) },
  ]);
  assert.deepEqual(statuses(sent), [Status.Pending, Status.Success]);
  assert.equal(reads, 1, "only the instance the index matched is read");
});

Deno.test("findExtendedNegotiationReply() declines relational queries, accepts combined date-time", () => {
  assert.deepEqual([...findExtendedNegotiationReply(new Uint8Array([1, 1, 1]))], [0, 1, 0]);
  assert.deepEqual([...findExtendedNegotiationReply(new Uint8Array([1]))], [0]);
});
