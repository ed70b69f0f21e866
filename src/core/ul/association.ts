// One association, either role, driven by the PS3.8 9.2 state machine (fsm.ts): PDUs in,
// events to the table, effects out. DIMSE messages are reassembled here and dispatched to
// the services (acceptor) or to waiting requests (requestor and C-GET sub-operations).
import {
  Command,
  CommandField,
  commandName,
  encodeCommand,
  isResponseField,
} from "../dimse/command.ts";
import { statusCategory } from "../dimse/status.ts";
import { concatBytes } from "../dicom/bytes.ts";
import { DataPacker, FramedDataset, packCommand } from "../dimse/data_packer.ts";
import { DatasetStream } from "../dimse/dataset_stream.ts";
import { MessageAssembler } from "../dimse/message_assembler.ts";
import type { Connection, Logger } from "../ports.ts";
import type { AssociationInfo, DimseResponse } from "../dimse/service_contract.ts";
import { Effect, Event, EVENT_NAMES, State, transition } from "./fsm.ts";
import { encodePdu } from "./pdu_encode.ts";
import { PduReader } from "./pdu_reader.ts";
import {
  AAbort,
  AAssociateAc,
  AAssociateRj,
  AAssociateRq,
  AbortReason,
  AbortSource,
  Pdu,
  PduError,
  PduType,
} from "./pdu_types.ts";
import type { AcceptedContext, RejectLabel } from "./negotiation.ts";

/** Largest identifier or response dataset gathered in memory (C-FIND identifiers...). */
const MAX_GATHERED_DATASET = 16 * 1024 * 1024;

export interface AssociationOptions {
  id: string;
  connection: Connection;
  logger: Logger;
  /** PS3.8 ARTIM timer. */
  artimTimeoutMs: number;
  /** An established association that stays silent this long (and runs nothing) is aborted. */
  idleTimeoutMs: number;
  /** Our Maximum Length Received. */
  maxPduLength: number;
}

export type AssociationEnd = "released" | "rejected" | "aborted" | "closed";

/** What the server wants to know while an association runs (status page, metrics). */
export interface AssociationObserver {
  accepted?(info: AssociationInfo): void;
  /** `label`: the negotiation's fixed word for the rejection; `why`: its text, for people. */
  rejected?(info: AssociationInfo, label: RejectLabel, why: string): void;
  bytes?(received: number, sent: number): void;
}

export interface PendingRequest {
  resolve(r: DimseResponse): void;
  reject(e: Error): void;
}

export interface RunningRequest {
  messageId: number;
  abort: AbortController;
}

/** Base of both roles: the state machine, framing, DIMSE send/receive. */
export abstract class Association {
  state: State = 1;
  info: AssociationInfo;
  contexts = new Map<number, AcceptedContext>();
  peerMaxPduLength = 0;
  /** Resolves when the transport is closed and the machine is back in Sta1. */
  readonly finished: Promise<AssociationEnd>;
  protected end: AssociationEnd = "closed";
  protected readonly options: AssociationOptions;
  protected readonly log: Logger;
  #finish!: (end: AssociationEnd) => void;
  #reader: PduReader;
  #assembler = new MessageAssembler();
  #artim: ReturnType<typeof setTimeout> | undefined;
  #idle: ReturnType<typeof setTimeout> | undefined;
  #outgoing: { rq?: AAssociateRq; ac?: AAssociateAc; rj?: AAssociateRj; abort?: AAbort } = {};
  #writeChain: Promise<void> = Promise.resolve();
  #nextMessageId = 1;
  #pending = new Map<number, PendingRequest>();
  #incoming: { stream: DatasetStream | null; command: Command; pcId: number } | null = null;
  #responseData: Uint8Array[] = [];
  #responseBytes = 0;
  #closed = false;
  protected busy = 0;

