// config.toml -> typed Config. One schema for every key: defaults, types, ranges. Every
// refusal is a ConfigError whose one-line message names the file, the line and the key.

import { parse, TomlError } from "smol-toml";
import type { LogLevel } from "./core/ports.ts";

export interface ServerConfig {
  aeTitle: string;
  bind: string;
  port: number;
  maxAssociations: number;
  /** TCP connections that have not yet sent a whole A-ASSOCIATE-RQ; the oldest goes first. */
  maxPendingConnections: number;
  /** Offered to peers as our Maximum Length Received (PS3.8 D.1). */
  maxPduLength: number;
  accept: "any" | "known";
  checkCalledAe: boolean;
  idleTimeoutS: number;
  artimTimeoutS: number;
  implementationClassUid: string;
  implementationVersionName: string;
}

export interface StorageConfig {
  /** As written; a relative path resolves against the working directory at start-up. */
  path: string;
  sopClasses: "all" | string[];
  duplicates: "overwrite" | "ignore" | "reject";
  minFreeMb: number;
  durability: "fsync" | "none";
  /** Pre-written journal segments kept ready (durability "fsync" only); 0 = none. */
  journalReserveMb: number;
  /** 0 = keep forever. */
  retentionDays: number;
  /** Below this much free space the oldest studies are deleted; 0 = off. */
  retentionMinFreeMb: number;
  /** Lossless compression of uncompressed images at rest, by the materializer. */
  compression: StorageCompression;
}

export type StorageCompression = "none" | "jpeg-ls" | "jpeg2000" | "rle";

export interface QueryConfig {
  caseInsensitivePn: boolean;
  /** 0 = unlimited. */
  maxResults: number;
}

export interface HttpUser {
  name: string;
  passwordHash: string;
}

export interface HttpConfig {
  enabled: boolean;
  bind: string;
  port: number;
  users: HttpUser[];
  metricsPublic: boolean;
  allowAnonymousRemote: boolean;
}

export interface LogConfig {
  level: LogLevel;
  format: "text" | "json";
}

/** A remote AE: C-MOVE destination and, with `server.accept = "known"`, an allowed caller. */
export interface KnownAe {
  aeTitle: string;
  host: string;
  port: number;
  maxAssociations: number;
  /** Associations this AE may have open with us at once; absent: only the global limit. */
  maxIncoming?: number;
  /** The Move Destinations this AE may name in a C-MOVE; absent: any known AE. */
  moveDestinations?: string[];
}

/** A forwarding rule: stored objects it matches are queued for its destination. */
export interface Route {
  /** A [[known_ae]] AE title. */
  destination: string;
  /** Only objects from these calling AE titles; absent: any. */
  callingAe?: string[];
  /** Only objects of series with these modalities; absent: any. */
  modality?: string[];
  /** Only these SOP Class UIDs; absent or empty: any. */
  sopClasses?: string[];
}

export interface ForwardConfig {
  /** Backoff cap between retries to a destination, seconds. */
  retryMaxS: number;
  /** An object still not delivered after this many hours goes to the failed list; 0 = never. */
  giveUpAfterH: number;
}

export interface Config {
  server: ServerConfig;
  storage: StorageConfig;
  query: QueryConfig;
  http: HttpConfig;
  log: LogConfig;
  forward: ForwardConfig;
  knownAe: KnownAe[];
  routes: Route[];
}

export const DEFAULT_CONFIG: Readonly<Config> = deepFreeze({
  server: {
    aeTitle: "MINIPACS",
    bind: "0.0.0.0",
    port: 4242,
    maxAssociations: 50,
    maxPendingConnections: 50,
    maxPduLength: 16384,
    accept: "any",
    checkCalledAe: true,
    idleTimeoutS: 60,
    artimTimeoutS: 30,
    implementationClassUid: "1.2.276.0.7230010.3.0.3.6.4",
    implementationVersionName: "MINIPACS_2_0",
  },
  storage: {
    path: "./data",
    sopClasses: "all",
    duplicates: "overwrite",
    minFreeMb: 1024,
    durability: "fsync",
    journalReserveMb: 512,
    retentionDays: 0,
    retentionMinFreeMb: 0,
    compression: "none",
  },
  query: { caseInsensitivePn: true, maxResults: 0 },
  http: {
    enabled: true,
    bind: "127.0.0.1",
    port: 8080,
    users: [],
    metricsPublic: false,
    allowAnonymousRemote: false,
  },
  log: { level: "info", format: "text" },
  forward: { retryMaxS: 300, giveUpAfterH: 0 },
  knownAe: [],
  routes: [],
});

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

// ---- value checks: each returns the typed value or throws Invalid with the reason ----

class Invalid extends Error {}

