// What a configuration reload (SIGHUP) may change while running: the [[known_ae]] list,
// log.level, the [[route]] list and [forward] (for objects stored from then on), and the DICOM
// TLS certificate files. Every other changed key takes effect only after a restart.
import type { Config } from "../config.ts";
import type { AuditTrail } from "../core/audit.ts";
import type { Logger } from "../core/ports.ts";
import { reloadRecord } from "./audit.ts";

/** Keys applied by a reload, as written in config.toml. */
export const RELOADABLE = [
  "known_ae",
  "log.level",
  // The files are re-read on every reload; new names apply as well.
  "tls.certificate",
  "tls.private_key",
  "tls.ca_certificates",
  "route",
  "forward.retry_max_s",
  "forward.give_up_after_h",
] as const;

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The config.toml keys whose values differ between `before` and `after`, in file order. */
export function changedKeys(before: Config, after: Config): string[] {
  const changed: string[] = [];
  for (const section of Object.keys(after) as (keyof Config)[]) {
    if (section === "knownAe") {
      if (JSON.stringify(before.knownAe) !== JSON.stringify(after.knownAe)) {
        changed.push("known_ae");
      }
      continue;
    }
    if (section === "routes") {
      if (JSON.stringify(before.routes ?? []) !== JSON.stringify(after.routes)) {
        changed.push("route");
      }
      continue;
    }
    const a = (before[section] ?? {}) as unknown as Record<string, unknown>;
    const b = after[section] as unknown as Record<string, unknown>;
    for (const key of Object.keys(b)) {
      if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) {
        changed.push(`${section}.${snake(key)}`);
      }
    }
  }
  return changed;
}

/** Splits changed keys into those a reload applies and those needing a restart. */
export function planReload(before: Config, after: Config): {
  apply: string[];
  needsRestart: string[];
} {
  const keys = changedKeys(before, after);
  const reloadable = new Set<string>(RELOADABLE);
  return {
    apply: keys.filter((k) => reloadable.has(k)),
    needsRestart: keys.filter((k) => !reloadable.has(k)),
  };
}

/** What applying a reload touches in the running server. */
export interface ReloadTargets {
  /** The configuration as of the latest reload, and its replacement. */
  current(): Config;
  replace(next: Config): void;
  /** New [[known_ae]] limits and permissions for new associations. */
  knownAe(next: Config["knownAe"]): void;
  /** DICOM over TLS, to re-read its certificate files; null when off. */
  tls: { reload(next: Config): Promise<boolean> } | null;
  logger: Logger & { setLevel?(level: Config["log"]["level"]): void };
  audit: AuditTrail | null;
}

/** Applies what `next` changes that a reload can; logs and audits what needs a restart. */
export function applyReload(
  t: ReloadTargets,
  next: Config,
): { applied: string[]; needsRestart: string[] } {
  const { logger } = t;
  const { apply, needsRestart } = planReload(t.current(), next);
  const applied: string[] = [];
  if (apply.includes("known_ae")) {
    // New limits apply to new associations; open ones are never dropped.
    t.knownAe(next.knownAe);
    t.replace({ ...t.current(), knownAe: next.knownAe });
    applied.push("known_ae");
  }
  // New certificate file names: re-read below like the files themselves.
  const tlsFiles = apply.filter((k) => k.startsWith("tls."));
  if (tlsFiles.length && t.tls) {
    t.replace({ ...t.current(), tls: next.tls });
    applied.push(...tlsFiles);
  }
  const forward = apply.filter((k) => k === "route" || k.startsWith("forward."));
  if (forward.length) {
    // New objects are routed by the new rules; what is queued stays queued.
    t.replace({ ...t.current(), routes: next.routes, forward: next.forward });
    applied.push(...forward);
  }
  const level = apply.includes("log.level") && logger.setLevel ? next.log.level : undefined;
  if (level) applied.push("log.level");
  // Said at whichever of the old and new levels shows info lines.
  const report = () =>
    logger.log("info", "configuration reloaded", {
      applied: applied.length ? applied.join(",") : "nothing changed",
    });
  const before = t.current().log.level;
  const infoBefore = before === "info" || before === "debug";
  if (infoBefore) report();
  if (level) {
    logger.setLevel!(level);
    t.replace({ ...t.current(), log: { ...t.current().log, level } });
  }
  if (!infoBefore) report();
  if (needsRestart.length) {
    logger.log("warn", `needs a restart: ${needsRestart.join(", ")}`);
  }
  t.audit?.record(reloadRecord(applied, needsRestart));
  // Certificate files may have been replaced under the same names: always re-read them.
  if (t.tls && next.tls.enabled) void t.tls.reload(next);
  return { applied, needsRestart };
}
