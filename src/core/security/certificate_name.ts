// Who a peer's certificate names: its subject CN and its DNS subjectAltNames. A [[known_ae]]
// tls_name is matched against these (DNS names compare without regard to case, RFC 4343).

/** A peer certificate's identity, as the TLS adapter reads it. */
export interface CertificateIdentity {
  /** Subject Common Name; "" when the subject has none. */
  commonName: string;
  /** dNSName entries of subjectAltName. */
  dnsNames: string[];
}

/**
 * Reads the dNSName entries of a subjectAltName in the text form OpenSSL and node:tls print
 * ("DNS:a.example, IP Address:10.0.0.1, DNS:b.example").
 */
export function dnsNamesOf(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName.split(/,\s*/).flatMap((entry) => {
    const m = /^DNS:(.+)$/.exec(entry.trim());
    return m ? [m[1].trim()] : [];
  });
}

/** True when `name` equals the certificate's CN or one of its DNS names (case-insensitive). */
export function certificateNames(identity: CertificateIdentity, name: string): boolean {
  const want = name.trim().toLowerCase();
  if (want === "") return false;
  return [identity.commonName, ...identity.dnsNames].some((n) => n.trim().toLowerCase() === want);
}
