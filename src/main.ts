// Command line: `minipacs [subcommand] [options]`. Subcommands live in COMMANDS; add one
// there with its own options and it is parsed, dispatched and listed in --help.

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { basename, dirname, join } from "node:path";
import {
  applyOverrides,
  type Config,
  ConfigError,
  DEFAULT_CONFIG,
  formatConfig,
  loadConfig,
} from "./config.ts";
import { createLogger } from "./log.ts";

export type OptionValue = string | boolean | (string | boolean)[] | undefined;

export interface CommandArgs {
  /** Global options (config, port, ae-title, storage) and the command's own options. */
  values: Record<string, OptionValue>;
  /** Positional arguments after the subcommand name. */
  positionals: string[];
}

export interface Command {
  /** One line for --help. */
  summary: string;
  /** Options only this command takes (node:util parseArgs format). */
  options?: ParseArgsOptionsConfig;
  /** Runs the command; resolves to the process exit code. */
  run(args: CommandArgs): Promise<number>;
}

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
};

/** Named in the documentation but not built yet: exit 1 instead of "unknown". */
const NOT_YET = ["reindex", "hash-password", "echo", "store", "find"];

/** Where the configuration came from, for the start-up log. */
export type ConfigSource = { kind: "file"; path: string } | { kind: "defaults" };

/**
 * Config file lookup: the last --config, else $MINIPACS_CONFIG, else ./config.toml, else
 * config.toml beside a compiled executable, else the built-in defaults.
 */
export async function findConfig(values: Record<string, OptionValue>): Promise<ConfigSource> {
  const given = values.config;
  if (Array.isArray(given) && given.length > 0) return { kind: "file", path: String(given.at(-1)) };
  const env = readEnv("MINIPACS_CONFIG");
  if (env) return { kind: "file", path: env };
  if (await isFile("config.toml")) return { kind: "file", path: "config.toml" };
  const exe = Deno.execPath();
  if (!/^deno(\.exe)?$/i.test(basename(exe))) {
    const beside = join(dirname(exe), "config.toml");
    if (await isFile(beside)) return { kind: "file", path: beside };
  }
  return { kind: "defaults" };
}

/** Finds, loads and overrides the configuration; throws ConfigError when refused. */
export async function loadEffectiveConfig(
  values: Record<string, OptionValue>,
): Promise<{ config: Config; source: ConfigSource }> {
  const source = await findConfig(values);
  const base = source.kind === "file"
    ? await loadConfig(source.path)
    : structuredClone(DEFAULT_CONFIG) as Config;
  let port: number | undefined;
  if (typeof values.port === "string") {
    port = /^\d+$/.test(values.port) ? Number(values.port) : NaN;
    if (Number.isNaN(port)) {
      throw new ConfigError(
        "command line",
        "--port",
        `must be an integer from 0 to 65535, got ${JSON.stringify(values.port)}`,
      );
    }
  }
  const config = applyOverrides(base, {
    port,
    aeTitle: values["ae-title"] as string | undefined,
    storage: values.storage as string | undefined,
  });
  return { config, source };
}

async function serve(args: CommandArgs): Promise<number> {
  const { config, source } = await loadEffectiveConfig(args.values);
  const logger = createLogger(config.log.level, config.log.format);
  if (source.kind === "defaults") {
    logger.log("info", "no configuration file found; using built-in defaults");
  } else {
    logger.log("info", "configuration loaded", { file: source.path });
  }
  const { startServer } = await import("./server.ts");
  let running;
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
    http_port: running.httpPort ?? "off",
    version: config.server.implementationVersionName,
  });

  let stopping = false;
  const onSignal = () => {
    if (stopping) {
      logger.log("warn", "second signal: exiting without a clean shutdown");
      Deno.exit(1);
    }
    stopping = true;
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
    "  -h, --help        print this help and exit",
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
    console.log(usage());
    return 0;
  }
  if (first.values.version) {
    console.log(DEFAULT_CONFIG.server.implementationVersionName);
    return 0;
  }
  const name = first.positionals[0] ?? Object.keys(COMMANDS)[0];
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    if (NOT_YET.includes(name)) {
      console.error(`minipacs: ${name}: not available yet`);
      return 1;
    }
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
    throw e;
  }
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env: behave as if unset
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
