// `minipacs check-config`: validates the configuration (file and command-line overrides) and
// prints the effective settings; a bad file exits 2 like the server would.
import { configWarnings, formatConfig } from "../config.ts";
import { checkHttpExposure } from "../web/security.ts";
import { type Command, type CommandArgs, loadEffectiveConfig } from "./subcommand.ts";

export const checkConfigCommand: Command = {
  summary: "validate the configuration and print the effective settings",
  run: checkConfig,
};

async function checkConfig(args: CommandArgs): Promise<number> {
  const { config, source } = await loadEffectiveConfig(args.values);
  const from = source.kind === "file" ? source.path : "built-in defaults";
  // Every check serve makes before it starts (a refusal exits 2, as serve would).
  checkHttpExposure(config.http, source.kind === "file" ? source.path : "configuration");
  console.log(`# Effective configuration (from ${from})\n\n${formatConfig(config)}`);
  const warnings = configWarnings(config);
  for (const w of warnings) console.error(`warning: ${w}`);
  if (warnings.length === 0) console.error("configuration OK");
  return 0;
}