type Check = (value: unknown) => unknown;

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint" || typeof v === "number" || typeof v === "boolean") return String(v);
  if (v instanceof Date) return "a date";
  if (Array.isArray(v)) return "an array";
  return "a table";
}

function int(min: number, max = Number.MAX_SAFE_INTEGER): Check {
  const want = max === Number.MAX_SAFE_INTEGER
    ? `an integer >= ${min}`
    : `an integer from ${min} to ${max}`;
  return (v) => {
    if (typeof v !== "bigint" || v < BigInt(min) || v > BigInt(max)) {
      throw new Invalid(`must be ${want}, got ${show(v)}`);
    }
    return Number(v);
  };
}

function num(min: number): Check {
  return (v) => {
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isFinite(n) || n < min) {
      throw new Invalid(`must be a number >= ${min}, got ${show(v)}`);
    }
    return n;
  };
}

const bool: Check = (v) => {
  if (typeof v !== "boolean") throw new Invalid(`must be true or false, got ${show(v)}`);
  return v;
};

function str(what = "a non-empty string"): Check {
  return (v) => {
    if (typeof v !== "string" || v.trim() === "") {
      throw new Invalid(`must be ${what}, got ${show(v)}`);
    }
    return v;
  };
}

function oneOf(...allowed: string[]): Check {
  return (v) => {
    if (typeof v !== "string" || !allowed.includes(v)) {
      throw new Invalid(
        `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${show(v)}`,
      );
    }
    return v;
  };
}

// AE and SH values: the default repertoire (printable ASCII) without backslash (PS3.5 6.2).
// Leading and trailing spaces are not significant: every AE title leaves here trimmed, so
// that nothing downstream needs to trim a configured one again.
function shortText(what: string): Check {
  return (v) => {
    const s = typeof v === "string" ? v.trim() : "";
    if (s.length < 1 || s.length > 16 || !/^[\x20-\x5b\x5d-\x7e]+$/.test(s)) {
      throw new Invalid(
        `must be ${what} of 1 to 16 printable ASCII characters without backslash, got ${show(v)}`,
      );
    }
    return s;
  };
}

const aeTitle = shortText("an AE title");

const aeTitles: Check = (v) => {
  if (!Array.isArray(v)) throw new Invalid(`must be a list of AE titles, got ${show(v)}`);
  return v.map((t, i) => {
    try {
      return aeTitle(t);
    } catch (e) {
      throw new Invalid(`entry ${i} ${(e as Error).message}`);
    }
  });
};

// PS3.5 9.1: digits and dots, at most 64 characters.
const uid: Check = (v) => {
  if (typeof v !== "string" || v.length > 64 || !/^[0-9]+(\.[0-9]+)*$/.test(v)) {
    throw new Invalid(`must be a UID (digits and dots, at most 64 characters), got ${show(v)}`);
  }
  return v;
};

const sopClasses: Check = (v) => {
  if (v === "all") return v;
  if (!Array.isArray(v) || v.length === 0) {
    throw new Invalid(`must be "all" or a non-empty list of SOP Class UIDs, got ${show(v)}`);
  }
  return v.map((u, i) => {
    try {
      return uid(u);
    } catch (e) {
      throw new Invalid(`entry ${i} ${(e as Error).message}`);
    }
  });
};

// ---- the schema: section -> snake_case key -> [camelCase field, check]; order = output order ----

type Fields = Record<string, [string, Check]>;

const SERVER: Fields = {
  ae_title: ["aeTitle", aeTitle],
  bind: ["bind", str()],
  port: ["port", int(0, 65535)],
  max_associations: ["maxAssociations", int(1, 1000)],
  max_pending_connections: ["maxPendingConnections", int(1, 1000)],
  max_pdu_length: ["maxPduLength", int(4096, 131072)],
  accept: ["accept", oneOf("any", "known")],
  check_called_ae: ["checkCalledAe", bool],
  idle_timeout_s: ["idleTimeoutS", int(1, 86400)],
  artim_timeout_s: ["artimTimeoutS", int(1, 3600)],
  implementation_class_uid: ["implementationClassUid", uid],
  implementation_version_name: ["implementationVersionName", shortText("a name")],
};

const STORAGE: Fields = {
  path: ["path", str()],
  sop_classes: ["sopClasses", sopClasses],
  duplicates: ["duplicates", oneOf("overwrite", "ignore", "reject")],
  min_free_mb: ["minFreeMb", int(0)],
  durability: ["durability", oneOf("fsync", "none")],
  journal_reserve_mb: ["journalReserveMb", int(0)],
  retention_days: ["retentionDays", int(0)],
  retention_min_free_mb: ["retentionMinFreeMb", int(0)],
  compression: ["compression", oneOf("none", "jpeg-ls", "jpeg2000", "rle")],
};

