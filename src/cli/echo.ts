// `minipacs echo AET@host:port`: one C-ECHO (PS3.7 9.1.5), like DCMTK's echoscu.
import { CommandField, NO_DATASET } from "../core/dimse/command.ts";
import { statusText } from "../core/dimse/status.ts";
import { IMPLICIT_VR_LE } from "../core/dicom/transfer_syntaxes.ts";
import { VERIFICATION_SOP_CLASS } from "../core/services/echo.ts";
import {
  type Command,
  type CommandArgs,
  loadEffectiveConfig,
  numberOption,
  stringOption,
  UsageError,
} from "./command.ts";
import { checkAeTitle, openScu, parsePeer, withTimeout } from "./scu.ts";
import { scuConnector, tlsOptions, tlsUsage } from "./tls_options.ts";

const ms = (t: number) => `${t.toFixed(1)} ms`;

async function run(args: CommandArgs): Promise<number> {
  if (args.positionals.length !== 1) throw new UsageError("echo takes one AET@host:port");
  const peer = parsePeer(args.positionals[0]);
  const timeoutMs = numberOption(args.values, "timeout", 30) * 1000;
  const connector = await scuConnector(args.values);
  const { config } = await loadEffectiveConfig(args.values);
  const calling = checkAeTitle(
    stringOption(args.values, "aet") ?? config.server.aeTitle,
    "--aet",
  );
  const where = `${peer.aeTitle}@${peer.host}:${peer.port}`;
  const t0 = performance.now();
  let assoc;
  try {
    assoc = await openScu({
      peer,
      callingAeTitle: calling,
      config,
      timeoutMs,
      connector,
      presentationContexts: [
        { id: 1, abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [IMPLICIT_VR_LE] },
      ],
    });
  } catch (e) {
    console.error(`minipacs: echo: ${(e as Error).message}`);
    return 1;
  }
  const t1 = performance.now();
  try {
    const pc = assoc.contextFor(VERIFICATION_SOP_CLASS);
    if (!pc) {
      console.error(`minipacs: echo: ${where} does not accept the Verification SOP Class`);
      return 1;
    }
    const request = assoc.request.bind(assoc);
    const rsp = await withTimeout(
      request(pc.id, {
        commandField: CommandField.CEchoRq,
        commandDataSetType: NO_DATASET,
        affectedSopClassUid: VERIFICATION_SOP_CLASS,
      }),
      timeoutMs,
      "C-ECHO",
    );
    const t2 = performance.now();
    const status = rsp.command.status ?? -1;
    const line = `C-ECHO ${where} as ${calling}: status ${statusText(status)}, ` +
      `round trip ${ms(t2 - t1)} (association set-up ${ms(t1 - t0)})`;
    if (status !== 0) {
      console.error(`minipacs: echo: ${line}`);
      return 1;
    }
    console.log(line);
    return 0;
  } catch (e) {
    console.error(`minipacs: echo: ${(e as Error).message}`);
    return 1;
  } finally {
    await withTimeout(assoc.release(), timeoutMs, "A-RELEASE").catch(() => assoc.abort());
  }
}

export const echoCommand: Command = {
  summary: "send a C-ECHO to AET@host:port and print the round-trip time",
  usage: [
    "Usage: minipacs echo AET@host:port [--aet CALLING] [--timeout S] [--tls ...]",
    "",
    "Exits 0 when the peer answers the C-ECHO with Success, 1 otherwise.",
    "",
    "  --aet CALLING     our calling AE title (default: server.ae_title of the configuration)",
    "  --timeout S       seconds to wait for the peer at each step (default 30)",
    ...tlsUsage(),
  ].join("\n"),
  options: { aet: { type: "string" }, timeout: { type: "string" }, ...tlsOptions() },
  run,
};
