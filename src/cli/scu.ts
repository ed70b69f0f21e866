// The SCU side of the command line (echo, store, find, move, get): `AET@host:port` targets, and opening
// an association to one with the core's SCU set-up over Deno TCP.
import type { Config } from "../config.ts";
import type { Connector, Logger } from "../core/ports.ts";
import { EXPLICIT_VR_LE, IMPLICIT_VR_LE } from "../core/dicom/transfer_syntaxes.ts";
import type { Model } from "../core/query/keys.ts";
import {
  openScuAssociation,
  releaseOrAbort,
  type ScuAssociationOptions,
  type ScuPeer,
} from "../core/services/scu_association.ts";
import type { AcceptedContext } from "../core/ul/negotiation.ts";
import type { RequestorAssociation } from "../core/ul/requestor.ts";
import { tcpConnector } from "../net/tcp.ts";
import {
  type CommandArgs,
  loadEffectiveConfig,
  stringOption,
  UsageError,
  writeStderr,
} from "./subcommand.ts";

export type Peer = ScuPeer;

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

/** The configuration, and our calling AE title: --aet, else `[server] ae_title`. */
export async function scuIdentity(
  args: CommandArgs,
): Promise<{ config: Config; calling: string }> {
  const { config } = await loadEffectiveConfig(args.values);
  const calling = checkAeTitle(stringOption(args.values, "aet") ?? config.server.aeTitle, "--aet");
  return { config, calling };
}

export interface ScuOptions {
  peer: Peer;
  callingAeTitle: string;
  presentationContexts: { id: number; abstractSyntax: string; transferSyntaxes: string[] }[];
  /** SCP/SCU role selection (PS3.7 D.3.3.4): C-GET's storage classes. */
  roleSelections?: ScuAssociationOptions["roleSelections"];
  /** Handlers for requests the peer sends us (C-GET's C-STORE sub-operations). */
  services?: ScuAssociationOptions["services"];
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

/** Opens an association with our `[server]` identity over TCP (see scu_association.ts). */
export function openScu(o: ScuOptions): Promise<RequestorAssociation> {
  return openScuAssociation({
    connector: o.connector ?? tcpConnector,
    peer: o.peer,
    callingAeTitle: o.callingAeTitle,
    identity: o.config.server,
    presentationContexts: o.presentationContexts,
    roleSelections: o.roleSelections,
    services: o.services,
    timeoutMs: o.timeoutMs,
    logger: o.logger ?? cliLogger,
  });
}

/** `AET@host:port` as the messages name a peer. */
export function peerName(peer: Peer): string {
  return `${peer.aeTitle}@${peer.host}:${peer.port}`;
}

export interface QueryRetrieveScuOptions extends Omit<ScuOptions, "presentationContexts"> {
  /** The subcommand, for messages: find, move or get. */
  command: "find" | "move" | "get";
  /** The C-FIND, C-MOVE or C-GET SOP Class of `model`: presentation context 1. */
  sopClass: string;
  model: Model;
  /** Contexts proposed after the first (C-GET: the storage classes). */
  moreContexts?: ScuOptions["presentationContexts"];
}

/**
 * Opens the association of find, move or get, proposing `sopClass` in Explicit and Implicit
 * VR Little Endian. Null, with the reason on stderr, when it cannot be opened or the peer
 * accepted no context for `sopClass` (then it is released).
 */
export async function openQueryRetrieveScu(
  o: QueryRetrieveScuOptions,
): Promise<{ assoc: RequestorAssociation; pc: AcceptedContext } | null> {
  let assoc: RequestorAssociation;
  try {
    assoc = await openScu({
      ...o,
      presentationContexts: [
        { id: 1, abstractSyntax: o.sopClass, transferSyntaxes: [EXPLICIT_VR_LE, IMPLICIT_VR_LE] },
        ...o.moreContexts ?? [],
      ],
    });
  } catch (e) {
    console.error(`minipacs: ${o.command}: ${(e as Error).message}`);
    return null;
  }
  const pc = assoc.contextFor(o.sopClass);
  if (!pc) {
    const model = o.model === "PATIENT" ? "Patient Root" : "Study Root";
    const service = `C-${o.command.toUpperCase()}`;
    console.error(
      `minipacs: ${o.command}: ${peerName(o.peer)} does not accept ${model} ${service}`,
    );
    await releaseOrAbort(assoc, o.timeoutMs);
    return null;
  }
  return { assoc, pc };
}
