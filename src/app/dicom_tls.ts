// The DICOM-over-TLS listener of a running server: certificates checked at start (a bad one
// stops the start with the key and the reason) and re-read on reload (a bad one keeps the
// old ones; open associations are never touched).
import { type Config, ConfigError } from "../config.ts";
import type { Connection, Connector, Logger } from "../core/ports.ts";
import { listenNativeTls } from "../net/native_tls.ts";
import { warmUpNativeTls, warmUpNodeTls } from "../net/tls_warm_up.ts";
import {
  listenTls,
  loadTlsMaterial,
  tlsConnector,
  TlsFileError,
  type TlsListener,
  type TlsMaterial,
} from "../net/tls.ts";

const TLS_KEYS = {
  certificate: "tls.certificate",
  privateKey: "tls.private_key",
  caCertificates: "tls.ca_certificates",
};

/** Reads [tls]'s files; a problem is a ConfigError naming the key (exit 2 at start). */
export async function loadDicomTlsMaterial(config: Config): Promise<TlsMaterial> {
  const t = config.tls;
  try {
    return await loadTlsMaterial({
      certificate: t.certificate,
      privateKey: t.privateKey,
      caCertificates: t.caCertificates,
    }, TLS_KEYS);
  } catch (e) {
    if (e instanceof TlsFileError) throw new ConfigError("configuration", e.key, e.reason);
    throw e;
  }
}

/** Reads [http] certificate and private_key for HTTPS; null when both are empty. */
export async function loadHttpTlsMaterial(config: Config): Promise<TlsMaterial | null> {
  const h = config.http;
  if (!h.certificate || !h.privateKey) return null;
  try {
    return await loadTlsMaterial(
      { certificate: h.certificate, privateKey: h.privateKey },
      { certificate: "http.certificate", privateKey: "http.private_key", caCertificates: "" },
    );
  } catch (e) {
    if (e instanceof TlsFileError) throw new ConfigError("configuration", e.key, e.reason);
    throw e;
  }
}

/**
 * Whether any certificate of a caller is looked at: then node:tls serves, the one that can ask
 * for it; else Deno's own TLS, which cannot but costs a third of the CPU (src/net/native_tls.ts).
 * Taken at start: a reload that adds a tls_name needs a restart to ask for certificates.
 */
export function asksClientCertificate(config: Config): boolean {
  return config.tls.requireClientCertificate || config.knownAe.some((k) => !!k.tlsName);
}

/**
 * Pays the first TLS handshake's one-time set-up (src/net/tls_warm_up.ts) at start rather than
 * in the first peer's association: for the listener `startDicomTls` will open, and for C-MOVE
 * over TLS (node:tls) when an AE is reached that way. Called before any listener opens, so
 * that a peer that finds the plain port answering finds the TLS one ready too.
 */
export async function warmUpDicomTls(config: Config, material: TlsMaterial): Promise<void> {
  const asks = asksClientCertificate(config);
  await Promise.all([
    asks || config.knownAe.some((k) => k.tls) ? warmUpNodeTls(material) : undefined,
    asks ? undefined : warmUpNativeTls(material),
  ]);
}

export interface DicomTls {
  listener: TlsListener;
  /** Outgoing TLS (C-MOVE): presents our certificate, verifies against our CAs (current). */
  connector(): Connector;
  /**
   * Re-reads the files named by `next` (even when unchanged: they may have been replaced).
   * Resolves true when new connections now use them; false (logged) when the old are kept.
   */
  reload(next: Config): Promise<boolean>;
}

export async function startDicomTls(
  config: Config,
  material: TlsMaterial,
  logger: Logger,
  onConnection: (c: Connection) => void,
  onRefused?: (peer: string, reason: string, subject?: string) => void,
): Promise<DicomTls> {
  const t = config.tls;
  let current = material;
  let connector = tlsConnector(material);
  let listener: TlsListener;
  const asks = asksClientCertificate(config);
  try {
    listener = await (asks ? listenTls : listenNativeTls)({
      hostname: config.server.bind,
      port: t.port,
      material,
      requireClientCertificate: t.requireClientCertificate,
      handshakeTimeoutMs: config.server.artimTimeoutS * 1000,
      logger,
      onRefused,
    }, onConnection);
  } catch (e) {
    throw new Error(
      `cannot listen for DICOM over TLS on ${config.server.bind}:${t.port}: ${
        (e as Error).message
      }`,
    );
  }
  logger.log("info", "DICOM over TLS listening", {
    bind: config.server.bind,
    port: listener.port,
    certificate: material.subject,
    expires: material.notAfter?.toISOString(),
    client_certificate: t.requireClientCertificate ? "required" : asks ? "optional" : "not asked",
  });
  return {
    listener,
    connector: () => connector,
    async reload(next: Config): Promise<boolean> {
      if (!asks && asksClientCertificate(next)) {
        // Fails closed meanwhile: a tls_name AE without a certificate is refused.
        logger.log("warn", "a tls_name needs client certificates: restart to ask for them");
      }
      let fresh: TlsMaterial;
      try {
        fresh = await loadDicomTlsMaterial(next);
      } catch (e) {
        logger.log("error", "TLS certificates not reloaded, the running ones are kept", {
          error: (e as Error).message.replace(/^configuration: /, ""),
        });
        return false;
      }
      const same = fresh.certificate === current.certificate &&
        fresh.privateKey === current.privateKey && fresh.caCertificates === current.caCertificates;
      if (same) return false;
      await listener.setMaterial(fresh);
      current = fresh;
      connector = tlsConnector(fresh);
      logger.log("info", "TLS certificates reloaded", {
        certificate: fresh.subject,
        expires: fresh.notAfter?.toISOString(),
      });
      return true;
    },
  };
}
