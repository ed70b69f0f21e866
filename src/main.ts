// Command line: `minipacs [subcommand] [options]`. Subcommands live in COMMANDS (each in its
// own file under cli/); add one there with its own options and it is parsed, dispatched and
// listed in --help. This file only dispatches.

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { ConfigError, DEFAULT_CONFIG } from "./config.ts";
import { checkConfigCommand } from "./cli/check_config.ts";
import { type Command, UsageError } from "./cli/subcommand.ts";
import { backupCommand, restoreCommand } from "./cli/backup.ts";
import { deleteCommand } from "./cli/delete.ts";
import { demoCommand } from "./cli/demo.ts";
import { echoCommand } from "./cli/echo.ts";
import { findCommand } from "./cli/find.ts";
import { getCommand } from "./cli/get.ts";
import { moveCommand } from "./cli/move.ts";
import { forwardCommand } from "./cli/forward.ts";
import { hashPasswordCommand } from "./cli/hash_password.ts";
import { healthcheckCommand } from "./cli/healthcheck.ts";
import { reindexCommand } from "./cli/reindex.ts";
import { sendCommand } from "./cli/send.ts";
import { serveCommand } from "./cli/serve.ts";
import { storeCommand } from "./cli/store.ts";

const GLOBAL_OPTIONS: ParseArgsOptionsConfig = {
  config: { type: "string", multiple: true },
  port: { type: "string" },
  "ae-title": { type: "string" },
  storage: { type: "string" },
  "http-port": { type: "string" },
  "http-bind": { type: "string" },
  version: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

/** Subcommand name -> implementation. The first entry is the default. */
export const COMMANDS: Record<string, Command> = {
  serve: serveCommand,
  "check-config": checkConfigCommand,
  reindex: reindexCommand,
  "hash-password": hashPasswordCommand,
  echo: echoCommand,
  store: storeCommand,
  find: findCommand,
  move: moveCommand,
  get: getCommand,
  send: sendCommand,
  delete: deleteCommand,
  backup: backupCommand,
  restore: restoreCommand,
  demo: demoCommand,
  forward: forwardCommand,
  healthcheck: healthcheckCommand,
};

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
    "  --http-port N     web page and API port (overrides http.port)",
    "  --http-bind ADDR  web page and API address (overrides http.bind)",
    "  --version         print the version, runtime, build and Implementation Class UID",
    "  -h, --help        print this help and exit (after a command: that command's help)",
  ].join("\n");
}

/**
 * --version: the implementation version name (first line, as before), then the runtime, how
 * this program was built and the Implementation Class UID it sends by default.
 */
export function versionText(): string {
  const exe = Deno.execPath();
  const compiled = !/^deno(\.exe)?$/i.test(exe.slice(exe.lastIndexOf("/") + 1));
  const v = Deno.version;
  return [
    DEFAULT_CONFIG.server.implementationVersionName,
    `runtime: Deno ${v.deno} (V8 ${v.v8}, TypeScript ${v.typescript}) on ${Deno.build.target}`,
    `build: ${compiled ? `compiled executable ${exe}` : `from source (${import.meta.url})`}`,
    `implementation class UID: ${DEFAULT_CONFIG.server.implementationClassUid}`,
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
    console.log(versionText());
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
