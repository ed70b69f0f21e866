// `minipacs check-config`: validates the configuration (file and command-line overrides) and
// prints the effective settings; a bad file exits 2 like the server would.
import { formatConfig } from "../config.ts";
import { type Command, type CommandArgs, loadEffectiveConfig } from "./subcommand.ts";

export const checkConfigCommand: Command = {
  summary: "validate the configuration and print the effective settings",
  run: checkConfig,
};

async function checkConfig(args: CommandArgs): Promise<number> {
  const { config, source } = await loadEffectiveConfig(args.values);
  const from = source.kind === "file" ? source.path : "built-in defaults";
  console.log(`# Effective configuration (from ${from})\n\n${formatConfig(config)}`);
  return 0;
}
