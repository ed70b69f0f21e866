// The acceptor (SCP) side of an association: negotiates the A-ASSOCIATE-RQ, then hands each
// DIMSE request to its service, one at a time (no asynchronous operations), with C-CANCEL.
import { Command, commandName, NO_DATASET, RESPONSE_BIT } from "../dimse/command.ts";
import { Status } from "../dimse/status.ts";
import { DatasetStream } from "../dimse/dataset_stream.ts";
import type { DimseService, ServiceContext } from "../dimse/service_contract.ts";
import { encodePdu } from "./pdu_encode.ts";
import {
  AAssociateRq,
  AbortReason,
  AbortSource,
  PduType,
  RejectReason,
  RejectResult,
  RejectSource,
} from "./pdu_types.ts";
import { AcceptorPolicy, negotiateAsAcceptor, NegotiationOutcome } from "./negotiation.ts";
import {
  Association,
  type AssociationEnd,
  type AssociationObserver,
  type AssociationOptions,
} from "./association.ts";

/** The peer's request being handled, for C-CANCEL. */
interface RunningRequest {
  messageId: number;
  abort: AbortController;
}

export interface AcceptorOptions extends AssociationOptions {
  /** Our policy for this request (called when the A-ASSOCIATE-RQ arrives). */
  policy(rq: AAssociateRq): AcceptorPolicy;
  services: readonly DimseService[];
  observer?: AssociationObserver;
}

/** The acceptor (SCP) side: negotiates, then dispatches requests to the services. */
export class AcceptorAssociation extends Association {
  #options: AcceptorOptions;
  #byCommand = new Map<number, DimseService>();
  #queue: Promise<void> = Promise.resolve();
  #running: RunningRequest | null = null;

  constructor(options: AcceptorOptions) {
    super(options, false);
    this.#options = options;
    this.observer = options.observer;
    for (const s of options.services) for (const f of s.commandFields) this.#byCommand.set(f, s);
  }

  /** Runs the association to its end (Sta1 -Evt5-> Sta2 ... -> Sta1). */
  async run(): Promise<AssociationEnd> {
    await this.fire("Evt5");
    await this.readLoop();
    const end = await this.finished;
    // Handlers still running see the closed association and finish: wait for them, so that
    // whatever they hold (a journal record being written) is released before the caller
    // ends the association in the object store.
    await this.#queue;
    return end;
  }

