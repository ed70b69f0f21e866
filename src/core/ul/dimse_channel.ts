// The DIMSE side of an established association (PS3.7 9.3, PS3.8 9.3.5): messages
// reassembled from the PDVs of P-DATA-TF PDUs, our requests waiting for their responses,
// message ids, and whole messages split into P-DATA-TF PDUs one message at a time. The state
// machine driver (association.ts) feeds it PDVs and gives it a way to write.
import { concatBytes } from "../dicom/bytes.ts";
import {
  type Command,
  CommandField,
  commandName,
  encodeCommand,
  isResponseField,
} from "../dimse/command.ts";
import { DataPacker, FramedDataset, packCommand } from "../dimse/data_packer.ts";
import { DatasetStream } from "../dimse/dataset_stream.ts";
import { MessageAssembler } from "../dimse/message_assembler.ts";
import type { DimseResponse, OutgoingMessage, RequestOptions } from "../dimse/service_contract.ts";
import { statusCategory } from "../dimse/status.ts";
import type { Logger } from "../ports.ts";
import { AbortReason, PduError, type Pdv } from "./pdu_types.ts";

/** Largest identifier or response dataset gathered in memory (C-FIND identifiers...). */
const MAX_GATHERED_DATASET = 16 * 1024 * 1024;
/** Message ID (0000,0110) is an US: it wraps after 0xffff, never to 0. */
const MAX_MESSAGE_ID = 0xffff;

export interface PendingRequest {
  resolve(r: DimseResponse): void;
  reject(e: Error): void;
}

/** What the channel needs from the association that carries it. */
export interface DimseChannelHost {
  readonly log: Logger;
  fields(): Record<string, unknown>;
  /** Sta6 or Sta8: P-DATA-TF may be sent. */
  canSendData(): boolean;
  /** The peer's Maximum Length Received (0 = no limit). */
  peerMaxPduLength(): number;
  /** True for a presentation context accepted on this association. */
  isAccepted(pcId: number): boolean;
  /** Writes PDUs in order; rejects once the association is closed. */
  write(bytes: Uint8Array): Promise<void>;
  /** The peer broke the protocol: A-ABORT with the error's reason. */
  protocolError(e: PduError): Promise<void>;
  /** A request from the peer, its dataset streamed as it arrives (null: none). */
  onRequest(pcId: number, command: Command, stream: DatasetStream | null): void;
  /** C-CANCEL-RQ for one of the peer's requests. */
  onCancel(messageId: number): void;
  /** A pending response (C-FIND match, C-GET progress) to one of our requests. */
  onPendingResponse(id: number, response: DimseResponse): void;
  /** Counts our request in flight as work (the idle timer and A-RELEASE wait for it). */
  beginWork(): void;
  endWork(): void;
}

type DatasetToSend = Uint8Array | AsyncIterable<Uint8Array> | FramedDataset;

export class DimseChannel {
  readonly #host: DimseChannelHost;
  readonly #assembler = new MessageAssembler();
  #nextMessageId = 1;
  readonly #pending = new Map<number, PendingRequest>();
  #incoming: { stream: DatasetStream | null; command: Command; pcId: number } | null = null;
  #responseData: Uint8Array[] = [];
  #responseBytes = 0;
  /** Serializes whole messages: fragments of two messages never interleave. */
  #messageLock: Promise<void> = Promise.resolve();

  constructor(host: DimseChannelHost) {
    this.#host = host;
  }

  /** The message being received, while its dataset is still arriving. */
  get incoming(): { stream: DatasetStream | null; command: Command } | null {
    return this.#incoming;
  }

  /** True while one of our requests waits for the peer's answer (C-GET sub-operations). */
  get awaitingPeer(): boolean {
    return this.#pending.size > 0;
  }

