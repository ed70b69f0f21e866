// The one error a refused configuration raises.

/** A refused configuration. `message` is one line: `file:line: key: what is wrong`. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly key: string,
    readonly detail: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    const where = file + (line ? `:${line}` : "") + (line && column ? `:${column}` : "");
    super(`${where}: ${key ? `${key}: ` : ""}${detail}`);
    this.name = "ConfigError";
  }
}
