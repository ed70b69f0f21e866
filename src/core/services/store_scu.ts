// C-STORE sub-operations of C-MOVE and C-GET (PS3.4 C.4.2.3, C.4.3.3): each stored object is
// streamed from disk to the peer as it is read, and split into PDUs by the association; it is
// never whole in memory. An object stored uncompressed is re-encoded between the uncompressed
// syntaxes when that is all the peer accepts; a compressed one the peer will not take fails.
import { type Command, CommandField, DATASET_PRESENT, Priority } from "../dimse/command.ts";
import { statusCategory } from "../dimse/status.ts";
import { decodeFileMetaInformation } from "../dicom/part10.ts";
import { canTranscode, DatasetTranscoder, transcodeDataset } from "../dicom/transcode.ts";
import { EXPLICIT_VR_LE, IMPLICIT_VR_LE } from "../dicom/transfer_syntaxes.ts";
import type { ObjectReader } from "../ports.ts";
import type { AcceptedContext } from "../ul/negotiation.ts";
import type { DimseResponse } from "./service.ts";

/** Presentation context ids are odd, 1..255: at most 128 per association (PS3.8 9.3.2.2). */
export const MAX_CONTEXTS = 128;
/**
 * Bytes read ahead when an object is opened: an object this small is sent from memory, as
 * one write of command and data; a larger one streams on from there. Memory per running
 * retrieve stays within two windows, whatever the size of the objects.
 */
const READ_AHEAD = 1024 * 1024;

/** What a sub-operation needs to know of an instance. */
export interface SubOperationTarget {
  sopInstanceUid: string;
  sopClassUid: string;
  /** As stored. */
  transferSyntaxUid: string;
}

export interface PresentationContextProposal {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

/**
 * The presentation contexts a sub-association proposes for these instances: one per SOP class
 * and stored transfer syntax, with the stored syntax first and then Explicit and Implicit VR
 * LE. The most used pairs first when there are more than 128.
 */
export function proposeContexts(
  instances: Iterable<SubOperationTarget>,
): PresentationContextProposal[] {
  const counts = new Map<string, { sopClassUid: string; ts: string; n: number }>();
  for (const i of instances) {
    const key = `${i.sopClassUid} ${i.transferSyntaxUid}`;
    const entry = counts.get(key);
    if (entry) entry.n++;
    else counts.set(key, { sopClassUid: i.sopClassUid, ts: i.transferSyntaxUid, n: 1 });
  }
  const pairs = [...counts.values()].sort((a, b) => b.n - a.n).slice(0, MAX_CONTEXTS);
  return pairs.map((p, k) => ({
    id: 2 * k + 1,
    abstractSyntax: p.sopClassUid,
    transferSyntaxes: [...new Set([p.ts, EXPLICIT_VR_LE, IMPLICIT_VR_LE])],
  }));
}

export interface ContextChoice {
  context: AcceptedContext;
  /** The dataset must be re-encoded into the context's transfer syntax. */
  transcode: boolean;
}

/**
 * The context to send an instance on: one in its stored syntax if any, else an uncompressed
 * one it can be re-encoded into (Explicit VR LE preferred). Null when there is none.
 */
export function chooseContext(
  contexts: Iterable<AcceptedContext>,
  sopClassUid: string,
  storedTransferSyntax: string,
): ContextChoice | null {
  let best: AcceptedContext | undefined;
  for (const c of contexts) {
    if (c.abstractSyntax !== sopClassUid) continue;
    if (c.transferSyntax === storedTransferSyntax) return { context: c, transcode: false };
    if (!canTranscode(storedTransferSyntax, c.transferSyntax)) continue;
    if (!best || (c.transferSyntax === EXPLICIT_VR_LE && best.transferSyntax !== EXPLICIT_VR_LE)) {
      best = c;
    }
  }
  return best ? { context: best, transcode: true } : null;
}

export type SubOperationOutcome = "completed" | "warning" | "failed";

export interface SubOperationResult {
  outcome: SubOperationOutcome;
  /** The peer's C-STORE status; undefined when no C-STORE-RQ was sent. */
  status?: number;
  /** Why it failed or warned, for the log. */
  reason?: string;
}

export interface StoreScuOptions {
  objects: ObjectReader;
  /** The contexts sub-operations may use (C-GET: those where the peer took the SCP role). */
  contexts(): Iterable<AcceptedContext>;
  /** Sends a C-STORE-RQ with its dataset and resolves with the C-STORE-RSP. */
  request(
    pcId: number,
    command: Command,
    dataset: Uint8Array | AsyncIterable<Uint8Array>,
  ): Promise<DimseResponse>;
  /** C-MOVE: the originator of the move (PS3.7 9.1.1.1, Move Originator AE Title/Message ID). */
  moveOriginator?: { aeTitle: string; messageId: number };
}

/** A stored object's dataset, streamed after its file meta. */
class StoredDataset implements AsyncIterable<Uint8Array> {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #first: Uint8Array;
  #done: boolean;
  /** The whole dataset, when it fitted in the read-ahead window. */
  readonly whole: Uint8Array | null;

  private constructor(
    reader: ReadableStreamDefaultReader<Uint8Array>,
    first: Uint8Array,
    done: boolean,
    readonly transferSyntaxUid: string,
  ) {
    this.#reader = reader;
    this.#first = first;
    this.#done = done;
    this.whole = done ? first : null;
  }

