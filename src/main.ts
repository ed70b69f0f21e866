// Command line: `minipacs [subcommand] [options]`. Subcommands live in COMMANDS; add one
// there with its own options and it is parsed, dispatched and listed in --help.

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { type Config, ConfigError, DEFAULT_CONFIG, formatConfig } from "./config.ts";
import { createLogger } from "./log.ts";
import type { Logger } from "./core/ports.ts";
import { type RunningServer, startServer } from "./server.ts";
import { type Command, type CommandArgs, loadEffectiveConfig, UsageError } from "./cli/command.ts";
import { echoCommand } from "./cli/echo.ts";
import { findCommand } from "./cli/find.ts";
import { hashPasswordCommand } from "./cli/hash_password.ts";
import { healthcheckCommand } from "./cli/healthcheck.ts";
import { reindexCommand } from "./cli/reindex.ts";
import { storeCommand } from "./cli/store.ts";

export {
  type Command,
  type CommandArgs,
  type ConfigSource,
  findConfig,
  loadEffectiveConfig,
  type OptionValue,
} from "./cli/command.ts";

const GLOBAL_OPTIONS: ParseArgsOptionsConfig = {
  config: { type: "string", multiple: true },
  port: { type: "string" },
  "ae-title": { type: "string" },
  storage: { type: "string" },
  version: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

/** Subcommand name -> implementation. The first entry is the default. */
export const COMMANDS: Record<string, Command> = {
  serve: { summary: "run the DICOM server (default)", run: serve },
  "check-config": {
    summary: "validate the configuration and print the effective settings",
    run: checkConfig,
  },
  reindex: reindexCommand,
  "hash-password": hashPasswordCommand,
  echo: echoCommand,
  store: storeCommand,
  find: findCommand,
  healthcheck: healthcheckCommand,
};

async function serve(args: CommandArgs): Promise<number> {
  const { config, source } = await loadEffectiveConfig(args.values);
  const logger = createLogger(config.log.level, config.log.format);
  if (source.kind === "defaults") {
    logger.log("info", "no configuration file found; using built-in defaults");
  } else {
    logger.log("info", "configuration loaded", { file: source.path });
  }
  let running: RunningServer | undefined;
  let stopping = false;
  // SIGHUP: re-read the same configuration (and command-line overrides) and apply what can be.
  // Listened to from the start: by default a SIGHUP would end the process.
  const onReload = () => {
    const server = running;
    if (!server || stopping) {
      logger.log("warn", "SIGHUP ignored: the server is starting or stopping");
      return;
    }
    loadEffectiveConfig(args.values).then(
      ({ config: next }: { config: Config }) => server.reload(next),
      (e: unknown) =>
        logger.log("error", "reload refused, the running configuration is kept", {
          error: e instanceof Error ? e.message : String(e),
        }),
    );
  };
  const windows = Deno.build.os === "windows";
  if (!windows) Deno.addSignalListener("SIGHUP", onReload);
  try {
    try {
      running = await startServer(config, logger);
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      logger.log("error", "server failed to start", { error: e });
      return 1;
    }
    logger.log("info", "MiniPACS started", {
      ae: config.server.aeTitle,
      dicom_port: running.dicomPort,
      tls_port: running.tlsPort ?? "off",
      http_port: running.httpPort ?? "off",
      version: config.server.implementationVersionName,
    });
    return await runUntilStopped(running, logger, () => (stopping = true));
  } finally {
    if (!windows) Deno.removeSignalListener("SIGHUP", onReload);
  }
}

/** Waits for the server to end; SIGINT/SIGTERM stop it cleanly, a second one exits at once. */
async function runUntilStopped(
  running: RunningServer,
  logger: Logger,
  onStopping: () => void,
): Promise<number> {
  let stopping = false;
  const onSignal = () => {
    if (stopping) {
      logger.log("warn", "second signal: exiting without a clean shutdown");
      Deno.exit(1);
    }
    stopping = true;
    onStopping();
    logger.log("info", "shutting down");
    running.stop().catch((e: unknown) => {
      logger.log("error", "shutdown failed", { error: e });
      Deno.exit(1);
    });
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  try {
    await running.done;
    logger.log("info", "stopped");
    return 0;
  } catch (e) {
    logger.log("error", "server failed", { error: e });
    return 1;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  }
}

async function checkConfig(args: CommandArgs): Promise<number> {
  const { config, source } = await loadEffectiveConfig(args.values);
  const from = source.kind === "file" ? source.path : "built-in defaults";
  console.log(`# Effective configuration (from ${from})\n\n${formatConfig(config)}`);
  return 0;
}

function usage(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length)) + 2;
  return [
    "Usage: minipacs [command] [options]",
    "",
    "Commands:",
    ...names.map((n) => `  ${n.padEnd(width)}${COMMANDS[n].summary}`),
    "",
    "Options:",
    "  --config FILE     configuration file (default: $MINIPACS_CONFIG, ./config.toml,",
    "                    config.toml beside the executable, else built-in defaults)",
    "  --port N          DICOM port (overrides server.port)",
    "  --ae-title T      our AE title (overrides server.ae_title)",
    "  --storage DIR     storage directory (overrides storage.path)",
    "  --version         print the version and exit",
    "  -h, --help        print this help and exit (after a command: that command's help)",
  ].join("\n");
}

/** Runs the command line; resolves to the exit code (0 ok, 1 failure, 2 bad usage/config). */
export async function main(argv: string[]): Promise<number> {
  // The subcommand is the first positional, wherever it stands among the options.
  const first = parseArgs({
    args: argv,
    options: GLOBAL_OPTIONS,
    allowPositionals: true,
    strict: false,
  });
  if (first.values.help) {
    const named = first.positionals[0];
    const help = named && Object.hasOwn(COMMANDS, named) ? COMMANDS[named].usage : undefined;
    console.log(help ?? usage());
    return 0;
  }
  if (first.values.version) {
    console.log(DEFAULT_CONFIG.server.implementationVersionName);
    return 0;
  }
  const name = first.positionals[0] ?? Object.keys(COMMANDS)[0];
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    console.error(`minipacs: unknown command "${name}" (see --help)`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    console.error(`minipacs: ${(e as Error).message} (see --help)`);
    return 2;
  }
  const positionals = [...parsed.positionals];
  if (positionals[0] === name) positionals.shift();
  try {
    return await command.run({ values: parsed.values, positionals });
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      return 2;
    }
    if (e instanceof UsageError) {
      console.error(`minipacs: ${name}: ${e.message} (see minipacs ${name} --help)`);
      return 2;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
