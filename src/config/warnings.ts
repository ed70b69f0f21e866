// Settings that are allowed but probably not meant.
import type { Config } from "./types.ts";

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