  /** Opens an object and reads its file meta; null when it is no longer stored. */
  static async open(objects: ObjectReader, sopInstanceUid: string): Promise<StoredDataset | null> {
    const stored = await objects.readObject(sopInstanceUid);
    if (!stored) return null;
    const reader = stored.stream.getReader();
    try {
      const parts: Uint8Array[] = [];
      let have = 0;
      let done = false;
      while (have < READ_AHEAD) { // each read adds a chunk or ends the loop
        const r = await reader.read();
        if (r.done) {
          done = true;
          break;
        }
        parts.push(r.value);
        have += r.value.length;
      }
      const head = parts.length === 1 ? parts[0] : join(parts, have);
      const { meta, datasetOffset } = decodeFileMetaInformation(head);
      return new StoredDataset(reader, head.subarray(datasetOffset), done, meta.transferSyntaxUid);
    } catch (e) {
      await reader.cancel().catch(() => {});
      throw e;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    try {
      if (this.#first.length) yield this.#first;
      while (!this.#done) { // ends with the stream
        const r = await this.#reader.read();
        if (r.done) {
          this.#done = true;
          break;
        }
        yield r.value;
      }
    } finally {
      this.close();
    }
  }

  /** Closes the file if the dataset was not read to its end. */
  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#reader.cancel().catch(() => {});
  }
}

function join(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Runs C-STORE sub-operations on one association. */
export class StoreScu {
  readonly #options: StoreScuOptions;
  /** The next instance, opened while the peer stores the current one. */
  #next: { uid: string; opening: Promise<StoredDataset | null | Error> } | null = null;

  constructor(options: StoreScuOptions) {
    this.#options = options;
  }

  /** Closes a prefetched object that will not be sent. */
  close(): void {
    const next = this.#next;
    this.#next = null;
    void next?.opening.then((d) => d instanceof StoredDataset && d.close());
  }

  #open(uid: string): Promise<StoredDataset | null> {
    const next = this.#next;
    this.#next = null;
    if (next?.uid === uid) {
      return next.opening.then((d) => {
        if (d instanceof Error) throw d;
        return d;
      });
    }
    if (next) void next.opening.then((d) => d instanceof StoredDataset && d.close());
    return StoredDataset.open(this.#options.objects, uid);
  }

  /** Starts opening an instance (its file and first bytes) for the next store(). */
  #prefetch(uid: string): void {
    this.close();
    this.#next = {
      uid,
      opening: StoredDataset.open(this.#options.objects, uid).catch((e) => e as Error),
    };
  }

  /**
   * Sends one stored instance. A failure before anything is sent (no context, object gone,
   * dataset that cannot be re-encoded) or a failure status from the peer is a failed result;
   * an error while sending (the association is gone or now unusable) is thrown.
   */
  async store(target: SubOperationTarget, next?: SubOperationTarget): Promise<SubOperationResult> {
    const o = this.#options;
    let dataset: StoredDataset | null;
    try {
      dataset = await this.#open(target.sopInstanceUid);
    } catch (e) {
      return {
        outcome: "failed",
        reason: `cannot read the stored object: ${(e as Error).message}`,
      };
    }
    if (!dataset) return { outcome: "failed", reason: "no longer stored" };
    const stored = dataset.transferSyntaxUid;
    const choice = chooseContext(o.contexts(), target.sopClassUid, stored);
    if (!choice) {
      dataset.close();
      return {
        outcome: "failed",
        reason: `the peer accepts no transfer syntax this object can be sent in (${stored})`,
      };
    }
    const to = choice.context.transferSyntax;
    // A small object goes from memory in one write; a large one streams.
    let body: AsyncIterable<Uint8Array> | Uint8Array = dataset.whole ?? dataset;
    if (choice.transcode) {
      // Re-encoded whole before the first byte goes out (a large object in a first pass that
      // only checks): a message cut halfway cannot be undone.
      try {
        if (dataset.whole) {
          const t = new DatasetTranscoder(stored, to);
          const pieces = [...t.push(dataset.whole), ...t.end()];
          body = join(pieces, pieces.reduce((n, p) => n + p.length, 0));
        } else await checkTranscodable(dataset, stored, to);
      } catch (e) {
        return { outcome: "failed", reason: `cannot re-encode as ${to}: ${(e as Error).message}` };
      }
      if (!dataset.whole) {
        const again = await StoredDataset.open(o.objects, target.sopInstanceUid).catch(() => null);
        if (!again) return { outcome: "failed", reason: "no longer stored" };
        body = transcodeDataset(again, stored, to);
      }
    }
    if (next) {
      // Once the last byte is handed on, the next object is read while the peer answers.
      const inner = body;
      if (inner instanceof Uint8Array) {
        queueMicrotask(() => this.#prefetch(next.sopInstanceUid));
      } else {
        body = (async function* (scu: StoreScu) {
          yield* inner;
          scu.#prefetch(next.sopInstanceUid);
        })(this);
      }
    }
    const response = await o.request(choice.context.id, {
      commandField: CommandField.CStoreRq,
      commandDataSetType: DATASET_PRESENT,
      affectedSopClassUid: target.sopClassUid,
      affectedSopInstanceUid: target.sopInstanceUid,
      priority: Priority.Medium,
      moveOriginatorAeTitle: o.moveOriginator?.aeTitle,
      moveOriginatorMessageId: o.moveOriginator?.messageId,
    }, body);
    const status = response.command.status ?? 0xffff;
    const category = statusCategory(status);
    const comment = response.command.errorComment;
    if (category === "success") return { outcome: "completed", status };
    const reason = `C-STORE status 0x${status.toString(16).padStart(4, "0")}${
      comment ? `: ${comment}` : ""
    }`;
    return { outcome: category === "warning" ? "warning" : "failed", status, reason };
  }
}

/** Runs the re-encoder over a whole dataset, discarding the output; throws if it fails. */
async function checkTranscodable(
  dataset: AsyncIterable<Uint8Array>,
  from: string,
  to: string,
): Promise<void> {
  const t = new DatasetTranscoder(from, to);
  for await (const chunk of dataset) t.push(chunk);
  t.end();
}