  constructor(options: AssociationOptions, isRequestor: boolean) {
    this.options = options;
    this.log = options.logger;
    this.isRequestor = isRequestor;
    this.#reader = new PduReader(options.maxPduLength);
    this.info = {
      id: options.id,
      callingAeTitle: "",
      calledAeTitle: "",
      remote: options.connection.remote,
    };
    this.finished = new Promise((resolve) => (this.#finish = resolve));
  }

  readonly isRequestor: boolean;

  protected fields(): Record<string, unknown> {
    const peer = this.isRequestor ? this.info.calledAeTitle : this.info.callingAeTitle;
    return { assoc: this.info.id, peer: `${peer || "?"}@${this.info.remote}` };
  }

  // ---- the state machine ----

  /** Feeds one event to the PS3.8 table and carries out the effects of its action. */
  protected async fire(event: Event, pdu?: Pdu): Promise<void> {
    const from = this.state;
    const t = transition(from, event, this.isRequestor);
    this.state = t.next;
    if (t.action === "AA-1" || t.action === "AA-7" || t.action === "AA-8") {
      if (event !== "Evt19" && event !== "Evt15") {
        this.end = "aborted";
        this.log.log(
          "warn",
          `association aborted: ${EVENT_NAMES[event]} not expected in Sta${from}`,
          this.fields(),
        );
      }
    } else if (event === "Evt18" && from === 2) {
      this.log.log(
        "warn",
        "no A-ASSOCIATE-RQ before the ARTIM timer expired: closing",
        this.fields(),
      );
    } else if (event === "Evt18") {
      this.log.log("debug", "ARTIM timer expired: closing", this.fields());
    }
    for (const effect of t.effects) await this.#apply(effect, pdu);
  }

  /** For events raised by timers: a failure closes the transport, never escapes. */
  #fireSafely(event: Event): void {
    this.fire(event).catch((e) => {
      this.log.log("warn", `${event} failed: ${(e as Error).message}`, this.fields());
      this.#closeTransport();
    });
  }

  async #apply(effect: Effect, pdu?: Pdu): Promise<void> {
    switch (effect.kind) {
      case "connect":
        // The transport is given to us already connected: confirm at once (Evt2).
        queueMicrotask(() => this.#fireSafely("Evt2"));
        return;
      case "startArtim":
        this.#stopArtim();
        this.#artim = setTimeout(() => this.#fireSafely("Evt18"), this.options.artimTimeoutMs);
        return;
      case "stopArtim":
        this.#stopArtim();
        return;
      case "close":
        this.#closeTransport();
        return;
      case "send":
        await this.#sendNamed(effect.pdu);
        return;
      case "indicate":
        await this.#indicate(effect.primitive, pdu);
        return;
    }
  }

  async #sendNamed(name: string): Promise<void> {
    const o = this.#outgoing;
    let pdu: Pdu | undefined;
    switch (name) {
      case "A-ASSOCIATE-RQ":
        pdu = o.rq;
        break;
      case "A-ASSOCIATE-AC":
        pdu = o.ac;
        break;
      case "A-ASSOCIATE-RJ":
        pdu = o.rj;
        break;
      case "A-RELEASE-RQ":
        pdu = { type: PduType.AReleaseRq };
        break;
      case "A-RELEASE-RP":
        pdu = { type: PduType.AReleaseRp };
        break;
      case "A-ABORT":
        pdu = o.abort ??
          {
            type: PduType.AAbort,
            source: AbortSource.ServiceProvider,
            reason: AbortReason.NotSpecified,
          };
        break;
      case "P-DATA-TF":
        return; // P-DATA bytes are written by sendMessage() itself (DT-1).
    }
    if (!pdu) return;
    let bytes: Uint8Array;
    try {
      bytes = encodePdu(pdu);
    } catch (e) {
      // Never a silent close: say why, and end the association with an A-ABORT.
      this.log.log("error", `cannot encode ${name}: ${(e as Error).message}`, this.fields());
      this.end = "aborted";
      bytes = encodePdu({
        type: PduType.AAbort,
        source: AbortSource.ServiceProvider,
        reason: AbortReason.NotSpecified,
      });
      await this.#write(bytes).catch(() => {});
      this.#closeTransport();
      return;
    }
    try {
      await this.#write(bytes);
    } catch {
      // The peer is gone: nothing more to say to it (Evt17 follows from the read side).
      this.#closeTransport();
    }
  }

