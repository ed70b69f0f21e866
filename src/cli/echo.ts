// `minipacs echo AET@host:port`: one C-ECHO (PS3.7 9.1.5), like DCMTK's echoscu.
import { echoScu } from "../core/services/echo_scu.ts";
import {
  type Command,
  type CommandArgs,
  loadEffectiveConfig,
  numberOption,
  stringOption,
  UsageError,
} from "./subcommand.ts";
import { checkAeTitle, cliLogger, parsePeer } from "./scu.ts";
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
  const r = await echoScu({
    connector,
    peer,
    callingAeTitle: calling,
    identity: config.server,
    timeoutMs,
    logger: cliLogger,
  });
  if (r.status === null) {
    console.error(`minipacs: echo: ${r.message}`);
    return 1;
  }
  const line = `C-ECHO ${r.aeTitle}@${r.host}:${r.port} as ${calling}: status ${r.message}, ` +
    `round trip ${ms(r.roundTripMs!)} (association set-up ${ms(r.setupMs!)})`;
  if (!r.ok) {
    console.error(`minipacs: echo: ${line}`);
    return 1;
  }
  console.log(line);
  return 0;
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