  /** A message id not yet used by this side. */
  newMessageId(): number {
    const id = this.#nextMessageId++;
    if (this.#nextMessageId > MAX_MESSAGE_ID) this.#nextMessageId = 1;
    return id;
  }

  /** The association is gone: waiting requests fail with `e`, a dataset being received ends. */
  close(e: Error): void {
    this.failPending(e);
    this.#incoming?.stream?.cancel();
  }

  failPending(e: Error): void {
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  // ---- receiving ----

  /**
   * The PDVs of one P-DATA-TF (PS3.8 9.3.5). Returns nothing when the service took every
   * fragment at once, else a promise that settles once it has.
   */
  receive(pdvs: readonly Pdv[], from = 0): void | Promise<void> {
    const host = this.#host;
    for (let p = from; p < pdvs.length; p++) {
      const pdv = pdvs[p];
      if (!host.isAccepted(pdv.presentationContextId)) {
        return host.protocolError(
          new PduError(
            `PDV on presentation context ${pdv.presentationContextId}, which was not accepted`,
            AbortReason.InvalidPduParameterValue,
          ),
        );
      }
      let events;
      try {
        events = this.#assembler.accept(pdv);
      } catch (e) {
        return host.protocolError(
          new PduError(`DIMSE: ${(e as Error).message}`, AbortReason.UnexpectedPduParameter),
        );
      }
      for (let k = 0; k < events.length; k++) {
        const ev = events[k];
        if (ev.kind === "command") {
          this.#onCommand(ev.pcId, ev.command, ev.hasDataset);
          continue;
        }
        const taken = this.#onData(ev.chunk, ev.isLast);
        if (taken) return this.#receiveRest(taken, events.slice(k + 1), pdvs, p + 1);
      }
    }
  }

  /** receive() once a fragment's consumer is done: the PDU's remaining events and PDVs. */
  async #receiveRest(
    taken: Promise<void>,
    events: ReturnType<MessageAssembler["accept"]>,
    pdvs: readonly Pdv[],
    from: number,
  ): Promise<void> {
    await taken;
    for (const ev of events) {
      if (ev.kind === "command") this.#onCommand(ev.pcId, ev.command, ev.hasDataset);
      else await this.#onData(ev.chunk, ev.isLast);
    }
    await this.receive(pdvs, from);
  }

  #onCommand(pcId: number, command: Command, hasDataset: boolean): void {
    if (isResponseField(command.commandField)) {
      this.#incoming = { stream: null, command, pcId };
      this.#responseData = [];
      this.#responseBytes = 0;
      if (!hasDataset) this.#completeResponse();
      return;
    }
    if (command.commandField === CommandField.CCancelRq) {
      this.#host.onCancel(command.messageIdBeingRespondedTo ?? -1);
      return;
    }
    const stream = hasDataset ? new DatasetStream() : null;
    this.#incoming = { stream, command, pcId };
    this.#host.onRequest(pcId, command, stream);
  }

