// C-STORE sub-operations of C-MOVE and C-GET (PS3.4 C.4.2.3, C.4.3.3): each stored object is
// streamed from disk to the peer as it is read, and split into PDUs by the association; it is
// never whole in memory. When the peer does not take the stored syntax, the object is
// re-encoded into an uncompressed one it accepts: between the uncompressed syntaxes, inflated
// from Deflated Explicit VR LE, or decoded frame by frame from a compressed syntax.
import { type Command, CommandField, DATASET_PRESENT, Priority } from "../dimse/command.ts";
import { FramedDataset } from "../dimse/data_packer.ts";
import { statusCategory } from "../dimse/status.ts";
import { concatBytes } from "../dicom/bytes.ts";
import { decodeFileMetaInformation } from "../dicom/part10.ts";
import { DatasetTranscoder, decodesPixels, transcodeDataset } from "../dicom/transcode.ts";
import { transcodeWhole } from "../dicom/transcode_whole.ts";
import { DEFLATED_EXPLICIT_VR_LE } from "../dicom/transfer_syntaxes.ts";
import type { ObjectDecoder, ObjectReader } from "../ports.ts";
import type { AcceptedContext } from "../ul/negotiation.ts";
import {
  chooseContext,
  ContextChoice,
  noContextReason,
  SubOperationTarget,
} from "./sub_operation_contexts.ts";
import type { DimseResponse } from "../dimse/service_contract.ts";

/**
 * Bytes read ahead when an object is opened: an object this small is sent from memory, as
 * one write of command and data; a larger one streams on from there. Memory per running
 * retrieve stays within two windows, whatever the size of the objects.
 */
const READ_AHEAD = 1024 * 1024;
/**
 * A decoded (or inflated) object up to this size is made whole in memory, so that a decoding
 * failure is known before anything is sent; a larger one is decoded twice: once to check,
 * then again as it streams, a frame at a time.
 */
const DECODED_IN_MEMORY = 4 * 1024 * 1024;
/**
 * Objects made ready ahead of the one being sent while they are decoded on the decoder's
 * threads, so that every thread decodes while this one sends (each up to DECODED_IN_MEMORY);
 * other objects are read one ahead. Callers pass this many upcoming targets.
 */
export const STORE_LOOKAHEAD = 3;

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
  /**
   * Sends a C-STORE-RQ with its dataset and resolves with the C-STORE-RSP; calls `onSent` once
   * the whole message is handed to the transport (where it is not, nothing is read ahead).
   */
  request(
    pcId: number,
    command: Command,
    dataset: Uint8Array | AsyncIterable<Uint8Array> | FramedDataset,
    onSent?: () => void,
  ): Promise<DimseResponse>;
  /** The peer's Maximum Length Received: with it, a small object is framed into PDUs ahead. */
  peerMaxPduLength?: number;
  /** C-MOVE: the originator of the move (PS3.7 9.1.1.1, Move Originator AE Title/Message ID). */
  moveOriginator?: { aeTitle: string; messageId: number };
  /** Decodes small compressed objects on other threads; without it they are decoded here. */
  decoder?: ObjectDecoder;
}

/**
 * Buffers a sub-operation loop reuses for small objects (read, framed), so that sending one
 * neither allocates nor clears half a megabyte.
 */
class BufferPool {
  #free: Uint8Array[] = [];

  /** A buffer of at least n bytes, not cleared. */
  take(n: number): Uint8Array {
    const i = this.#free.findIndex((b) => b.length >= n);
    if (i >= 0) return this.#free.splice(i, 1)[0];
    return new Uint8Array(Math.ceil(n / POOL_GRAIN) * POOL_GRAIN);
  }

