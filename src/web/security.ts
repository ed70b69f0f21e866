// The web server shows patient data: who may bind where, HTTP Basic auth against
// `[[http.users]]`, and the checks that stop other web sites from using a logged-in browser
// (same-origin POSTs, Host names, no framing).
import type { Context, MiddlewareHandler } from "hono";
import { ConfigError, type HttpConfig } from "../config.ts";
import { verifyPassword } from "./password.ts";

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h) ||
    /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}

/**
 * Refuses a web server that anyone on the network could read without a password: a
 * non-loopback `http.bind` needs `[[http.users]]` or an explicit `allow_anonymous_remote`.
 */
export function checkHttpExposure(http: HttpConfig, file = "configuration"): void {
  if (!http.enabled || isLoopback(http.bind) || http.users.length > 0) return;
  if (http.allowAnonymousRemote) return;
  throw new ConfigError(
    file,
    "http.bind",
    `${JSON.stringify(http.bind)} is reachable from the network and no [[http.users]] are ` +
      "set: add users (minipacs hash-password) or set http.allow_anonymous_remote = true",
  );
}

const REALM = 'Basic realm="MiniPACS", charset="UTF-8"';
/** Successful logins are remembered this long: PBKDF2 is slow by design. */
const CACHE_MS = 10 * 60_000;
const CACHE_MAX = 256;
/** Password checks running at once; more get 429 instead of queueing CPU work. */
const MAX_VERIFYING = 4;

export interface AuthOptions {
  /** The current users (re-read on every request: a reload may change them). */
  users(): HttpConfig["users"];
  /** Paths served without a password. */
  isPublic(path: string): boolean;
  /** Told of each wrong name or password (audit trail); `from` is the client address. */
  onFailure?(name: string, from: string): void;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function decodeBasic(header: string | undefined): { name: string; password: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  if (!m) return null;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)),
    );
  } catch {
    return null;
  }
  const colon = text.indexOf(":");
  return colon < 0 ? null : { name: text.slice(0, colon), password: text.slice(colon + 1) };
}

export type Role = "viewer" | "admin";

/** Who made a request, once basicAuth let it through. */
const requesters = new WeakMap<Request, { name: string; role: Role }>();

/**
 * The role of the request's user: "admin" while no users are configured (the page is then on
 * loopback only), else the logged-in user's, and "viewer" for a public path.
 */
export function roleOf(c: Context, users: readonly unknown[]): Role {
  if (users.length === 0) return "admin";
  return requesters.get(c.req.raw)?.role ?? "viewer";
}

/** The logged-in user's name, for the log and the recent events; "web" without users. */
export function userOf(c: Context): string {
  return requesters.get(c.req.raw)?.name ?? "web";
}

/**
 * Viewers see, search and download; the rest (every request that changes something, the
 * peers and configuration pages, the send and delete pages) needs the admin role: 403.
 */
export function adminOnly(
  users: () => readonly unknown[],
  isAdminPath: (method: string, path: string) => boolean,
): MiddlewareHandler {
  return async (c, next) => {
    if (isAdminPath(c.req.method, c.req.path) && roleOf(c, users()) !== "admin") {
      return c.text("this needs the admin role\n", 403);
    }
    return await next();
  };
}

/** The user a request logged in as (HTTP Basic); undefined when nobody logs in. */
export function httpUserOf(request: Request): string | undefined {
  return requesters.get(request)?.name;
}

