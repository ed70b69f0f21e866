// config.toml -> typed Config. One schema for every key: defaults, types, ranges. Every
// refusal is a ConfigError whose one-line message names the file, the line and the key.

import { parse, TomlError } from "smol-toml";
import type { LogLevel } from "./core/ports.ts";
import { parseAddressBlock } from "./core/security/address_match.ts";
import { SERVICES } from "./core/security/service_permissions.ts";

export interface ServerConfig {
  aeTitle: string;
  bind: string;
  port: number;
  maxAssociations: number;
  /** TCP connections that have not yet sent a whole A-ASSOCIATE-RQ; the oldest goes first. */
  maxPendingConnections: number;
  /** Offered to peers as our Maximum Length Received (PS3.8 D.1). */
  maxPduLength: number;
  /**
   * "store": any caller may echo and store, only [[known_ae]] titles find, move and get;
   * "any": any caller may do everything; "known": only [[known_ae]] titles may associate.
   */
  accept: "any" | "known" | "store";
  checkCalledAe: boolean;
  idleTimeoutS: number;
  artimTimeoutS: number;
  implementationClassUid: string;
  implementationVersionName: string;
  /** false: no unencrypted DICOM listener at all (only [tls]). */
  plain: boolean;
}

/** DICOM over TLS (PS3.15 B.9), beside the plain listener. Paths as written. */
export interface TlsConfig {
  enabled: boolean;
  port: number;
  /** PEM chain: ours, presented to callers and, as client certificate, to C-MOVE peers. */
  certificate: string;
  /** PEM private key of `certificate`. */
  privateKey: string;
  /** PEM bundle of the CAs trusted for peers' certificates. */
  caCertificates: string;
  requireClientCertificate: boolean;
}

/** The audit trail: one JSON line per security-relevant event. */
export interface AuditConfig {
  /** "" = off. */
  path: string;
  /** The file is rotated (renamed with .1) past this size. */
  maxMb: number;
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
  /** Retention keeps objects not yet committed at every commit = true route they matched. */
  retentionRequireCommit: boolean;
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
  /** "viewer": see, search, download; "admin" (default): also send, delete, peers, config. */
  role?: "viewer" | "admin";
}

export interface HttpConfig {
  enabled: boolean;
  bind: string;
  port: number;
  users: HttpUser[];
  metricsPublic: boolean;
  allowAnonymousRemote: boolean;
  /** With privateKey: the pages and API over HTTPS. "" = plain HTTP. */
  certificate: string;
  privateKey: string;
}

export interface DicomWebConfig {
  /** QIDO-RS, WADO-RS and STOW-RS on the [http] listener. */
  enabled: boolean;
  /** Where they are served, e.g. "/dicom-web". */
  path: string;
  /** Origins whose pages may call them (CORS); ["*"] for any. */
  corsOrigins: string[];
}

export interface ViewerConfig {
  /** A folder holding the OHIF viewer's built files, served at /viewer/; "" = none. */
  ohifPath: string;
}

export interface LogConfig {
  level: LogLevel;
  format: "text" | "json";
  /** Patient's Name and Patient ID in the per-object store lines (default false). */
  phi: boolean;
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
  /** C-MOVE to this AE over TLS, our certificate as client certificate; absent = false. */
  tls?: boolean;
  /** When set: this calling AE is accepted only over TLS with a certificate of this name. */
  tlsName?: string;
  /** The services this AE may use when it calls; absent: all. */
  allow?: string[];
  /** Addresses and CIDR blocks this AE title may call from; absent: any. */
  hosts?: string[];
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
  /** Ask the destination for Storage Commitment; the objects wait until it is reported. */
  commit?: boolean;
}

export interface ForwardConfig {
  /** Backoff cap between retries to a destination, seconds. */
  retryMaxS: number;
  /** An object still not delivered after this many hours goes to the failed list; 0 = never. */
  giveUpAfterH: number;
  /** A commitment report not come after this many seconds: the objects go again; 0 = never. */
  commitTimeoutS: number;
}

export interface Config {
  server: ServerConfig;
  storage: StorageConfig;
  query: QueryConfig;
  http: HttpConfig;
  dicomweb: DicomWebConfig;
  viewer: ViewerConfig;
  tls: TlsConfig;
  audit: AuditConfig;
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
    accept: "store",
    checkCalledAe: true,
    idleTimeoutS: 60,
    artimTimeoutS: 30,
    implementationClassUid: "1.2.276.0.7230010.3.0.3.6.4",
    implementationVersionName: "MINIPACS_2_0",
    plain: true,
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
    retentionRequireCommit: false,
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
    certificate: "",
    privateKey: "",
  },
  dicomweb: { enabled: true, path: "/dicom-web", corsOrigins: [] },
  viewer: { ohifPath: "" },
  tls: {
    enabled: false,
    port: 2762,
    certificate: "tls/server.crt",
    privateKey: "tls/server.key",
    caCertificates: "tls/ca.crt",
    requireClientCertificate: true,
  },
  audit: { path: "", maxMb: 100 },
  log: { level: "info", format: "text", phi: false },
  forward: { retryMaxS: 300, giveUpAfterH: 0, commitTimeoutS: 3600 },
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

