// The SCU side of the command line (echo, store, find): `AET@host:port` targets, and opening
// an association to one with the core's SCU set-up over Deno TCP.
import type { Config } from "../config.ts";
import type { Connector, Logger } from "../core/ports.ts";
import {
  openScuAssociation,
  type ScuAssociationOptions,
  type ScuPeer,
} from "../core/services/scu_association.ts";
import type { RequestorAssociation } from "../core/ul/requestor.ts";
import { tcpConnector } from "../net/tcp.ts";
import { UsageError, writeStderr } from "./subcommand.ts";

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
