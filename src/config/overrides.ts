// Command-line overrides of single settings (--port, --ae-title...), checked like the file.
import { aeTitle, type Check, int, Invalid, str } from "./checks.ts";
import { ConfigError } from "./error.ts";
import type { Config } from "./types.ts";

export interface Overrides {
  port?: number;
  aeTitle?: string;
  storage?: string;
  httpPort?: number;
  httpBind?: string;
}

/** Returns a copy of `config` with command-line overrides applied and checked. */
export function applyOverrides(config: Config, overrides: Overrides): Config {
  const check = (flag: string, c: Check, v: unknown) => {
    try {
      return c(v);
    } catch (e) {
      if (!(e instanceof Invalid)) throw e;
      throw new ConfigError("command line", flag, e.message);
    }
  };
  const out = structuredClone(config);
  if (overrides.port !== undefined) {
    const port = Number.isInteger(overrides.port) ? BigInt(overrides.port) : overrides.port;
    out.server.port = check("--port", int(0, 65535), port) as number;
  }
  if (overrides.aeTitle !== undefined) {
    out.server.aeTitle = check("--ae-title", aeTitle, overrides.aeTitle) as string;
  }
  if (overrides.storage !== undefined) {
    out.storage.path = check("--storage", str(), overrides.storage) as string;
  }
  if (overrides.httpPort !== undefined) {
    const port = Number.isInteger(overrides.httpPort)
      ? BigInt(overrides.httpPort)
      : overrides.httpPort;
    out.http.port = check("--http-port", int(0, 65535), port) as number;
  }
  if (overrides.httpBind !== undefined) {
    out.http.bind = check("--http-bind", str(), overrides.httpBind) as string;
  }
  return out;
}