/** A string, possibly empty (an optional path). */
const text: Check = (v) => {
  if (typeof v !== "string") throw new Invalid(`must be a string, got ${show(v)}`);
  return v;
};
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

const services: Check = (v) => {
  if (!Array.isArray(v)) {
    throw new Invalid(`must be a list of services (${SERVICES.join(", ")}), got ${show(v)}`);
  }
  return v.map((s, i) => {
    if (typeof s !== "string" || !(SERVICES as readonly string[]).includes(s)) {
      throw new Invalid(`entry ${i} must be one of ${SERVICES.join(", ")}, got ${show(s)}`);
    }
    return s;
  });
};

const addressBlocks: Check = (v) => {
  if (!Array.isArray(v) || v.length === 0) {
    throw new Invalid(`must be a non-empty list of addresses or CIDR blocks, got ${show(v)}`);
  }
  return v.map((a, i) => {
    if (typeof a !== "string" || parseAddressBlock(a) === null) {
      throw new Invalid(
        `entry ${i} must be an IP address or CIDR block ("10.0.0.21", "10.0.1.0/24"), got ${
          show(a)
        }`,
      );
    }
    return a.trim();
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
  accept: ["accept", oneOf("store", "any", "known")],
  check_called_ae: ["checkCalledAe", bool],
  idle_timeout_s: ["idleTimeoutS", int(1, 86400)],
  artim_timeout_s: ["artimTimeoutS", int(1, 3600)],
  implementation_class_uid: ["implementationClassUid", uid],
  implementation_version_name: ["implementationVersionName", shortText("a name")],
  plain: ["plain", bool],
};

const TLS: Fields = {
  enabled: ["enabled", bool],
  port: ["port", int(0, 65535)],
  certificate: ["certificate", str("a file name")],
  private_key: ["privateKey", str("a file name")],
  ca_certificates: ["caCertificates", str("a file name")],
  require_client_certificate: ["requireClientCertificate", bool],
};

const AUDIT: Fields = {
  path: ["path", text],
  max_mb: ["maxMb", int(1, 1_000_000)],
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
  retention_require_commit: ["retentionRequireCommit", bool],
  compression: ["compression", oneOf("none", "jpeg-ls", "jpeg2000", "rle")],
};

const QUERY: Fields = {
  case_insensitive_pn: ["caseInsensitivePn", bool],
  max_results: ["maxResults", int(0)],
};

const HTTP_USER: Fields = {
  name: ["name", str()],
  password_hash: ["passwordHash", str()],
  role: ["role", oneOf("viewer", "admin")],
};

const HTTP: Fields = {
  enabled: ["enabled", bool],
  bind: ["bind", str()],
  port: ["port", int(0, 65535)],
  users: ["users", (v) => v], // checked by tableArray() below
  metrics_public: ["metricsPublic", bool],
  allow_anonymous_remote: ["allowAnonymousRemote", bool],
  certificate: ["certificate", text],
  private_key: ["privateKey", text],
};

// A URL path under the web server's root: "/name" with letters, digits, "-", "_", ".", "/".
const urlPath: Check = (v) => {
  if (typeof v !== "string" || !/^(\/[A-Za-z0-9._~-]+)+$/.test(v) || /(^|\/)\.\.?(\/|$)/.test(v)) {
    throw new Invalid(`must be a path like "/dicom-web", got ${show(v)}`);
  }
  return v;
};

// Web origins ("https://viewer.example:8443") or "*".
const origins: Check = (v) => {
  if (!Array.isArray(v)) throw new Invalid(`must be a list of origins, got ${show(v)}`);
  return v.map((o, i) => {
    if (o === "*") return o;
    if (typeof o !== "string" || !/^https?:\/\/[A-Za-z0-9.[\]:-]+$/.test(o)) {
      throw new Invalid(
        `entry ${i} must be "*" or an origin like "https://viewer.example", got ${show(o)}`,
      );
    }
    return o.toLowerCase();
  });
};

const DICOMWEB: Fields = {
  enabled: ["enabled", bool],
  path: ["path", urlPath],
  cors_origins: ["corsOrigins", origins],
};

const VIEWER: Fields = {
  ohif_path: ["ohifPath", (v) => {
    if (typeof v !== "string") throw new Invalid(`must be a folder path or "", got ${show(v)}`);
    return v;
  }],
};

const LOG: Fields = {
  level: ["level", oneOf("error", "warn", "info", "debug")],
  format: ["format", oneOf("text", "json")],
  phi: ["phi", bool],
};

const KNOWN_AE: Fields = {
  ae_title: ["aeTitle", aeTitle],
  host: ["host", str()],
  port: ["port", int(1, 65535)],
  max_associations: ["maxAssociations", int(1, 64)],
  max_incoming: ["maxIncoming", int(1, 1000)],
  move_destinations: ["moveDestinations", aeTitles],
  tls: ["tls", bool],
  tls_name: ["tlsName", str("a certificate name")],
  allow: ["allow", services],
  hosts: ["hosts", addressBlocks],
};

const FORWARD: Fields = {
  retry_max_s: ["retryMaxS", int(1, 86400)],
  give_up_after_h: ["giveUpAfterH", num(0)],
  commit_timeout_s: ["commitTimeoutS", int(0)],
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
  commit: ["commit", bool],
};

const SECTIONS: Record<string, [keyof Config, Fields]> = {
  server: ["server", SERVER],
  storage: ["storage", STORAGE],
  query: ["query", QUERY],
  http: ["http", HTTP],
  dicomweb: ["dicomweb", DICOMWEB],
  viewer: ["viewer", VIEWER],
  tls: ["tls", TLS],
  audit: ["audit", AUDIT],
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
        fail(`${path}.${key}`, unknownKey(key, Object.keys(fields)));
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
      const known = [...Object.keys(SECTIONS), "known_ae", "route"];
      const guess = nearest(name, known);
      fail(
        name,
        `${what}${guess ? `; did you mean ${guess}?` : ""} (known sections: ${known.join(", ")})`,
      );
    }
  }
  for (const [name, [field, fields]] of Object.entries(SECTIONS)) {
    const defaults = DEFAULT_CONFIG[field] as unknown as Table;
    config[field] = section(doc[name] ?? {}, name, fields, defaults);
  }
  const http = config.http as Table;
  const users = isTable(doc.http) ? doc.http.users : undefined;
  http.users = tableArray(users, "http.users", HTTP_USER, { role: "admin" }, "name");
  const knownAe = tableArray(
    doc.known_ae,
    "known_ae",
    KNOWN_AE,
    {
      maxAssociations: 2,
      maxIncoming: undefined,
      moveDestinations: undefined,
      tls: undefined,
      tlsName: undefined,
      allow: undefined,
      hosts: undefined,
    },
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
  const server = config.server as unknown as ServerConfig;
  const tls = config.tls as unknown as TlsConfig;
  const web = config.http as unknown as HttpConfig;
  if (!server.plain && !tls.enabled) {
    fail("server.plain", "is false and [tls] enabled is false: there would be no DICOM listener");
  }
  if (tls.enabled && server.plain && tls.port !== 0 && tls.port === server.port) {
    fail("tls.port", `must differ from server.port (${server.port})`);
  }
  knownAe.forEach((k, i) => {
    if (k.tls && !tls.enabled) {
      fail(`known_ae[${i}].tls`, "is true but [tls] enabled is false (its certificate is ours)");
    }
  });
  if ((web.certificate === "") !== (web.privateKey === "")) {
    const missing = web.certificate === "" ? "certificate" : "private_key";
    fail(`http.${missing}`, "is required with the other (both set: HTTPS; both empty: HTTP)");
  }
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
  httpPort?: number;
  httpBind?: string;
}

/** Edit distance (insert, delete, replace, swap of neighbours), for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** The known name closest to `name`, if close enough to be a typo (or a plural, a dash...). */
export function nearest(name: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replaceAll("-", "_");
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(norm(name), norm(k));
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function unknownKey(key: string, known: readonly string[]): string {
  const guess = nearest(key, known);
  return `unknown key${guess ? `; did you mean ${guess}?` : ""} (known keys: ${known.join(", ")})`;
}

/**
 * What is allowed but probably not meant: start-up logs each as a warning and check-config
 * prints them.
 */
export function configWarnings(config: Config): string[] {
  const out: string[] = [];
  const st = config.storage;
  if (st.retentionMinFreeMb > 0 && st.retentionMinFreeMb <= st.minFreeMb) {
    out.push(
      `storage.retention_min_free_mb (${st.retentionMinFreeMb}) is not above storage.min_free_mb ` +
        `(${st.minFreeMb}): studies are deleted for space only once stores are already refused`,
    );
  }
  if (st.durability === "none") {
    out.push(
      'storage.durability = "none": stores are answered before they are on disk; a power cut ' +
        "loses the most recent images",
    );
  }
  if (config.http.enabled && config.http.port !== 0 && config.http.port === config.server.port) {
    out.push(`http.port and server.port are both ${config.http.port}: one of them cannot listen`);
  }
  if (config.server.accept === "known" && config.knownAe.length === 0) {
    out.push('server.accept = "known" and no [[known_ae]]: every association is rejected');
  }
  return out;
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
