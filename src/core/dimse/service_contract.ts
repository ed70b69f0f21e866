// What an association and the DIMSE services agree on (PS3.7 9): who the peer is, a request
// as it reaches a service, the responses a requestor receives, what a handler may do on its
// association, and the service interface the acceptor dispatches to. The upper layer needs
// these and nothing else from the services.
import type { Command } from "./command.ts";
import type { FramedDataset } from "./data_packer.ts";
import type { DatasetStream } from "./dataset_stream.ts";
import type { Logger } from "../ports.ts";
import type { AcceptedContext, SupportedSyntax } from "../ul/negotiation.ts";

/** Who is on the other end, for handlers and log lines. */
export interface AssociationInfo {
  id: string;
  callingAeTitle: string;
  calledAeTitle: string;
  remote: string;
  /** A STOW-RS request's HTTP user (PS3.18 10.5), "anonymous" when nobody logs in. */
  httpUser?: string;
}

/** A DIMSE request as it reaches a service. */
export interface DimseRequest {
  context: AcceptedContext;
  command: Command;
  /** The dataset that follows the command, streamed; null when there is none. */
  dataset: DatasetStream | null;
}

/** A response (or sub-operation response) received from the peer. */
export interface DimseResponse {
  command: Command;
  dataset: Uint8Array | null;
}

/** How a request of ours is sent and awaited. */
export interface RequestOptions {
  /** Once aborted, the response is no longer awaited: the request rejects. */
  signal?: AbortSignal;
  /**
   * Called once the whole message is handed to the transport, before its response: work for
   * the next message done then does not hold back the bytes of this one.
   */
  onSent?(): void;
}

/** A message to send whose dataset, if any, is in memory. */
export interface OutgoingMessage {
  command: Command;
  dataset?: Uint8Array;
}

/** What a handler can do on the association it runs on. */
export interface ServiceContext {
  association: AssociationInfo;
  logger: Logger;
  /** Sends a message on the request's presentation context (a response, usually). */
  send(command: Command, dataset?: Uint8Array): Promise<void>;
  /**
   * Sends several messages on the request's presentation context, in order and in one write
   * (a burst of pending responses). Where absent, `send` each in turn does the same.
   */
  sendAll?(messages: readonly OutgoingMessage[]): Promise<void>;
  /** Aborted when the peer sends C-CANCEL for this request. */
  cancelled: AbortSignal;
  /** Accepted presentation contexts (C-GET looks for storage contexts with the SCP role). */
  contexts(): Iterable<AcceptedContext>;
  /**
   * Sends a request on another context and waits for its final response (C-GET
   * sub-operations); rejects once `options.signal` aborts (the answer is no longer awaited).
   */
  request(
    pcId: number,
    command: Command,
    dataset?: Uint8Array | AsyncIterable<Uint8Array> | FramedDataset,
    options?: RequestOptions,
  ): Promise<DimseResponse>;
  /** Aborted once the peer asked for release or the association ended. */
  peerReleasing?: AbortSignal;
  /** The peer's Maximum Length Received, for datasets framed ahead (FramedDataset). */
  peerMaxPduLength?: number;
}

export interface DimseService {
  /** A short name for logs and metrics ("echo", "store"...). */
  readonly name: string;
  /** The request command fields it answers. */
  readonly commandFields: readonly number[];
  /** The abstract syntaxes it serves, with the transfer syntaxes it takes. */
  syntaxes(): Iterable<SupportedSyntax>;
  handle(request: DimseRequest, ctx: ServiceContext): Promise<void>;
}