const QUERY: Fields = {
  case_insensitive_pn: ["caseInsensitivePn", bool],
  max_results: ["maxResults", int(0)],
};

const HTTP_USER: Fields = {
  name: ["name", str()],
  password_hash: ["passwordHash", str()],
};

const HTTP: Fields = {
  enabled: ["enabled", bool],
  bind: ["bind", str()],
  port: ["port", int(0, 65535)],
  users: ["users", (v) => v], // checked by tableArray() below
  metrics_public: ["metricsPublic", bool],
  allow_anonymous_remote: ["allowAnonymousRemote", bool],
};

const LOG: Fields = {
  level: ["level", oneOf("error", "warn", "info", "debug")],
  format: ["format", oneOf("text", "json")],
};

const KNOWN_AE: Fields = {
  ae_title: ["aeTitle", aeTitle],
  host: ["host", str()],
  port: ["port", int(1, 65535)],
  max_associations: ["maxAssociations", int(1, 64)],
  max_incoming: ["maxIncoming", int(1, 1000)],
  move_destinations: ["moveDestinations", aeTitles],
};

const FORWARD: Fields = {
  retry_max_s: ["retryMaxS", int(1, 86400)],
  give_up_after_h: ["giveUpAfterH", num(0)],
};

// Modality (0008,0060) is CS: upper case, digits, space, underscore; 16 characters at most.
const modalities: Check = (v) => {
  if (!Array.isArray(v)) throw new Invalid(`must be a list of modalities, got ${show(v)}`);
  return v.map((m, i) => {
    if (typeof m !== "string" || !/^[A-Z0-9 _]{1,16}$/.test(m.trim())) {
      throw new Invalid(`entry ${i} must be a modality such as "CT", got ${show(m)}`);
    }
    return m.trim();
  });
};

const uidList: Check = (v) => {
  if (!Array.isArray(v)) throw new Invalid(`must be a list of SOP Class UIDs, got ${show(v)}`);
  return v.map((u, i) => {
    try {
      return uid(u);
    } catch (e) {
      throw new Invalid(`entry ${i} ${(e as Error).message}`);
    }
  });
};

const ROUTE: Fields = {
  destination: ["destination", aeTitle],
  calling_ae: ["callingAe", aeTitles],
  modality: ["modality", modalities],
  sop_classes: ["sopClasses", uidList],
};

const SECTIONS: Record<string, [keyof Config, Fields]> = {
  server: ["server", SERVER],
  storage: ["storage", STORAGE],
  query: ["query", QUERY],
  http: ["http", HTTP],
  log: ["log", LOG],
  forward: ["forward", FORWARD],
};

// ---- parsing ----

type Table = Record<string, unknown>;

