// The requestor (SCU) side of an association: C-MOVE sub-associations, the SCU commands,
// tests. Sends the A-ASSOCIATE-RQ, then requests; serves C-STORE sub-operations of a C-GET.
import { Command, CommandField, NO_DATASET, RESPONSE_BIT } from "../dimse/command.ts";
import { Status } from "../dimse/status.ts";
import { DatasetStream } from "../dimse/dataset_stream.ts";
import type { DimseResponse, DimseService, ServiceContext } from "../dimse/service_contract.ts";
import { AAssociateAc, AAssociateRj, PduType } from "./pdu_types.ts";
import { AcceptedContext } from "./negotiation.ts";
import { Association, type AssociationOptions } from "./association.ts";

export interface RequestorOptions extends AssociationOptions {
  callingAeTitle: string;
  calledAeTitle: string;
  implementationClassUid: string;
  implementationVersionName: string;
  presentationContexts: { id: number; abstractSyntax: string; transferSyntaxes: string[] }[];
  roleSelections?: { sopClassUid: string; scuRole: boolean; scpRole: boolean }[];
  /** Handles requests the acceptor sends us (C-STORE sub-operations of a C-GET). */
  services?: readonly DimseService[];
}

export class AssociationRejectedError extends Error {
  constructor(readonly rj: AAssociateRj) {
    super(`association rejected (result ${rj.result}, source ${rj.source}, reason ${rj.reason})`);
    this.name = "AssociationRejectedError";
  }
}

/** The requestor (SCU) side: C-MOVE sub-associations, the SCU helpers, tests. */
export class RequestorAssociation extends Association {
  #established!: { resolve(): void; reject(e: Error): void };
  #pendingListeners = new Map<number, (r: DimseResponse) => void>();
  #options: RequestorOptions;
  #byCommand = new Map<number, DimseService>();
  /** The A-ASSOCIATE-AC as received. */
  ac?: AAssociateAc;

  constructor(options: RequestorOptions) {
    super(options, true);
    this.#options = options;
    for (const s of options.services ?? []) {
      for (const f of s.commandFields) this.#byCommand.set(f, s);
    }
    this.info.callingAeTitle = options.callingAeTitle;
    this.info.calledAeTitle = options.calledAeTitle;
  }

  /** Sends the A-ASSOCIATE-RQ and resolves once accepted; rejects with AssociationRejectedError. */
  async open(): Promise<this> {
    const o = this.#options;
    const established = new Promise<void>((
      resolve,
      reject,
    ) => (this.#established = { resolve, reject }));
    this.setOutgoing({
      rq: {
        type: PduType.AAssociateRq,
        protocolVersion: 1,
        calledAeTitle: o.calledAeTitle,
        callingAeTitle: o.callingAeTitle,
        applicationContext: "1.2.840.10008.3.1.1.1",
        presentationContexts: o.presentationContexts,
        userInformation: {
          maxLength: o.maxPduLength,
          implementationClassUid: o.implementationClassUid,
          implementationVersionName: o.implementationVersionName,
          roleSelections: o.roleSelections ?? [],
          extendedNegotiations: [],
          commonExtendedNegotiations: [],
          unknown: [],
        },
      },
    });
    void this.finished.then(() =>
      this.#established.reject(
        new Error("connection closed before the association was established"),
      )
    );
    await this.fire("Evt1");
    void this.readLoop();
    await established;
    return this;
  }

  protected override onAssociateAc(ac: AAssociateAc): void {
    this.ac = ac;
    this.peerMaxPduLength = ac.userInformation.maxLength;
    const proposed = new Map(this.#options.presentationContexts.map((p) => [p.id, p]));
    for (const pc of ac.presentationContexts) {
      const p = proposed.get(pc.id);
      if (pc.result !== 0 || !p) continue;
      const role = this.#options.roleSelections?.find((r) => r.sopClassUid === p.abstractSyntax);
      const reply = ac.userInformation.roleSelections.find((r) =>
        r.sopClassUid === p.abstractSyntax
      );
      this.contexts.set(pc.id, {
        id: pc.id,
        abstractSyntax: p.abstractSyntax,
        transferSyntax: pc.transferSyntax,
        requestorIsScu: role ? !!reply?.scuRole : true,
        requestorIsScp: role ? !!reply?.scpRole : false,
      });
    }
    this.#established.resolve();
  }

  protected override onAssociateRj(rj: AAssociateRj): void {
    this.end = "rejected";
    this.#established.reject(new AssociationRejectedError(rj));
  }

  protected override onAssociateRq(): Promise<void> {
    return Promise.resolve(); // never reached: the table aborts an RQ sent to a requestor
  }

  /** First accepted context for an abstract syntax (optionally with a given transfer syntax). */
  contextFor(abstractSyntax: string, transferSyntax?: string): AcceptedContext | undefined {
    for (const c of this.contexts.values()) {
      if (
        c.abstractSyntax === abstractSyntax &&
        (!transferSyntax || c.transferSyntax === transferSyntax)
      ) {
        return c;
      }
    }
    return undefined;
  }

  /** Like request(), with a callback for each pending response (C-FIND matches, C-MOVE progress). */
  async requestWithPending(
    pcId: number,
    command: Command,
    dataset: Uint8Array | undefined,
    onPending: (r: DimseResponse) => void,
  ): Promise<DimseResponse> {
    const messageId = command.messageId ?? this.newMessageId();
    this.#pendingListeners.set(messageId, onPending);
    try {
      return await this.request(pcId, { ...command, messageId }, dataset);
    } finally {
      this.#pendingListeners.delete(messageId);
    }
  }

  protected override onPendingResponse(id: number, response: DimseResponse): void {
    this.#pendingListeners.get(id)?.(response);
  }

  /** Sends C-CANCEL-RQ for a running request (PS3.7 9.3.2.3). */
  cancel(pcId: number, messageId: number): Promise<void> {
    return this.sendMessage(pcId, {
      commandField: CommandField.CCancelRq,
      commandDataSetType: NO_DATASET,
      messageIdBeingRespondedTo: messageId,
    });
  }

  protected override enqueueRequest(
    pcId: number,
    command: Command,
    stream: DatasetStream | null,
  ): void {
    const service = this.#byCommand.get(command.commandField);
    const context = this.contexts.get(pcId)!;
    if (!service) {
      stream?.cancel();
      void this.sendMessage(pcId, {
        commandField: command.commandField | RESPONSE_BIT,
        commandDataSetType: NO_DATASET,
        messageIdBeingRespondedTo: command.messageId ?? 0,
        status: Status.UnrecognizedOperation,
      }).catch(() => {});
      return;
    }
    this.beginWork();
    const ctx: ServiceContext = {
      association: this.info,
      logger: this.log,
      cancelled: new AbortController().signal,
      contexts: () => this.contexts.values(),
      send: (cmd, dataset) => this.sendMessage(pcId, cmd, dataset),
      request: (id, cmd, dataset, options) => this.request(id, cmd, dataset, options),
    };
    void service.handle({ context, command, dataset: stream }, ctx).catch((e) => {
      this.log.log("error", `${service.name} failed: ${(e as Error).message}`, this.fields());
    }).finally(() => {
      stream?.cancel();
      this.endWork();
    });
  }

  /** A-RELEASE (Evt11); resolves once the peer answered and the transport is closed. */
  async release(): Promise<void> {
    if (this.closed) return;
    await this.fire("Evt11");
    const timer = setTimeout(() => this.closeNow(), this.options.artimTimeoutMs);
    try {
      await this.finished;
    } finally {
      clearTimeout(timer);
    }
  }
}
