// Start step "listeners": the plain DICOM port and, with [tls] enabled, DICOM over TLS. A
// listener that cannot start closes the one started before it.
import type { Config } from "../config.ts";
import type { Connection, Logger } from "../core/ports.ts";
import type { TlsMaterial } from "../net/tls.ts";
import { listenError, listenTcp, type TcpListener } from "../net/tcp.ts";
import type { AuditLog } from "../storage/audit_log.ts";
import { tlsRefusalRecord } from "./audit.ts";
import { type DicomTls, startDicomTls, warmUpDicomTls } from "./dicom_tls.ts";

export interface DicomListeners {
  /** The plain DICOM port; the TLS one when `[server] plain = false`. */
  dicomPort: number;
  /** Outgoing and incoming DICOM over TLS; null when `[tls]` is off. */
  secure: DicomTls | null;
  /** Stops accepting; resolves once both listeners are closed. */
  close(): Promise<void>;
}

export async function startDicomListeners(
  config: Config,
  tlsMaterial: TlsMaterial | null,
  onConnection: (conn: Connection) => void,
  logger: Logger,
  audit: AuditLog | null,
): Promise<DicomListeners> {
  const s = config.server;
  let plain: TcpListener | null = null;
  let secure: DicomTls | null = null;
  const close = async () => {
    plain?.close();
    secure?.listener.close();
    await Promise.all([plain?.done, secure?.listener.done]);
  };
  if (tlsMaterial) await warmUpDicomTls(config, tlsMaterial);
  try {
    if (s.plain) plain = listenTcp(s.bind, s.port, onConnection);
    if (tlsMaterial) {
      secure = await startDicomTls(
        config,
        tlsMaterial,
        logger,
        onConnection,
        (peer, reason, subject) => audit?.record(tlsRefusalRecord(peer, reason, subject)),
      );
    }
  } catch (e) {
    await close();
    // Which listener failed: the plain one is started first.
    const port = s.plain && !plain ? s.port : config.tls.port;
    const what = s.plain && !plain ? "DICOM" : "DICOM over TLS";
    throw new Error(`cannot listen for ${what} on ${s.bind}:${port}: ${listenError(e, port)}`);
  }
  if (plain) {
    logger.log("info", `DICOM listening`, { ae: s.aeTitle, bind: s.bind, port: plain.port });
  }
  return { dicomPort: plain?.port ?? secure!.listener.port, secure, close };
}
