// The Peers page's "C-ECHO" button: one Verification request from this server's own SCU to a
// `[[known_ae]]` entry, with the round-trip time (PS3.7 9.1.5).
import { openScu, withTimeout } from "../cli/scu.ts";
import type { Config, KnownAe } from "../config.ts";
import { CommandField, NO_DATASET } from "../core/dimse/command.ts";
import { statusText } from "../core/dimse/status.ts";
import { IMPLICIT_VR_LE } from "../core/dicom/transfer_syntaxes.ts";
import type { Logger } from "../core/ports.ts";
import { VERIFICATION_SOP_CLASS } from "../core/services/echo.ts";

export interface EchoResult {
  aeTitle: string;
  host: string;
  port: number;
  ok: boolean;
  /** The C-ECHO-RSP status; null when none came back. */
  status: number | null;
  /** "0x0000 success"... or why it failed. */
  message: string;
  /** C-ECHO request to response, ms. */
  roundTripMs: number | null;
  /** Connection and association set-up, ms. */
  setupMs: number | null;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** Runs one C-ECHO to `peer` as our AE title; never throws. */
export async function echoPeer(
  config: Config,
  peer: KnownAe,
  logger: Logger,
  timeoutMs = 10_000,
): Promise<EchoResult> {
  const base = { aeTitle: peer.aeTitle, host: peer.host, port: peer.port };
  const failed = (message: string, setupMs: number | null = null): EchoResult => ({
    ...base,
    ok: false,
    status: null,
    message,
    roundTripMs: null,
    setupMs,
  });
  const t0 = performance.now();
  let assoc;
  try {
    assoc = await openScu({
      peer: base,
      callingAeTitle: config.server.aeTitle,
      config,
      timeoutMs,
      logger,
      presentationContexts: [
        { id: 1, abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [IMPLICIT_VR_LE] },
      ],
    });
  } catch (e) {
    return failed((e as Error).message);
  }
  const t1 = performance.now();
  try {
    const pc = assoc.contextFor(VERIFICATION_SOP_CLASS);
    if (!pc) return failed("the peer does not accept the Verification SOP Class", t1 - t0);
    const rsp = await withTimeout(
      assoc.request(pc.id, {
        commandField: CommandField.CEchoRq,
        commandDataSetType: NO_DATASET,
        affectedSopClassUid: VERIFICATION_SOP_CLASS,
      }),
      timeoutMs,
      "C-ECHO",
    );
    const t2 = performance.now();
    const status = rsp.command.status ?? -1;
    return {
      ...base,
      ok: status === 0,
      status,
      message: statusText(status),
      roundTripMs: round(t2 - t1),
      setupMs: round(t1 - t0),
    };
  } catch (e) {
    return failed((e as Error).message, round(t1 - t0));
  } finally {
    await withTimeout(assoc.release(), timeoutMs, "A-RELEASE").catch(() => assoc.abort());
  }
}