  /** Gives back a buffer (or a view of one) from take(). */
  give(view: Uint8Array): void {
    const whole = new Uint8Array(view.buffer);
    if (this.#free.length >= POOL_SIZE || this.#free.some((b) => b.buffer === whole.buffer)) return;
    this.#free.push(whole);
  }
}

const POOL_GRAIN = 64 * 1024;
const POOL_SIZE = 4;

/** A stored object's dataset, streamed after its file meta (or whole, when small). */
class StoredDataset implements AsyncIterable<Uint8Array> {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array> | null;
  readonly #first: Uint8Array;
  #done: boolean;
  #release: (() => void) | undefined;
  /** The whole dataset, when it fitted in the read-ahead window. */
  readonly whole: Uint8Array | null;

  private constructor(
    reader: ReadableStreamDefaultReader<Uint8Array> | null,
    first: Uint8Array,
    done: boolean,
    readonly transferSyntaxUid: string,
    release?: () => void,
  ) {
    this.#reader = reader;
    this.#first = first;
    this.#done = done;
    this.whole = done ? first : null;
    this.#release = release;
  }

  /**
   * Opens an object and reads its file meta; null when it is no longer stored. A small one
   * is read whole, into a buffer of `pool` when given (back to it at close()).
   */
  static async open(
    objects: ObjectReader,
    sopInstanceUid: string,
    pool?: BufferPool,
  ): Promise<StoredDataset | null> {
    const stored = await objects.readObject(sopInstanceUid);
    if (!stored) return null;
    if (pool && stored.readAll && stored.length <= READ_AHEAD) {
      const buffer = pool.take(stored.length);
      try {
        const bytes = await stored.readAll(buffer);
        const { meta, datasetOffset } = decodeFileMetaInformation(bytes);
        return new StoredDataset(
          null,
          bytes.subarray(datasetOffset),
          true,
          meta.transferSyntaxUid,
          () => pool.give(buffer),
        );
      } catch (e) {
        pool.give(buffer);
        throw e;
      }
    }
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
      const head = concatBytes(parts);
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
      while (!this.#done && this.#reader) { // ends with the stream
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

  /** Closes the file if the dataset was not read to its end; gives its buffer back. */
  close(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
    if (this.#done) return;
    this.#done = true;
    this.#reader?.cancel().catch(() => {});
  }
}

type Body = Uint8Array | AsyncIterable<Uint8Array> | FramedDataset;

/** A sub-operation made ready to send, or why it fails before anything is sent. */
type Ready = {
  kind: "ready";
  contextId: number;
  body: Body;
  close(): void;
  /** Decoded on the decoder's threads. */
  decoded?: boolean;
};
type Failed = { kind: "failed"; result: SubOperationResult };
/** A large object, opened ahead: the rest is done when its turn comes. */
type Opened = { kind: "opened"; dataset: StoredDataset; choice: ContextChoice };
type Prepared = Ready | Opened | Failed;

const failed = (reason: string): Failed => ({
  kind: "failed",
  result: { outcome: "failed", reason },
});

/** Runs C-STORE sub-operations on one association. */
export class StoreScu {
  readonly #options: StoreScuOptions;
  /**
   * The next instances, made ready while the peer stores the current one: a small object
   * read, re-encoded if need be and framed into PDUs; a large one opened. One ahead, or up to
   * STORE_LOOKAHEAD while objects are decoded on the decoder's threads.
   */
  #ahead: { uid: string; ready: Promise<Prepared> }[] = [];
  readonly #buffers = new BufferPool();

  constructor(options: StoreScuOptions) {
    this.#options = options;
  }

  /** Closes the prefetched objects that will not be sent. */
  close(): void {
    this.#dropAhead(0);
  }

  #dropAhead(from: number): void {
    for (const ahead of this.#ahead.splice(from)) void ahead.ready.then(closePrepared);
  }

  /** Makes the first `depth` of `upcoming` ready ahead (those already under way stay). */
  #prefetch(upcoming: readonly SubOperationTarget[], depth: number): void {
    const n = Math.min(depth, upcoming.length);
    let k = 0;
    while (k < n && this.#ahead[k]?.uid === upcoming[k].sopInstanceUid) k++;
    if (k < this.#ahead.length && k < n) this.#dropAhead(k);
    for (; k < n; k++) {
      const ready = this.#prepare(upcoming[k], true).catch((e) =>
        failed(`cannot prepare the stored object: ${(e as Error).message}`)
      );
      this.#ahead.push({ uid: upcoming[k].sopInstanceUid, ready });
    }
  }

  /**
   * Reads an instance and picks its context. A small object is made ready to go (re-encoded
   * when the context asks for it, framed when the peer's maximum is known); a large one is
   * only opened when `ahead`, else made ready to stream.
   */
  async #prepare(target: SubOperationTarget, ahead: boolean): Promise<Prepared> {
    const o = this.#options;
    let dataset: StoredDataset | null;
    try {
      dataset = await StoredDataset.open(o.objects, target.sopInstanceUid, this.#buffers);
    } catch (e) {
      return failed(`cannot read the stored object: ${(e as Error).message}`);
    }
    if (!dataset) return failed("no longer stored");
    const stored = dataset.transferSyntaxUid;
    const choice = chooseContext(
      o.contexts(),
      target.sopClassUid,
      stored,
      target.transferSyntaxUid,
    );
    if (!choice) {
      dataset.close();
      return failed(noContextReason(o.contexts(), target.sopClassUid, stored));
    }
    const contextId = choice.context.id;
    const whole = dataset.whole;
    if (!whole) {
      if (ahead) return { kind: "opened", dataset, choice };
      return await this.#prepareLarge(target, dataset, choice);
    }
    let body: Uint8Array = whole;
    let decodedThere = false;
    /** Gives the decoder's result back once copied or sent. */
    let release = () => {};
    if (choice.transcode) {
      const to = choice.context.transferSyntax;
      try {
        if (decodes(stored, to)) {
          const decoded = o.decoder
            ? await o.decoder.decode(whole, stored, to, DECODED_IN_MEMORY)
            : await transcodeWhole(whole, stored, to, DECODED_IN_MEMORY);
          if (!decoded) {
            dataset.close();
            return this.#streamTranscoded(target, stored, to, contextId);
          }
          body = decoded;
          decodedThere = o.decoder !== undefined;
          if (o.decoder?.release) release = once(() => o.decoder!.release!(decoded));
        } else {
          const t = new DatasetTranscoder(stored, to);
          const pieces = [...t.push(whole), ...t.end()];
          body = concatBytes(pieces);
        }
      } catch (e) {
        dataset.close();
        return failed(`cannot re-encode as ${to}: ${(e as Error).message}`);
      }
    }
    if (o.peerMaxPduLength === undefined) {
      return {
        kind: "ready",
        contextId,
        body,
        close: () => (dataset.close(), release()),
        decoded: decodedThere,
      };
    }
    let framed: FramedDataset;
    try {
      framed = new FramedDataset(contextId, o.peerMaxPduLength, body, (n) => this.#buffers.take(n));
    } finally {
      dataset.close(); // the bytes are copied into the frames
      release();
    }
    return {
      kind: "ready",
      contextId,
      body: framed,
      close: once(() => this.#buffers.give(framed.buffer)),
      decoded: decodedThere,
    };
  }

  /** A large object streams; one to re-encode is checked whole first, then read again. */
  async #prepareLarge(
    target: SubOperationTarget,
    dataset: StoredDataset,
    choice: ContextChoice,
  ): Promise<Ready | Failed> {
    const contextId = choice.context.id;
    if (!choice.transcode) {
      return {
        kind: "ready",
        contextId,
        body: dataset,
        close: () => dataset.close(),
      };
    }
    const stored = dataset.transferSyntaxUid;
    const to = choice.context.transferSyntax;
    // Re-encoded in a first pass that only checks: a message cut halfway cannot be undone.
    try {
      await checkTranscodable(dataset, stored, to);
    } catch (e) {
      return failed(`cannot re-encode as ${to}: ${(e as Error).message}`);
    }
    return await this.#streamTranscoded(target, stored, to, contextId);
  }

  /** Opens the object again, to stream it re-encoded (already checked to re-encode). */
  async #streamTranscoded(
    target: SubOperationTarget,
    stored: string,
    to: string,
    contextId: number,
  ): Promise<Ready | Failed> {
    const again = await StoredDataset.open(this.#options.objects, target.sopInstanceUid)
      .catch(() => null);
    if (!again) return failed("no longer stored");
    return {
      kind: "ready",
      contextId,
      body: transcodeDataset(again, stored, to),
      close: () => again.close(),
    };
  }

  /**
   * Sends one stored instance; `upcoming` are the instances to send after it (the first
   * STORE_LOOKAHEAD are enough), made ready meanwhile. A failure before anything is sent (no
   * context, object gone, dataset that cannot be re-encoded) or a failure status from the
   * peer is a failed result; an error while sending (the association is gone or now unusable)
   * is thrown.
   */
  async store(
    target: SubOperationTarget,
    upcoming?: SubOperationTarget | readonly SubOperationTarget[],
  ): Promise<SubOperationResult> {
    const o = this.#options;
    const next: readonly SubOperationTarget[] = upcoming === undefined
      ? []
      : "sopInstanceUid" in upcoming
      ? [upcoming]
      : upcoming;
    let prepared: Prepared;
    const ahead = this.#ahead[0];
    if (ahead?.uid === target.sopInstanceUid) {
      this.#ahead.shift();
      prepared = await ahead.ready;
    } else {
      this.close();
      prepared = await this.#prepare(target, false);
    }
    if (prepared.kind === "opened") {
      prepared = await this.#prepareLarge(target, prepared.dataset, prepared.choice);
    }
    if (prepared.kind === "failed") {
      this.#prefetch(next, 1);
      return prepared.result;
    }
    let body = prepared.body;
    let onSent: (() => void) | undefined;
    if (prepared.decoded) {
      // The decoder's threads work on the next ones while this one is sent.
      this.#prefetch(next, STORE_LOOKAHEAD);
    } else if (next.length) {
      // Once the last byte is handed on, the next object is read while the peer answers. Not
      // sooner: this thread may still have the message to push through, a TLS connection
      // encrypting it a piece at a time between other work, and the peer answers only once
      // it has all of it.
      const inner = body;
      if (!isStream(inner)) onSent = () => this.#prefetch(next, 1);
      else {
        body = (async function* (scu: StoreScu) {
          yield* inner;
          scu.#prefetch(next, 1);
        })(this);
      }
    }
    const response = await o.request(
      prepared.contextId,
      {
        commandField: CommandField.CStoreRq,
        commandDataSetType: DATASET_PRESENT,
        affectedSopClassUid: target.sopClassUid,
        affectedSopInstanceUid: target.sopInstanceUid,
        priority: Priority.Medium,
        moveOriginatorAeTitle: o.moveOriginator?.aeTitle,
        moveOriginatorMessageId: o.moveOriginator?.messageId,
      },
      body,
      onSent,
    ).finally(() => prepared.close());
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

function isStream(body: Body): body is AsyncIterable<Uint8Array> {
  return !(body instanceof Uint8Array) && !(body instanceof FramedDataset);
}

/** A function that does its work the first time it is called only. */
function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (!done) (done = true, f());
  };
}

function closePrepared(p: Prepared): void {
  if (p.kind === "ready") p.close();
  else if (p.kind === "opened") p.dataset.close();
}

/** Runs the re-encoder over a whole dataset, discarding the output; throws if it fails. */
async function checkTranscodable(
  dataset: AsyncIterable<Uint8Array>,
  from: string,
  to: string,
): Promise<void> {
  for await (const _ of transcodeDataset(dataset, from, to)) { /* only checked */ }
}

/** True when re-encoding needs more than headers: inflating or decoding pixels. */
function decodes(from: string, to: string): boolean {
  return from === DEFLATED_EXPLICIT_VR_LE || decodesPixels(from, to);
}
