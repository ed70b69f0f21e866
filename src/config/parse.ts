// config.toml text -> typed Config, checked against the schema. Every refusal is a
// ConfigError whose one-line message names the file, the line and the key.
import { parse, TomlError } from "smol-toml";
import { Invalid, show } from "./checks.ts";
import { DEFAULT_CONFIG } from "./defaults.ts";
import { ConfigError } from "./error.ts";
import { type Fields, HTTP_USER, KNOWN_AE, ROUTE, SECTIONS } from "./schema.ts";
import { nearest, unknownKey } from "./suggest.ts";
import type { Config, HttpConfig, KnownAe, Route, ServerConfig, TlsConfig } from "./types.ts";

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
