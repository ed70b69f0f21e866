// A [[known_ae]] entry for in-process tests: only what a test changes is given.
import type { KnownAe } from "../../src/config.ts";

export function knownAe(aeTitle: string, more: Partial<KnownAe> = {}): KnownAe {
  return { aeTitle, host: "127.0.0.1", port: 104, maxAssociations: 2, ...more };
}
