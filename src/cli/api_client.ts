// Commands that act on a running server go through its JSON API: the base URL from the
// configuration's [http] (or --url), HTTP Basic credentials from --user / MINIPACS_PASSWORD.
import type { Config } from "../config.ts";
import { type OptionValue, readEnv, stringOption, UsageError } from "./subcommand.ts";

/** The web server's base URL, reached over loopback when it is bound to every address. */
export function apiBase(config: Config, values: Record<string, OptionValue>): string | null {
  const given = stringOption(values, "url");
  if (given !== undefined) return given.replace(/\/+$/, "");
  if (!config.http.enabled) return null;
  const bind = config.http.bind;
  const host = bind === "0.0.0.0" || bind === "" ? "127.0.0.1" : bind === "::" ? "::1" : bind;
  return `http://${host.includes(":") ? `[${host}]` : host}:${config.http.port}`;
}

/** The Authorization header from --user NAME[:PASSWORD] (or MINIPACS_PASSWORD), if any. */
export function authorization(values: Record<string, OptionValue>): string | undefined {
  const user = stringOption(values, "user");
  if (user === undefined) return undefined;
  const colon = user.indexOf(":");
  const name = colon < 0 ? user : user.slice(0, colon);
  const password = colon < 0 ? readEnv("MINIPACS_PASSWORD") : user.slice(colon + 1);
  if (password === undefined) {
    throw new UsageError("--user NAME needs the password: NAME:PASSWORD or MINIPACS_PASSWORD");
  }
  const bytes = new TextEncoder().encode(`${name}:${password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

export class ApiUnreachableError extends Error {
  constructor(readonly url: string, why: string) {
    super(`cannot reach ${url}: ${why}`);
    this.name = "ApiUnreachableError";
  }
}

/** One request; resolves with the status and the JSON body (or { error } from a text body). */
export async function apiRequest(
  base: string,
  method: string,
  path: string,
  values: Record<string, OptionValue>,
  body?: unknown,
  timeoutMs = 600_000,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const url = `${base}${path}`;
  const headers: Record<string, string> = {};
  const auth = authorization(values);
  if (auth) headers.Authorization = auth;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let rsp: Response;
  try {
    rsp = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const cause = (e as Error).cause;
    throw new ApiUnreachableError(url, cause instanceof Error ? cause.message : String(e));
  }
  const text = await rsp.text();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text);
  } catch {
    json = { error: text.trim().slice(0, 200) || `HTTP ${rsp.status}` };
  }
  return { status: rsp.status, json };
}

/** --study / --series / --instance: exactly one. */
export function entityOption(
  values: Record<string, OptionValue>,
): { level: "study" | "series" | "instance"; uid: string; path: string } {
  const given = (["study", "series", "instance"] as const).flatMap((level) => {
    const uid = stringOption(values, level);
    return uid === undefined ? [] : [{ level, uid: uid.trim() }];
  });
  if (given.length !== 1 || !given[0].uid) {
    throw new UsageError("give one of --study UID, --series UID, --instance UID");
  }
  const plural = { study: "studies", series: "series", instance: "instances" }[given[0].level];
  return { ...given[0], path: `/api/${plural}/${encodeURIComponent(given[0].uid)}` };
}

export const API_OPTIONS = {
  study: { type: "string" },
  series: { type: "string" },
  instance: { type: "string" },
  url: { type: "string" },
  user: { type: "string" },
  json: { type: "boolean" },
} as const;

export const API_OPTION_HELP = [
  "  --study UID | --series UID | --instance UID   what to act on (one of them)",
  "  --url URL         the server's web address (default: from [http] of the configuration)",
  "  --user NAME[:PW]  an [[http.users]] login; without :PW the password is read from",
  "                    MINIPACS_PASSWORD",
  "  --json            print the server's answer as JSON",
];
