// What a configuration reload (SIGHUP) may change while running: the [[known_ae]] list,
// log.level, the [[route]] list and [forward] (for objects stored from then on), and the DICOM
// TLS certificate files. Every other changed key takes effect only after a restart.
import type { Config } from "../config.ts";

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