  /** One fragment of a dataset; a promise only while its consumer holds it. */
  #onData(chunk: Uint8Array, isLast: boolean): void | Promise<void> {
    const inc = this.#incoming;
    if (!inc) return;
    const stream = inc.stream;
    if (stream) {
      const taken = stream.push(chunk);
      if (taken) return taken.then(() => this.#endOfData(stream, isLast));
      return this.#endOfData(stream, isLast);
    }
    // A response's dataset (C-FIND identifier...): small, gathered.
    this.#responseBytes += chunk.length;
    if (this.#responseBytes > MAX_GATHERED_DATASET) {
      return this.#host.protocolError(
        new PduError(`response dataset larger than ${MAX_GATHERED_DATASET} bytes`),
      );
    }
    this.#responseData.push(chunk.slice());
    if (isLast) this.#completeResponse();
  }

  #endOfData(stream: DatasetStream, isLast: boolean): void {
    if (!isLast) return;
    stream.end();
    if (this.#incoming?.stream === stream) this.#incoming = null;
  }

  #completeResponse(): void {
    const inc = this.#incoming!;
    this.#incoming = null;
    const id = inc.command.messageIdBeingRespondedTo ?? -1;
    const dataset = this.#responseData.length ? concatBytes(this.#responseData) : null;
    this.#responseData = [];
    const waiting = this.#pending.get(id);
    if (!waiting) {
      this.#host.log.log(
        "warn",
        `unexpected ${commandName(inc.command.commandField)} (message id ${id})`,
        this.#host.fields(),
      );
      return;
    }
    const response = { command: inc.command, dataset };
    // Pending responses go to the host; a final one settles the request.
    if (statusCategory(inc.command.status ?? 0) === "pending") {
      this.#host.onPendingResponse(id, response);
      return;
    }
    this.#pending.delete(id);
    waiting.resolve(response);
  }

  // ---- sending ----

  /** Sends one DIMSE message (command, then the dataset if any) split to the peer's maximum. */
  async sendMessage(pcId: number, command: Command, dataset?: DatasetToSend): Promise<void> {
    let release!: () => void;
    const prev = this.#messageLock;
    this.#messageLock = new Promise((r) => (release = r));
    await prev;
    const host = this.#host;
    const write = (bytes: Uint8Array) => host.write(bytes);
    try {
      if (!host.canSendData()) throw new Error("association is not established");
      const maxPduLength = host.peerMaxPduLength();
      const commandPdus = packCommand(pcId, encodeCommand(command), maxPduLength);
      if (dataset === undefined) {
        await write(concatBytes(commandPdus));
        return;
      }
      if (dataset instanceof FramedDataset) {
        if (dataset.pcId !== pcId || dataset.maxPduLength !== maxPduLength) {
          throw new Error("dataset framed for another presentation context or PDU size");
        }
        const message = dataset.withCommand(commandPdus);
        if (message) await write(message);
        else {
          await write(concatBytes(commandPdus));
          await write(dataset.pdus);
        }
        return;
      }
      const packer = new DataPacker(pcId, maxPduLength);
      if (dataset instanceof Uint8Array) {
        // A dataset in memory: command and data in one buffer, one write.
        await write(packer.packWhole(commandPdus, dataset));
        return;
      }
      // The command goes out with the first data PDUs. Each push's PDUs are written before
      // the next push, so one buffer serves them all: a 500-frame object re-encoded on its
      // way out no longer leaves a new buffer per frame for the garbage collector.
      let head: Uint8Array[] | null = commandPdus;
      let scratch = new Uint8Array(0);
      const reuse = (n: number) => scratch.length >= n ? scratch : (scratch = new Uint8Array(n));
      for await (const chunk of dataset) {
        const pdus = packer.push(chunk, reuse);
        if (pdus.length === 0) continue;
        if (head && pdus.length <= 65536) await write(concatBytes([...head, pdus]));
        else {
          // Large: two writes rather than copying the data again to join them.
          if (head) await write(concatBytes(head));
          await write(pdus);
        }
        head = null;
      }
      await write(concatBytes([...(head ?? []), packer.end()]));
    } finally {
      release();
    }
  }

  /**
   * Several messages with their datasets in memory, back to back in one buffer and one write
   * (C-FIND's pending responses): one system call and one read for the peer instead of one
   * each. Order is kept, and no other message comes between them.
   */
  async sendMessages(pcId: number, messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    let release!: () => void;
    const prev = this.#messageLock;
    this.#messageLock = new Promise((r) => (release = r));
    await prev;
    const host = this.#host;
    try {
      if (!host.canSendData()) throw new Error("association is not established");
      const maxPduLength = host.peerMaxPduLength();
      const parts: Uint8Array[] = [];
      for (const { command, dataset } of messages) {
        const commandPdus = packCommand(pcId, encodeCommand(command), maxPduLength);
        if (dataset === undefined) parts.push(...commandPdus);
        else parts.push(new DataPacker(pcId, maxPduLength).packWhole(commandPdus, dataset));
      }
      await host.write(concatBytes(parts));
    } finally {
      release();
    }
  }

  /**
   * Sends a request and resolves with its final response (pending ones go to the host);
   * `options.onSent` is told once the message is written.
   */
  async request(
    pcId: number,
    command: Command,
    dataset?: DatasetToSend,
    options: RequestOptions = {},
  ): Promise<DimseResponse> {
    const signal = options.signal;
    const messageId = command.messageId ?? this.newMessageId();
    const result = new Promise<DimseResponse>((resolve, reject) => {
      this.#pending.set(messageId, { resolve, reject });
      // Given up: a late response is then "unexpected", and the request no longer holds a
      // release back.
      const abandon = () => {
        if (this.#pending.get(messageId)?.reject !== reject) return;
        this.#pending.delete(messageId);
        reject(new Error("request abandoned: no answer awaited any more"));
      };
      if (signal?.aborted) abandon();
      else signal?.addEventListener("abort", abandon, { once: true });
    });
    result.catch(() => {}); // rejected when the association dies; awaited below if sent
    // A request in flight is work, not silence: a long send or a slow answer is no idle peer.
    this.#host.beginWork();
    try {
      try {
        await this.sendMessage(pcId, { ...command, messageId }, dataset);
      } catch (e) {
        this.#pending.delete(messageId);
        throw e;
      }
      options.onSent?.();
      return await result;
    } finally {
      this.#host.endWork();
    }
  }
}
