// What every subcommand shares: its shape, the configuration lookup, terminal output.
import type { ParseArgsOptionsConfig } from "node:util";
import { basename, dirname, join } from "node:path";
import { applyOverrides, type Config, ConfigError, DEFAULT_CONFIG, loadConfig } from "../config.ts";

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
  /** `minipacs <name> --help`: the synopsis and the command's own options. */
  usage?: string;
  /** Options only this command takes (node:util parseArgs format). */
  options?: ParseArgsOptionsConfig;
  /** Runs the command; resolves to the process exit code. */
  run(args: CommandArgs): Promise<number>;
}

/** Bad command-line use: main prints the message and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

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
  const portOption = (flag: string): number | undefined => {
    const v = values[flag];
    if (typeof v !== "string") return undefined;
    const port = /^\d+$/.test(v) ? Number(v) : NaN;
    if (Number.isNaN(port)) {
      throw new ConfigError(
        "command line",
        `--${flag}`,
        `must be an integer from 0 to 65535, got ${JSON.stringify(v)}`,
      );
    }
    return port;
  };
  const config = applyOverrides(base, {
    port: portOption("port"),
    aeTitle: values["ae-title"] as string | undefined,
    storage: values.storage as string | undefined,
    httpPort: portOption("http-port"),
    httpBind: values["http-bind"] as string | undefined,
  });
  return { config, source };
}

/** An option's value as a string, or undefined. */
export function stringOption(values: Record<string, OptionValue>, name: string) {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** A positive number option (seconds, counts...); throws UsageError when malformed. */
export function numberOption(
  values: Record<string, OptionValue>,
  name: string,
  fallback: number,
): number {
  const v = stringOption(values, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0)) {
    throw new UsageError(`--${name}: must be a positive number, got ${JSON.stringify(v)}`);
  }
  return n;
}

export function readEnv(name: string): string | undefined {
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

const encoder = new TextEncoder();

/** Writes all of `text` to stderr synchronously (progress lines, prompts). */
export function writeStderr(text: string): void {
  const bytes = encoder.encode(text);
  for (let off = 0, tries = 0; off < bytes.length && tries < 10_000; tries++) {
    off += Deno.stderr.writeSync(bytes.subarray(off));
  }
}

export function stderrIsTerminal(): boolean {
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}