const isTable = (v: unknown): v is Table =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Parses config text; throws ConfigError naming `file`, the line and the key. */
export function parseConfig(text: string, file: string): Config {
  let doc: Table;
  try {
    doc = parse(text, { integersAsBigInt: true });
  } catch (e) {
    if (e instanceof TomlError) {
      const reason = e.message.split("\n")[0].replace(/^Invalid TOML document:\s*/, "");
      throw new ConfigError(file, "", `TOML syntax error: ${reason}`, e.line, e.column);
    }
    throw e;
  }
  const fail = (key: string, detail: string): never => {
    throw new ConfigError(file, key, detail, lineOf(text, key));
  };

  // Reads `table` against `fields`; absent keys take `defaults`, or are refused if required.
  const section = (
    table: unknown,
    path: string,
    fields: Fields,
    defaults: Table,
    required: string[] = [],
  ): Table => {
    if (!isTable(table)) return fail(path, `must be a table, got ${show(table)}`);
    for (const key of Object.keys(table)) {
      if (!(key in fields)) {
        fail(`${path}.${key}`, `unknown key; known keys: ${Object.keys(fields).join(", ")}`);
      }
    }
    const out: Table = {};
    for (const [key, [field, check]] of Object.entries(fields)) {
      const value = table[key];
      if (value === undefined) {
        if (required.includes(key)) fail(`${path}.${key}`, "is required");
        // An optional key without a default stays absent.
        if (defaults[field] !== undefined) out[field] = structuredClone(defaults[field]);
        continue;
      }
      try {
        out[field] = check(value);
      } catch (e) {
        if (!(e instanceof Invalid)) throw e;
        fail(`${path}.${key}`, e.message);
      }
    }
    return out;
  };

  // An array of tables ([[name]]) whose `unique` field must differ between entries (trimmed).
  const tableArray = (
    value: unknown,
    path: string,
    fields: Fields,
    defaults: Table,
    unique: string,
  ): Table[] => {
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      return fail(path, `must be an array of tables ([[${path}]]), got ${show(value)}`);
    }
    const seen = new Map<string, number>();
    return value.map((entry, i) => {
      const out = section(
        entry,
        `${path}[${i}]`,
        fields,
        defaults,
        Object.keys(fields)
          .filter((k) => !(fields[k][0] in defaults)),
      );
      const id = String(out[fields[unique][0]]).trim();
      const first = seen.get(id);
      if (first !== undefined) {
        fail(
          `${path}[${i}].${unique}`,
          `duplicate ${JSON.stringify(id)}, also in ${path}[${first}]`,
        );
      }
      seen.set(id, i);
      return out;
    });
  };

  // [[route]]: entries may repeat a destination (several filters to one archive).
  const routeArray = (value: unknown): Route[] => {
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      return fail("route", `must be an array of tables ([[route]]), got ${show(value)}`);
    }
    return value.map((entry, i) => {
      const out = section(entry, `route[${i}]`, ROUTE, {}, ["destination"]) as unknown as Route;
      if (out.sopClasses?.length === 0) delete out.sopClasses;
      return out;
    });
  };

  const config: Table = {};
  for (const name of Object.keys(doc)) {
    if (!(name in SECTIONS) && name !== "known_ae" && name !== "route") {
      const what = isTable(doc[name]) || Array.isArray(doc[name])
        ? "unknown section"
        : "unknown key outside any [section]";
      const known = [...Object.keys(SECTIONS), "known_ae", "route"].join(", ");
      fail(name, `${what}; known sections: ${known}`);
    }
  }
  for (const [name, [field, fields]] of Object.entries(SECTIONS)) {
    const defaults = DEFAULT_CONFIG[field] as unknown as Table;
    config[field] = section(doc[name] ?? {}, name, fields, defaults);
  }
  const http = config.http as Table;
  const users = isTable(doc.http) ? doc.http.users : undefined;
  http.users = tableArray(users, "http.users", HTTP_USER, {}, "name");
  const knownAe = tableArray(
    doc.known_ae,
    "known_ae",
    KNOWN_AE,
    { maxAssociations: 2, maxIncoming: undefined, moveDestinations: undefined },
    "ae_title",
  ) as unknown as KnownAe[];
  // A Move Destination must be a known AE: a misspelt one would refuse every move to it.
  const titles = new Set(knownAe.map((k) => k.aeTitle));
  knownAe.forEach((k, i) => {
    const stranger = (k.moveDestinations ?? []).findIndex((t) => !titles.has(t));
    if (stranger >= 0) {
      fail(
        `known_ae[${i}].move_destinations`,
        `entry ${stranger} ${JSON.stringify(k.moveDestinations![stranger])} is not the ` +
          `ae_title of a [[known_ae]]`,
      );
    }
  });
  config.knownAe = knownAe;
  const routes = routeArray(doc.route);
  routes.forEach((r, i) => {
    if (!titles.has(r.destination)) {
      fail(
        `route[${i}].destination`,
        `${JSON.stringify(r.destination)} is not the ae_title of a [[known_ae]]`,
      );
    }
  });
  config.routes = routes;
  return config as unknown as Config;
}

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

export interface Overrides {
  port?: number;
  aeTitle?: string;
  storage?: string;
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
  return out;
}

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

// ---- where a key is written: best effort, for error messages ----

/** The 1-based line where `key` (e.g. `known_ae[1].port`) or its nearest parent is written. */
function lineOf(text: string, key: string): number | undefined {
  const lines = new Map<string, number>();
  const arrays = new Map<string, number>();
  const norm = (k: string) =>
    k.split(".").map((p) => p.trim().replace(/^["']|["']$/g, "")).join(".");
  let prefix = "";
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    let path: string | undefined;
    let m: RegExpExecArray | null;
    if ((m = /^\[\[([^\]]+)\]\]/.exec(line))) {
      const name = norm(m[1]);
      const n = arrays.get(name) ?? 0;
      arrays.set(name, n + 1);
      path = prefix = `${name}[${n}]`;
    } else if ((m = /^\[([^\]]+)\]/.exec(line))) {
      path = prefix = norm(m[1]);
    } else if ((m = /^([\w."' -]+?)\s*=/.exec(line))) {
      path = prefix ? `${prefix}.${norm(m[1])}` : norm(m[1]);
    }
    if (path !== undefined && !lines.has(path)) lines.set(path, i + 1);
  });
  // Drop the last segment (`.name` or `[n]`) until a written key is found.
  for (let k = key, prev = ""; k !== "" && k !== prev; prev = k, k = parentKey(k)) {
    const line = lines.get(k);
    if (line !== undefined) return line;
  }
  return undefined;
}

function parentKey(key: string): string {
  return key.replace(/(\.[^.[\]]*|\[\d+\])$|^[^.[\]]*$/, "");
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
