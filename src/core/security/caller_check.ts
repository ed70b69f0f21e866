// Whether a calling AE title may be used from this connection: a [[known_ae]] with tls_name
// only over TLS with a certificate of that name; one with hosts only from those addresses.
// An AE title alone is then not a key (PS3.15 B.9 peer authentication).
import type { TransportSecurity } from "../ports.ts";
import { addressInBlock, hostOf, parseAddressBlock } from "./address_match.ts";
import { certificateNames } from "./certificate_name.ts";

export interface CallerRule {
  aeTitle: string;
  /** The certificate name (CN or DNS SAN) this AE must present. */
  tlsName?: string;
  /** Addresses and CIDR blocks this AE may call from. */
  hosts?: readonly string[];
}

/** Why this caller is refused on this connection; null when it may go on. */
export function callerRefusal(
  rule: CallerRule | undefined,
  remote: string,
  security: TransportSecurity | undefined,
): string | null {
  if (!rule) return null;
  const title = JSON.stringify(rule.aeTitle);
  if (rule.tlsName !== undefined) {
    if (!security) return `calling AE title ${title} is accepted only over TLS`;
    if (!security.peer) return `calling AE title ${title} needs a client certificate`;
    if (!certificateNames(security.peer, rule.tlsName)) {
      return `calling AE title ${title} needs a certificate for ${
        JSON.stringify(rule.tlsName)
      }, got ${JSON.stringify(security.peer.subject)}`;
    }
  }
  if (rule.hosts && rule.hosts.length > 0) {
    const address = hostOf(remote);
    const ok = rule.hosts.some((h) => {
      const block = parseAddressBlock(h);
      return block !== null && addressInBlock(address, block);
    });
    if (!ok) return `calling AE title ${title} is not accepted from ${address}`;
  }
  return null;
}
