// The effective configuration written back as TOML (check-config).
import { type Fields, HTTP_USER, KNOWN_AE, ROUTE, SECTIONS } from "./schema.ts";
import type { Config } from "./types.ts";

type Table = Record<string, unknown>;

/** The effective configuration as TOML (parseable again), password hashes shown as "***". */
export function formatConfig(config: Config): string {
  const value = (v: unknown): string =>
    Array.isArray(v)
      ? `[${v.map(value).join(", ")}]`
      : typeof v === "string"
      ? JSON.stringify(v)
      : String(v);
  const body = (fields: Fields, obj: object, skip: string[] = []) =>
    Object.entries(fields)
      .filter(([key, [field]]) => !skip.includes(key) && (obj as Table)[field] !== undefined)
      .map(([key, [field]]) => `${key} = ${value((obj as Table)[field])}\n`)
      .join("");
  let out = "";
  for (const [name, [field, fields]] of Object.entries(SECTIONS)) {
    const users = field === "http" ? config.http.users : [];
    out += `[${name}]\n${body(fields, config[field], field === "http" ? ["users"] : [])}`;
    if (field === "http" && users.length === 0) out += "users = []\n";
    for (const user of users) {
      out += `\n[[http.users]]\n${body(HTTP_USER, { ...user, passwordHash: "***" })}`;
    }
    out += "\n";
  }
  if (config.knownAe.length === 0) out += "# no [[known_ae]] entries\n";
  for (const ae of config.knownAe) out += `[[known_ae]]\n${body(KNOWN_AE, ae)}\n`;
  for (const route of config.routes) out += `[[route]]\n${body(ROUTE, route)}\n`;
  return out.trimEnd() + "\n";
}
