// Who may use which service: the accept policy for callers that are not [[known_ae]] and a
// known AE's `allow` list. A service refused is refused at negotiation, context by context
// (PS3.8 9.3.3.2: presentation context result 1, user rejection), never half-way through.

/** Service names as `[[known_ae]] allow` writes them. */
export const SERVICES = ["echo", "store", "find", "move", "get", "commit"] as const;
export type ServiceName = typeof SERVICES[number];

/** `[server] accept`: "any" caller may do everything, only "known" ones may associate, or
 * any may echo and "store" but only known AEs find, move and get. */
export type AcceptPolicy = "any" | "known" | "store";

/** The `allow` name of a DIMSE service (service names are the services' own). */
export function permissionOf(service: string): string {
  return service === "commitment" ? "commit" : service;
}

/** What an unknown caller may use under accept = "store". */
const ANYONE: readonly ServiceName[] = ["echo", "store"];

/**
 * The services this caller may use; null when it may use every one.
 * `allow` is the caller's [[known_ae]] allow list (absent: all), `known` whether it is one.
 */
export function permittedServices(
  accept: AcceptPolicy,
  known: boolean,
  allow: readonly string[] | undefined,
): ReadonlySet<string> | null {
  if (known) return allow ? new Set(allow) : null;
  return accept === "store" ? new Set(ANYONE) : null;
}