/** HTTP Basic auth; a no-op while no users are configured. */
export function basicAuth(options: AuthOptions): MiddlewareHandler {
  // sha256(Authorization header) -> the hash it was verified against, and until when.
  const cache = new Map<string, { name: string; hash: string; until: number }>();
  let verifying = 0;
  return async (c, next) => {
    const users = options.users();
    if (users.length === 0 || options.isPublic(c.req.path)) return await next();
    const deny = () => {
      c.header("WWW-Authenticate", REALM);
      return c.text("authentication required\n", 401);
    };
    const header = c.req.header("Authorization");
    const credentials = decodeBasic(header);
    if (!credentials) return deny();
    const key = await sha256Hex(header!);
    const user = users.find((u) => u.name === credentials.name);
    const hit = cache.get(key);
    if (hit && user && hit.hash === user.passwordHash && hit.until > Date.now()) {
      requesters.set(c.req.raw, { name: user.name, role: user.role ?? "admin" });
      return await next();
    }
    cache.delete(key);
    if (verifying >= MAX_VERIFYING) return c.text("too many login attempts at once\n", 429);
    verifying++;
    let ok: boolean;
    try {
      // An unknown name costs the same work as a wrong password.
      const hash = user?.passwordHash ?? users[0].passwordHash;
      ok = (await verifyPassword(credentials.password, hash)) && user !== undefined;
    } finally {
      verifying--;
    }
    if (!ok || !user) {
      const remote = (c.env as { remoteAddr?: { hostname?: string; port?: number } } | undefined)
        ?.remoteAddr;
      options.onFailure?.(
        credentials.name,
        remote?.hostname ? `${remote.hostname}:${remote.port}` : "unknown",
      );
      return deny();
    }
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(key, { name: user.name, hash: user.passwordHash, until: Date.now() + CACHE_MS });
    requesters.set(c.req.raw, { name: user.name, role: user.role ?? "admin" });
    return await next();
  };
}

/**
 * Refuses requests whose Host is not this server's own name when nobody logs in: a DNS
 * rebinding page could otherwise read the status of a loopback-only server.
 */
export function loopbackHostOnly(enabled: () => boolean): MiddlewareHandler {
  return async (c, next) => {
    if (enabled()) {
      const host = (c.req.header("Host") ?? "").replace(/:\d+$/, "");
      if (host !== "" && !isLoopback(host)) return c.text("unknown host name\n", 421);
    }
    return await next();
  };
}

function hostOf(origin: string): string | null {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return null; // "null" (sandboxed pages, file://) never matches
  }
}

/**
 * POSTs, DELETEs and every other state-changing method must come from our own pages (or from
 * a client that is not a browser), or from an origin `allowed` names for that path (DICOMweb
 * CORS origins).
 */
export function sameOriginPosts(
  allowed: (origin: string, path: string) => boolean = () => false,
): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== "GET" && c.req.method !== "HEAD" && c.req.method !== "OPTIONS") {
      const site = c.req.header("Sec-Fetch-Site");
      const origin = c.req.header("Origin");
      const host = c.req.header("Host") ?? new URL(c.req.url).host;
      // Compared by host: behind a TLS proxy the scheme seen here differs from the browser's.
      // A browser that says the request comes from this site (Sec-Fetch-Site, which pages
      // cannot set) may still send "Origin: null" (a form under a no-referrer policy).
      const sameOrigin = origin === undefined || hostOf(origin) === host.toLowerCase() ||
        (origin === "null" && site === "same-origin") || allowed(origin, c.req.path);
      if ((site !== undefined && site !== "same-origin" && site !== "none") || !sameOrigin) {
        return c.text("cross-site request refused\n", 403);
      }
    }
    return await next();
  };
}

/** Headers on every answer: no framing, no sniffing, nothing loaded from elsewhere. */
export function securityHeaders(
  /** A path's own Content-Security-Policy (the viewer runs scripts), or undefined. */
  policyFor: (path: string) => string | undefined = () => undefined,
): MiddlewareHandler {
  return async (c, next) => {
    await next();
    c.header(
      "Content-Security-Policy",
      policyFor(c.req.path) ??
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; " +
          "frame-ancestors 'none'; base-uri 'none'",
    );
    c.header("X-Content-Type-Options", "nosniff");
    c.header("X-Frame-Options", "DENY");
    // Our own pages learn where a request came from (forms then send their Origin); no other
    // site ever sees a URL of ours (they hold patient names in searches).
    c.header("Referrer-Policy", "same-origin");
    if (!c.res.headers.has("Cache-Control")) c.header("Cache-Control", "no-store");
  };
}
