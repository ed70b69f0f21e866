// config.toml -> typed Config: the entry point. One schema for every key (src/config/schema.ts)
// gives defaults, types and ranges; every refusal is a ConfigError whose one-line message
// names the file, the line and the key.
import { ConfigError } from "./config/error.ts";
import { parseConfig } from "./config/parse.ts";
import type { Config } from "./config/types.ts";

export type * from "./config/types.ts";
export { DEFAULT_CONFIG } from "./config/defaults.ts";
export { ConfigError } from "./config/error.ts";
export { parseConfig } from "./config/parse.ts";
export { applyOverrides, type Overrides } from "./config/overrides.ts";
export { configWarnings } from "./config/warnings.ts";
export { formatConfig } from "./config/format.ts";

/** Reads and parses a config file; a missing or unreadable file is a ConfigError too. */
export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const reason = e instanceof Deno.errors.NotFound ? "file not found" : (e as Error).message;
    throw new ConfigError(path, "", `cannot read configuration: ${reason}`);
  }
  return parseConfig(text, path);
}
