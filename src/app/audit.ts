// The audit trail of a running server: opened from [audit], and the records of the events
// the server itself sees (associations, TLS refusals, stores, forwarding, reloads, start and
// stop). The services record queries and retrieves themselves; other features take the
// AuditTrail port.
import { type Config, ConfigError } from "../config.ts";
import type { AuditRecord, AuditTrail } from "../core/audit.ts";
import type { Connection, Logger, ObjectStore, TransportSecurity } from "../core/ports.ts";
import type { AssociationInfo } from "../core/dimse/service_contract.ts";
import { AuditLog } from "../storage/audit_log.ts";

/** Opens `[audit] path`; null when off. A file that cannot be opened stops the start. */
export async function openAuditTrail(config: Config, logger: Logger): Promise<AuditLog | null> {
  const a = config.audit;
  if (a.path === "") return null;
  try {
    const log = await AuditLog.open({ path: a.path, maxBytes: a.maxMb * 1024 * 1024, logger });
    logger.log("info", "audit trail", { path: a.path, max_mb: a.maxMb });
    return log;
  } catch (e) {
    throw new ConfigError("configuration", "audit.path", `cannot open: ${(e as Error).message}`);
  }
}

function tlsOf(security: TransportSecurity | undefined): AuditRecord["TLS"] {
  if (!security) return undefined;
  return {
    protocol: security.protocol,
    cipher: security.cipher,
    CertificateSubject: security.peer?.subject,
  };
}

/** An association accepted or rejected (who, from where, over TLS or not). */
export function associationRecord(
  info: AssociationInfo,
  conn: Connection,
  rejected?: string,
): AuditRecord {
  return {
    EventID: "Association",
    EventActionCode: "E",
    EventOutcomeIndicator: rejected === undefined ? 0 : 4,
    EventOutcomeDescription: rejected,
    EventTypeCode: rejected === undefined ? "Association Accepted" : "Association Rejected",
    UserID: info.callingAeTitle,
    NetworkAccessPointID: conn.remote,
    DestinationUserID: info.calledAeTitle,
    AssociationID: info.id,
    TLS: tlsOf(conn.security),
  };
}

/**
 * A batch a [[route]] forwarded (PS3.15 A.5.3.4 DICOM Instances Transferred): sent by this
 * server itself, to `destination`, with the instances sent and how many it refused.
 */
export function forwardedRecord(o: {
  aeTitle: string;
  destination: { aeTitle: string; host: string; port: number };
  associationId: string;
  security?: TransportSecurity;
  sent: string[];
  refused: number;
}): AuditRecord {
  return {
    EventID: "DICOM Instances Transferred",
    EventActionCode: "R",
    EventOutcomeIndicator: o.refused ? 4 : 0,
    EventOutcomeDescription: o.refused
      ? `${o.refused} refused by ${o.destination.aeTitle}`
      : undefined,
    EventTypeCode: "C-STORE",
    UserID: o.aeTitle,
    DestinationUserID: o.destination.aeTitle,
    DestinationNetworkAccessPointID: `${o.destination.host}:${o.destination.port}`,
    AssociationID: o.associationId,
    TLS: tlsOf(o.security),
    SOPInstanceUID: o.sent,
    NumberOfInstances: o.sent.length,
    NumberOfFailed: o.refused || undefined,
  };
}

/** A TLS connection refused before any association (PS3.15 A.5.3.11 Security Alert). */
export function tlsRefusalRecord(peer: string, reason: string, subject?: string): AuditRecord {
  return {
    EventID: "Security Alert",
    EventActionCode: "E",
    EventOutcomeIndicator: 4,
    EventOutcomeDescription: reason,
    EventTypeCode: "Node Authentication",
    NetworkAccessPointID: peer,
    TLS: subject ? { protocol: "", cipher: "", CertificateSubject: subject } : undefined,
  };
}

/**
 * Every C-STORE's and STOW-RS store's outcome as "DICOM Instances Transferred"
 * (PS3.15 A.5.3.6), action C.
 */
export function auditedObjectStore(store: ObjectStore, audit: AuditTrail): ObjectStore {
  return {
    freeBytes: () => store.freeBytes(),
    endAssociation: (id) => store.endAssociation(id),
    async begin(incoming) {
      const writer = await store.begin(incoming);
      const base = {
        EventID: "DICOM Instances Transferred",
        EventActionCode: "C" as const,
        // A STOW-RS store is requested by its HTTP user (PS3.18 10.5).
        EventTypeCode: incoming.httpUser === undefined ? "C-STORE" : "STOW-RS",
        UserID: incoming.httpUser ?? incoming.callingAeTitle,
        NetworkAccessPointID: incoming.remote,
        AssociationID: incoming.assocId,
        SOPClassUID: incoming.sopClassUid,
        SOPInstanceUID: incoming.sopInstanceUid,
      };
      return {
        write: (chunk) => writer.write(chunk),
        async commit(record) {
          const ids = {
            PatientID: record.patientId,
            StudyInstanceUID: record.studyInstanceUid,
            SeriesInstanceUID: record.seriesInstanceUid,
          };
          try {
            const result = await writer.commit(record);
            audit.record({
              ...base,
              ...ids,
              EventOutcomeIndicator: result === "duplicate-rejected" ? 4 : 0,
              EventOutcomeDescription: result === "stored" ? undefined : result,
            });
            return result;
          } catch (e) {
            audit.record({
              ...base,
              ...ids,
              EventOutcomeIndicator: 8,
              EventOutcomeDescription: (e as Error).message,
            });
            throw e;
          }
        },
        abort: () => writer.abort(),
      };
    },
  };
}

/** A configuration reload: what it applied (PS3.15 A.5.3.11, Software Configuration). */
export function reloadRecord(applied: string[], needsRestart: string[]): AuditRecord {
  return {
    EventID: "Security Alert",
    EventActionCode: "E",
    EventOutcomeIndicator: 0,
    EventTypeCode: "Software Configuration",
    EventOutcomeDescription: `configuration reloaded: ${
      applied.length ? applied.join(", ") : "nothing changed"
    }${needsRestart.length ? `; needs a restart: ${needsRestart.join(", ")}` : ""}`,
  };
}

/** Start and stop (PS3.15 A.5.3.1 Application Activity). */
export function applicationRecord(what: "Application Start" | "Application Stop", ae: string) {
  return {
    EventID: "Application Activity",
    EventActionCode: "E",
    EventOutcomeIndicator: 0,
    EventTypeCode: what,
    UserID: ae,
  } satisfies AuditRecord;
}