  async #indicate(primitive: string, pdu?: Pdu): Promise<void> {
    switch (primitive) {
      case "A-ASSOCIATE indication":
        await this.onAssociateRq(pdu as AAssociateRq);
        return;
      case "A-ASSOCIATE confirmation (accept)":
        this.onAssociateAc(pdu as AAssociateAc);
        return;
      case "A-ASSOCIATE confirmation (reject)":
        this.onAssociateRj(pdu as AAssociateRj);
        return;
      case "P-DATA indication":
        if (pdu?.type === PduType.PDataTf) await this.#onPData(pdu.pdvs);
        return;
      case "A-RELEASE indication":
        this.log.log("info", "association release requested", this.fields());
        // Answered once the running request is done; the read loop goes on meanwhile (a
        // C-GET still needs the peer's C-STORE responses).
        void this.#whenIdle().then(() => {
          if (this.#closed) return;
          this.end = "released";
          return this.fire("Evt14");
        }).catch(() => this.#closeTransport());
        return;
      case "A-RELEASE confirmation":
        this.end = "released";
        return;
      case "A-ABORT indication":
      case "A-P-ABORT indication": {
        if (this.end !== "rejected" && this.end !== "released") this.end = "aborted";
        const why = pdu?.type === PduType.AAbort
          ? `peer sent A-ABORT (source ${pdu.source}, reason ${pdu.reason})`
          : "connection lost or protocol error";
        if (this.end === "aborted") {
          this.log.log("warn", `association aborted: ${why}`, this.fields());
        }
        this.#failPending(new Error(`association aborted: ${why}`));
        return;
      }
    }
  }

  #stopArtim(): void {
    if (this.#artim !== undefined) clearTimeout(this.#artim);
    this.#artim = undefined;
  }

  #closeTransport(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.state = 1; // transport closed: Sta1 whatever the path here
    this.#stopArtim();
    if (this.#idle !== undefined) clearTimeout(this.#idle);
    this.options.connection.close();
    this.#failPending(new Error("association closed"));
    this.#incoming?.stream?.cancel();
    for (const w of this.#idleWaiters.splice(0)) w();
    this.onClosed();
    this.#finish(this.end);
  }

  protected onClosed(): void {}

  #resetIdle(): void {
    if (this.#idle !== undefined) clearTimeout(this.#idle);
    this.#idle = undefined;
    if (this.#closed || this.options.idleTimeoutMs <= 0) return;
    this.#idle = setTimeout(() => this.#onIdle(), this.options.idleTimeoutMs);
  }

  /** When the read loop began waiting for the peer's next bytes (null while not waiting). */
  #readingSince: number | null = null;

  #onIdle(): void {
    this.#idle = undefined;
    if (this.#closed) return;
    const limit = this.options.idleTimeoutMs;
    if (this.busy > 0) {
      // A request is running. Our own work (a C-MOVE's sub-operations, a slow disk holding
      // the dataset back) is not silence; waiting for the rest of the peer's dataset is.
      const incoming = this.#incoming;
      const since = incoming?.stream ? this.#readingSince : null;
      if (since === null) return this.#resetIdle();
      const silent = performance.now() - since;
      if (silent < limit) {
        this.#idle = setTimeout(() => this.#onIdle(), limit - silent);
        return;
      }
      this.log.log(
        "warn",
        `peer sent nothing for ${Math.round(silent / 1000)} s in the middle of a ` +
          `${commandName(incoming!.command.commandField)} dataset: aborting`,
        { ...this.fields(), received_bytes: incoming!.stream!.bytesReceived },
      );
      void this.abort(AbortSource.ServiceProvider, AbortReason.NotSpecified);
      return;
    }
    if (this.state !== 6) return;
    this.log.log("warn", "association idle too long: aborting", this.fields());
    void this.abort(AbortSource.ServiceUser, AbortReason.NotSpecified);
  }

  // ---- reading ----

  /** Reads PDUs until the transport closes. */
  protected async readLoop(): Promise<void> {
    const conn = this.options.connection;
    while (!this.#closed) {
      let chunk: Uint8Array | null;
      this.#readingSince = performance.now();
      try {
        chunk = await conn.read();
      } catch {
        chunk = null;
      }
      this.#readingSince = null;
      if (chunk === null) {
        if (!this.#closed) {
          if (this.state === 6 || this.state === 3 || this.state === 5) {
            this.log.log("warn", "connection closed by peer without release", this.fields());
          }
          await this.fire("Evt17");
          this.#closeTransport();
        }
        return;
      }
      this.observer?.bytes?.(chunk.length, 0);
      this.#resetIdle();
      this.#reader.push(chunk);
      while (!this.#closed) {
        let pdu: Pdu | null;
        try {
          pdu = this.#reader.next();
        } catch (e) {
          await this.#protocolError(e instanceof PduError ? e : new PduError(String(e)));
          return;
        }
        if (!pdu) break;
        try {
          await this.fire(eventOf(pdu), pdu);
        } catch (e) {
          // Never a silent close: whatever failed while answering, the peer gets an A-ABORT.
          this.log.log(
            "error",
            `handling ${EVENT_NAMES[eventOf(pdu)]} failed: ${(e as Error).message}: aborting`,
            this.fields(),
          );
          await this.abort(AbortSource.ServiceProvider, AbortReason.NotSpecified);
          return;
        }
      }
      // Every PDU from this chunk has been handled: the connection may reuse its buffer.
      this.#reader.detach();
    }
  }

  observer?: AssociationObserver;

  async #protocolError(e: PduError): Promise<void> {
    this.log.log("warn", `protocol error: ${e.message}: aborting`, this.fields());
    this.#outgoing.abort = {
      type: PduType.AAbort,
      source: AbortSource.ServiceProvider,
      reason: e.reason,
    };
    this.end = "aborted";
    await this.fire("Evt19");
    // Stop listening to a peer that speaks garbage; ARTIM (or this) closes the socket.
    this.#closeTransport();
  }

  async #onPData(pdvs: import("./pdu_types.ts").Pdv[]): Promise<void> {
    for (const pdv of pdvs) {
      if (!this.contexts.has(pdv.presentationContextId)) {
        return this.#protocolError(
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
        return this.#protocolError(
          new PduError(`DIMSE: ${(e as Error).message}`, AbortReason.UnexpectedPduParameter),
        );
      }
      for (const ev of events) {
        if (ev.kind === "command") this.#onCommand(ev.pcId, ev.command, ev.hasDataset);
        else await this.#onData(ev.chunk, ev.isLast);
      }
    }
  }

  #onCommand(pcId: number, command: Command, hasDataset: boolean): void {
    const isResponse = isResponseField(command.commandField);
    if (isResponse) {
      this.#incoming = { stream: null, command, pcId };
      this.#responseData = [];
      this.#responseBytes = 0;
      if (!hasDataset) this.#completeResponse();
      return;
    }
    if (command.commandField === CommandField.CCancelRq) {
      this.onCancel(command.messageIdBeingRespondedTo ?? -1);
      return;
    }
    const stream = hasDataset ? new DatasetStream() : null;
    this.#incoming = { stream, command, pcId };
    this.enqueueRequest(pcId, command, stream);
  }

  async #onData(chunk: Uint8Array, isLast: boolean): Promise<void> {
    const inc = this.#incoming;
    if (!inc) return;
    if (inc.stream) {
      await inc.stream.push(chunk);
      if (isLast) {
        inc.stream.end();
        this.#incoming = null;
      }
      return;
    }
    // A response's dataset (C-FIND identifier...): small, gathered.
    this.#responseBytes += chunk.length;
    if (this.#responseBytes > MAX_GATHERED_DATASET) {
      return this.#protocolError(
        new PduError(`response dataset larger than ${MAX_GATHERED_DATASET} bytes`),
      );
    }
    this.#responseData.push(chunk.slice());
    if (isLast) this.#completeResponse();
  }

  #completeResponse(): void {
    const inc = this.#incoming!;
    this.#incoming = null;
    const id = inc.command.messageIdBeingRespondedTo ?? -1;
    const dataset = this.#responseData.length ? concatBytes(this.#responseData) : null;
    this.#responseData = [];
    const waiting = this.#pending.get(id);
    if (!waiting) {
      this.log.log(
        "warn",
        `unexpected ${commandName(inc.command.commandField)} (message id ${id})`,
        this.fields(),
      );
      return;
    }
    this.onResponse(id, { command: inc.command, dataset }, waiting);
  }

  /** A response arrived for one of our requests; final ones settle it. */
  protected onResponse(id: number, response: DimseResponse, waiting: PendingRequest): void {
    const status = response.command.status ?? 0;
    if (statusCategory(status) === "pending") {
      this.onPendingResponse(id, response);
      return;
    }
    this.#pending.delete(id);
    waiting.resolve(response);
  }

  protected onPendingResponse(_id: number, _response: DimseResponse): void {}

  protected abstract enqueueRequest(
    pcId: number,
    command: Command,
    stream: DatasetStream | null,
  ): void;
  protected onCancel(_messageId: number): void {}
  protected abstract onAssociateRq(rq: AAssociateRq): Promise<void>;
  protected onAssociateAc(_ac: AAssociateAc): void {}
  protected onAssociateRj(_rj: AAssociateRj): void {}

  /** True while one of our requests waits for the peer's answer (C-GET sub-operations). */
  protected get awaitingPeer(): boolean {
    return this.#pending.size > 0;
  }

  #failPending(e: Error): void {
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  // ---- writing ----

  #write(bytes: Uint8Array): Promise<void> {
    const next = this.#writeChain.then(async () => {
      if (this.#closed) throw new Error("association closed");
      // A peer that stops reading would hold this write forever: the idle timeout bounds it.
      const limit = this.options.idleTimeoutMs;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<"stalled">((resolve) => {
        if (limit > 0) timer = setTimeout(() => resolve("stalled"), limit);
      });
      try {
        const outcome = await Promise.race([this.options.connection.write(bytes), stalled]);
        if (outcome === "stalled") {
          this.log.log("warn", `peer read nothing for ${limit / 1000} s: closing`, this.fields());
          this.#closeTransport();
          throw new Error("association closed: the peer stopped reading");
        }
      } catch (e) {
        const message = (e as Error).message;
        throw new Error(
          message.startsWith("association closed") ? message : `association closed: ${message}`,
        );
      } finally {
        clearTimeout(timer);
      }
      this.observer?.bytes?.(0, bytes.length);
    });
    this.#writeChain = next.catch(() => {});
    return next;
  }

  /** Serializes whole messages: fragments of two messages never interleave. */
  #messageLock: Promise<void> = Promise.resolve();

  /** Sends one DIMSE message (command, then the dataset if any) split to the peer's maximum. */
  async sendMessage(
    pcId: number,
    command: Command,
    dataset?: Uint8Array | AsyncIterable<Uint8Array> | FramedDataset,
  ): Promise<void> {
    let release!: () => void;
    const prev = this.#messageLock;
    this.#messageLock = new Promise((r) => (release = r));
    await prev;
    try {
      if (this.state !== 6 && this.state !== 8) throw new Error("association is not established");
      const commandPdus = packCommand(pcId, encodeCommand(command), this.peerMaxPduLength);
      if (dataset === undefined) {
        await this.#write(concatBytes(commandPdus));
        return;
      }
      if (dataset instanceof FramedDataset) {
        if (dataset.pcId !== pcId || dataset.maxPduLength !== this.peerMaxPduLength) {
          throw new Error("dataset framed for another presentation context or PDU size");
        }
        const message = dataset.withCommand(commandPdus);
        if (message) await this.#write(message);
        else {
          await this.#write(concatBytes(commandPdus));
          await this.#write(dataset.pdus);
        }
        return;
      }
      const packer = new DataPacker(pcId, this.peerMaxPduLength);
      if (dataset instanceof Uint8Array) {
        // A dataset in memory: command and data in one buffer, one write.
        await this.#write(packer.packWhole(commandPdus, dataset));
        return;
      }
      // The command goes out with the first data PDUs.
      let head: Uint8Array[] | null = commandPdus;
      for await (const chunk of dataset) {
        const pdus = packer.push(chunk);
        if (pdus.length === 0) continue;
        if (head && pdus.length <= 65536) await this.#write(concatBytes([...head, pdus]));
        else {
          // Large: two writes rather than copying the data again to join them.
          if (head) await this.#write(concatBytes(head));
          await this.#write(pdus);
        }
        head = null;
      }
      await this.#write(concatBytes([...(head ?? []), packer.end()]));
    } finally {
      release();
    }
  }

  /** Sends a request and resolves with its final response (pending ones go to onPendingResponse). */
  async request(
    pcId: number,
    command: Command,
    dataset?: Uint8Array | AsyncIterable<Uint8Array> | FramedDataset,
  ): Promise<DimseResponse> {
    const messageId = command.messageId ?? this.#nextMessageId++;
    if (this.#nextMessageId > 0xffff) this.#nextMessageId = 1;
    const result = new Promise<DimseResponse>((resolve, reject) =>
      this.#pending.set(messageId, { resolve, reject })
    );
    result.catch(() => {}); // rejected when the association dies; awaited below if sent
    // A request in flight is work, not silence: a long send or a slow answer is no idle peer.
    this.beginWork();
    try {
      try {
        await this.sendMessage(pcId, { ...command, messageId }, dataset);
      } catch (e) {
        this.#pending.delete(messageId);
        throw e;
      }
      return await result;
    } finally {
      this.endWork();
    }
  }

  /** A message id not yet used by this side. */
  newMessageId(): number {
    const id = this.#nextMessageId++;
    if (this.#nextMessageId > 0xffff) this.#nextMessageId = 1;
    return id;
  }

  #idleWaiters: (() => void)[] = [];

  /** Counts a request being handled (the idle timer and A-RELEASE wait for it). */
  protected beginWork(): void {
    this.busy++;
  }

  protected endWork(): void {
    this.busy--;
    if (this.busy === 0) { for (const w of this.#idleWaiters.splice(0)) w(); }
  }

  /** Waits until no request is being handled. */
  #whenIdle(): Promise<void> {
    if (this.busy === 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** A-ABORT from our side (Evt15). */
  async abort(
    source: number = AbortSource.ServiceUser,
    reason: number = AbortReason.NotSpecified,
  ): Promise<void> {
    if (this.#closed) return;
    this.#outgoing.abort = { type: PduType.AAbort, source, reason };
    this.end = "aborted";
    try {
      await this.fire("Evt15");
    } catch {
      // the socket may be gone already
    }
    this.#closeTransport();
  }

  protected setOutgoing(o: { rq?: AAssociateRq; ac?: AAssociateAc; rj?: AAssociateRj }): void {
    Object.assign(this.#outgoing, o);
  }

  protected get closed(): boolean {
    return this.#closed;
  }

  protected closeNow(): void {
    this.#closeTransport();
  }
}

function eventOf(pdu: Pdu): Event {
  switch (pdu.type) {
    case PduType.AAssociateRq:
      return "Evt6";
    case PduType.AAssociateAc:
      return "Evt3";
    case PduType.AAssociateRj:
      return "Evt4";
    case PduType.PDataTf:
      return "Evt10";
    case PduType.AReleaseRq:
      return "Evt12";
    case PduType.AReleaseRp:
      return "Evt13";
    case PduType.AAbort:
      return "Evt16";
  }
}