  protected async onAssociateRq(rq: AAssociateRq): Promise<void> {
    this.info.callingAeTitle = rq.callingAeTitle.trim();
    this.info.calledAeTitle = rq.calledAeTitle.trim();
    let outcome: NegotiationOutcome;
    try {
      outcome = negotiateAsAcceptor(rq, this.#options.policy(rq));
      // An answer that cannot be encoded is refused here, not dropped when it is sent.
      if (outcome.accepted) encodePdu(outcome.ac);
    } catch (e) {
      this.log.log("error", `negotiation failed: ${(e as Error).message}`, this.fields());
      outcome = {
        accepted: false,
        rj: {
          type: PduType.AAssociateRj,
          result: RejectResult.Transient,
          source: RejectSource.ServiceProviderAcse,
          reason: RejectReason.AcseNoReasonGiven,
        },
        label: "other",
        why: "internal error during negotiation",
      };
    }
    if (!outcome.accepted) {
      this.end = "rejected";
      this.log.log(outcome.warn ? "warn" : "info", `association rejected: ${outcome.why}`, {
        ...this.fields(),
        called: this.info.calledAeTitle,
      });
      this.observer?.rejected?.(this.info, outcome.label, outcome.why);
      this.setOutgoing({ rj: outcome.rj });
      await this.fire("Evt8");
      return;
    }
    this.contexts = outcome.contexts;
    this.peerMaxPduLength = outcome.peerMaxPduLength;
    this.setOutgoing({ ac: outcome.ac });
    const accepted = [...outcome.contexts.values()].length;
    this.log.log("info", "association accepted", {
      ...this.fields(),
      contexts: `${accepted}/${rq.presentationContexts.length}`,
      peer_max_pdu: outcome.peerMaxPduLength,
      impl: rq.userInformation.implementationVersionName ??
        rq.userInformation.implementationClassUid,
    });
    if (outcome.refused) {
      this.log.log(
        "warn",
        `services refused to ${this.info.callingAeTitle}: ${outcome.refused.join(", ")}`,
        {
          ...this.fields(),
          services: outcome.refused.join(","),
        },
      );
    }
    this.observer?.accepted?.(this.info);
    await this.fire("Evt7");
  }

  protected override enqueueRequest(
    pcId: number,
    command: Command,
    stream: DatasetStream | null,
  ): void {
    // No asynchronous operations are negotiated (window 1/1). A request whose dataset arrives
    // while the running one waits for the peer's answers (a C-GET's sub-operations) would
    // stall the reader those answers need: the peer broke the window, abort.
    if (stream && this.#requests > 0 && this.awaitingPeer) {
      this.log.log(
        "warn",
        `${commandName(command.commandField)} while another request is running: aborting`,
        this.fields(),
      );
      stream.cancel();
      void this.abort(AbortSource.ServiceProvider, AbortReason.UnexpectedPdu);
      return;
    }
    this.beginWork();
    this.#requests++;
    this.#queue = this.#queue.then(() => this.#handle(pcId, command, stream)).finally(() => {
      this.#requests--;
      this.endWork();
    });
  }

  /** Requests from the peer queued or running. */
  #requests = 0;

  protected override onCancel(messageId: number): void {
    if (this.#running && this.#running.messageId === messageId) {
      this.log.log("info", `C-CANCEL for message ${messageId}`, this.fields());
      this.#running.abort.abort();
    }
  }

  async #handle(pcId: number, command: Command, stream: DatasetStream | null): Promise<void> {
    const context = this.contexts.get(pcId)!;
    const service = this.#byCommand.get(command.commandField);
    const messageId = command.messageId ?? 0;
    const abort = new AbortController();
    this.#running = { messageId, abort };
    const ctx: ServiceContext = {
      association: this.info,
      logger: this.log,
      cancelled: abort.signal,
      contexts: () => this.contexts.values(),
      send: (cmd, dataset) => this.sendMessage(pcId, cmd, dataset),
      sendAll: (messages) => this.sendMessages(pcId, messages),
      request: (id, cmd, dataset, options) => this.request(id, cmd, dataset, options),
      peerMaxPduLength: this.peerMaxPduLength,
      peerReleasing: this.peerReleasing,
    };
    try {
      if (!service) {
        this.log.log("warn", `unsupported ${commandName(command.commandField)}`, this.fields());
        stream?.cancel();
        await ctx.send({
          commandField: command.commandField | RESPONSE_BIT,
          commandDataSetType: NO_DATASET,
          messageIdBeingRespondedTo: messageId,
          affectedSopClassUid: command.affectedSopClassUid ?? command.requestedSopClassUid,
          status: Status.UnrecognizedOperation, // PS3.7 C.5.x
        });
        return;
      }
      await service.handle({ context, command, dataset: stream }, ctx);
    } catch (e) {
      stream?.cancel();
      if (!this.closed && (e as Error).message.startsWith("association closed")) {
        // The peer went away (reset, broken pipe) before its response: its doing, not ours.
        this.log.log(
          "warn",
          `peer disconnected before the ${service?.name ?? "dimse"} response`,
          { ...this.fields(), error: (e as Error).message },
        );
        this.closeNow();
      } else if (!this.closed) {
        this.log.log(
          "error",
          `${service?.name ?? "dimse"} failed: ${(e as Error).message}`,
          this.fields(),
        );
        await this.abort(AbortSource.ServiceProvider, AbortReason.NotSpecified);
      }
    } finally {
      stream?.cancel();
      this.#running = null;
    }
  }

  protected override onClosed(): void {
    const level = this.end === "released" || this.end === "rejected" ? "info" : "warn";
    if (this.end === "released") this.log.log(level, "association released", this.fields());
  }
}
