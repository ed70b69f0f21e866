// One association, either role, driven by the PS3.8 9.2 state machine (fsm.ts): PDUs in,
// events to the table, effects out, with the ARTIM and idle timers. DIMSE messages travel
// on its DimseChannel (dimse_channel.ts), which hands requests to the role (acceptor.ts,
// requestor.ts) and settles the requests we sent.
import type { Command } from "../dimse/command.ts";
import type { FramedDataset } from "../dimse/data_packer.ts";
import type { DatasetStream } from "../dimse/dataset_stream.ts";
import type {
  AssociationInfo,
  DimseResponse,
  OutgoingMessage,
  RequestOptions,
} from "../dimse/service_contract.ts";
import { commandName } from "../dimse/command.ts";
import type { Connection, Logger } from "../ports.ts";
import { DimseChannel } from "./dimse_channel.ts";
import { IdleWatch } from "./idle_watch.ts";
import { OrderedWriter } from "./ordered_writer.ts";
import {
  type Effect,
  type Event,
  EVENT_NAMES,
  eventOfPdu,
  type IndicatedPrimitive,
  type SentPdu,
  type State,
  transition,
} from "./fsm.ts";
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
  #artim: ReturnType<typeof setTimeout> | undefined;
  readonly #idle: IdleWatch;
  #outgoing: { rq?: AAssociateRq; ac?: AAssociateAc; rj?: AAssociateRj; abort?: AAbort } = {};
  readonly #writer: OrderedWriter;
  readonly #channel: DimseChannel;
  #closed = false;
  protected busy = 0;
  readonly #releasing = new AbortController();

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
    this.#writer = new OrderedWriter({
      connection: options.connection,
      idleTimeoutMs: options.idleTimeoutMs,
      closed: () => this.#closed,
      onStalled: () => {
        const s = options.idleTimeoutMs / 1000;
        this.log.log("warn", `peer read nothing for ${s} s: closing`, this.fields());
        this.#closeTransport();
      },
      sent: (n) => this.observer?.bytes?.(0, n),
    });
    this.#idle = new IdleWatch(options.idleTimeoutMs, {
      closed: () => this.#closed,
      busy: () => this.busy > 0,
      receivingDataset: () => !!this.#channel.incoming?.stream,
      stalled: (silentMs) => this.#stalled(silentMs),
      idle: () => this.#idled(),
    });
    this.#channel = new DimseChannel({
      log: this.log,
      fields: () => this.fields(),
      canSendData: () => this.state === 6 || this.state === 8,
      peerMaxPduLength: () => this.peerMaxPduLength,
      isAccepted: (pcId) => this.contexts.has(pcId),
      write: (bytes) => this.#writer.write(bytes),
      protocolError: (e) => this.#protocolError(e),
      onRequest: (pcId, command, stream) => this.enqueueRequest(pcId, command, stream),
      onCancel: (messageId) => this.onCancel(messageId),
      onPendingResponse: (id, response) => this.onPendingResponse(id, response),
      beginWork: () => this.beginWork(),
      endWork: () => this.endWork(),
    });
  }

  readonly isRequestor: boolean;

  /**
   * Aborted once the peer asked for release (A-RELEASE-RQ) or the association ended: from
   * then on the peer waits for nothing more on it (a storage commitment report goes elsewhere).
   */
  get peerReleasing(): AbortSignal {
    return this.#releasing.signal;
  }

  protected fields(): Record<string, unknown> {
    const peer = this.isRequestor ? this.info.calledAeTitle : this.info.callingAeTitle;
    return { assoc: this.info.id, peer: `${peer || "?"}@${this.info.remote}` };
  }

  // ---- the state machine ----

  /** Feeds one event to the PS3.8 table and carries out the effects of its action. */
  protected async fire(event: Event, pdu?: Pdu): Promise<void> {
    await this.#fire(event, pdu);
  }

  /**
   * fire(), returning nothing when every effect was carried out at once: a P-DATA-TF whose
   * fragments the service took without waiting costs no promise and no turn of the event
   * loop (32 of them for a 0.5 MiB image at 16 KiB PDUs).
   */
  #fire(event: Event, pdu?: Pdu): void | Promise<void> {
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
    const effects = t.effects;
    for (let i = 0; i < effects.length; i++) {
      const applying = this.#apply(effects[i], pdu);
      if (applying) return this.#applyRest(applying, effects.slice(i + 1), pdu);
    }
  }

  async #applyRest(applying: Promise<void>, rest: readonly Effect[], pdu?: Pdu): Promise<void> {
    await applying;
    for (const effect of rest) await this.#apply(effect, pdu);
  }

  /** For events raised by timers: a failure closes the transport, never escapes. */
  #fireSafely(event: Event): void {
    this.fire(event).catch((e) => {
      this.log.log("warn", `${event} failed: ${(e as Error).message}`, this.fields());
      this.#closeTransport();
    });
  }

  /** Carries out one effect; a promise only when it has to wait. */
  #apply(effect: Effect, pdu?: Pdu): void | Promise<void> {
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
        return this.#sendNamed(effect.pdu);
      case "indicate":
        if (effect.primitive === "P-DATA indication") {
          return pdu?.type === PduType.PDataTf ? this.#channel.receive(pdu.pdvs) : undefined;
        }
        return this.#indicate(effect.primitive, pdu);
    }
  }

  async #sendNamed(name: SentPdu): Promise<void> {
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
      await this.#writer.write(bytes).catch(() => {});
      this.#closeTransport();
      return;
    }
    try {
      await this.#writer.write(bytes);
    } catch {
      // The peer is gone: nothing more to say to it (Evt17 follows from the read side).
      this.#closeTransport();
    }
  }

  async #indicate(primitive: IndicatedPrimitive, pdu?: Pdu): Promise<void> {
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
      case "P-DATA indication": // carried out in #apply
        return;
      case "A-RELEASE indication":
        this.log.log("info", "association release requested", this.fields());
        this.#releasing.abort();
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
        this.#channel.failPending(new Error(`association aborted: ${why}`));
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
    this.#idle.stop();
    this.options.connection.close();
    this.#channel.close(new Error("association closed"));
    for (const w of this.#idleWaiters.splice(0)) w();
    this.#releasing.abort();
    this.onClosed();
    this.#finish(this.end);
  }

  protected onClosed(): void {}

  #stalled(silentMs: number): void {
    const incoming = this.#channel.incoming!;
    this.log.log(
      "warn",
      `peer sent nothing for ${Math.round(silentMs / 1000)} s in the middle of a ` +
        `${commandName(incoming.command.commandField)} dataset: aborting`,
      { ...this.fields(), received_bytes: incoming.stream!.bytesReceived },
    );
    void this.abort(AbortSource.ServiceProvider, AbortReason.NotSpecified);
  }

  #idled(): void {
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
      this.#idle.reading();
      try {
        chunk = await conn.read();
      } catch {
        chunk = null;
      }
      this.#idle.read();
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
      this.#idle.reset();
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
          const firing = this.#fire(eventOfPdu(pdu), pdu);
          if (firing) await firing;
        } catch (e) {
          // Never a silent close: whatever failed while answering, the peer gets an A-ABORT.
          this.log.log(
            "error",
            `handling ${EVENT_NAMES[eventOfPdu(pdu)]} failed: ${(e as Error).message}: aborting`,
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
    return this.#channel.awaitingPeer;
  }

  // ---- DIMSE messages, on the channel ----

  /** Sends one DIMSE message (command, then the dataset if any) split to the peer's maximum. */
  sendMessage(
    pcId: number,
    command: Command,
    dataset?: Uint8Array | AsyncIterable<Uint8Array> | FramedDataset,
  ): Promise<void> {
    return this.#channel.sendMessage(pcId, command, dataset);
  }

  /** Several messages with their datasets in memory, in order, in one write. */
  sendMessages(
    pcId: number,
    messages: readonly OutgoingMessage[],
  ): Promise<void> {
    return this.#channel.sendMessages(pcId, messages);
  }

  /** Sends a request and resolves with its final response (pending ones go to onPendingResponse). */
  request(
    pcId: number,
    command: Command,
    dataset?: Uint8Array | AsyncIterable<Uint8Array> | FramedDataset,
    options?: RequestOptions,
  ): Promise<DimseResponse> {
    return this.#channel.request(pcId, command, dataset, options);
  }

  /** A message id not yet used by this side. */
  newMessageId(): number {
    return this.#channel.newMessageId();
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
