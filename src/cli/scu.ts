// The SCU side of the command line (echo, store): `AET@host:port` targets and opening an
// association to one with our own core over Deno TCP.
import type { Config } from "../config.ts";
import type { Connector, Logger } from "../core/ports.ts";
import { AssociationRejectedError, RequestorAssociation } from "../core/ul/requestor.ts";
import { RejectReason, RejectResult, RejectSource } from "../core/ul/pdu_types.ts";
import { tcpConnector } from "../net/tcp.ts";
import { UsageError, writeStderr } from "./command.ts";

export interface Peer {
  aeTitle: string;
  host: string;
  port: number;
}

/** Parses `AET@host:port` (IPv6 as `AET@[::1]:104`); throws UsageError when malformed. */
export function parsePeer(text: string): Peer {
  const m = /^([^@]+)@(\[[^\]]+\]|[^:@[\]]+):(\d{1,5})$/.exec(text);
  if (!m) throw new UsageError(`expected AET@host:port, got ${JSON.stringify(text)}`);
  const aeTitle = m[1].trim();
  checkAeTitle(aeTitle, "the called AE title");
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new UsageError(`port must be 1 to 65535, got ${port}`);
  return { aeTitle, host: m[2].replace(/^\[|\]$/g, ""), port };
}

// PS3.5 6.2: AE is 1 to 16 characters of the default repertoire without backslash.
export function checkAeTitle(ae: string, what: string): string {
  if (!/^[\x20-\x5b\x5d-\x7e]{1,16}$/.test(ae) || ae.trim() === "") {
    throw new UsageError(
      `${what} must be 1 to 16 printable ASCII characters without backslash, got ${
        JSON.stringify(ae)
      }`,
    );
  }
  return ae.trim();
}

export interface ScuOptions {
  peer: Peer;
  callingAeTitle: string;
  presentationContexts: { id: number; abstractSyntax: string; transferSyntaxes: string[] }[];
  config: Config;
  /** Connection and association set-up, and each wait for the peer. */
  timeoutMs: number;
  logger?: Logger;
  /** Plain TCP unless given (--tls: tls_options.ts). */
  connector?: Connector;
}

/** Warnings and errors of the association (aborts...) as plain lines on stderr. */
export const cliLogger: Logger = {
  log(level, message, fields) {
    if (level !== "error" && level !== "warn") return;
    const peer = typeof fields?.peer === "string" ? ` (${fields.peer})` : "";
    writeStderr(`minipacs: ${message}${peer}\n`);
  },
};

/** Opens an association; connection or rejection errors become readable Error messages. */
export async function openScu(o: ScuOptions): Promise<RequestorAssociation> {
  const where = `${o.peer.aeTitle}@${o.peer.host}:${o.peer.port}`;
  let connection;
  try {
    connection = await (o.connector ?? tcpConnector).connect(o.peer.host, o.peer.port, o.timeoutMs);
  } catch (e) {
    throw new Error(`cannot connect to ${where}: ${(e as Error).message}`);
  }
  const assoc = new RequestorAssociation({
    id: "scu",
    connection,
    logger: o.logger ?? cliLogger,
    artimTimeoutMs: o.timeoutMs,
    idleTimeoutMs: 0,
    maxPduLength: o.config.server.maxPduLength,
    callingAeTitle: o.callingAeTitle,
    calledAeTitle: o.peer.aeTitle,
    implementationClassUid: o.config.server.implementationClassUid,
    implementationVersionName: o.config.server.implementationVersionName,
    presentationContexts: o.presentationContexts,
  });
  try {
    // No ARTIM runs while a requestor waits for the A-ASSOCIATE-AC (PS3.8 9.2): our own deadline.
    return await withTimeout(assoc.open(), o.timeoutMs, `association with ${where}`);
  } catch (e) {
    await assoc.abort().catch(() => {});
    if (e instanceof AssociationRejectedError) {
      throw new Error(`${where} rejected the association: ${describeRejection(e)}`);
    }
    throw e;
  }
}

/** A-ASSOCIATE-RJ in words (PS3.8 9.3.4). */
export function describeRejection(e: AssociationRejectedError): string {
  const { result, source, reason } = e.rj;
  const kind = result === RejectResult.Transient ? "transient" : "permanent";
  let why = `reason ${reason}`;
  if (source === RejectSource.ServiceUser) {
    why = reason === RejectReason.CallingAeNotRecognized
      ? "calling AE title not recognized"
      : reason === RejectReason.CalledAeNotRecognized
      ? "called AE title not recognized"
      : reason === RejectReason.ApplicationContextNotSupported
      ? "application context not supported"
      : "no reason given";
  } else if (source === RejectSource.ServiceProviderPresentation) {
    why = reason === RejectReason.LocalLimitExceeded
      ? "local limit exceeded (too many associations)"
      : "temporary congestion";
  } else if (source === RejectSource.ServiceProviderAcse && reason === 2) {
    why = "protocol version not supported";
  }
  return `${why} (${kind})`;
}

/** Runs `step` with a deadline: a peer that never answers ends in an Error, not a hang. */
export async function withTimeout<T>(step: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      step,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
