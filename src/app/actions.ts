// What the web API's actions do on the running server: delete from the store, send to a known
// AE with the C-MOVE sender (over TLS to a `tls = true` AE, as C-MOVE does), read objects and
// list an entity's instances. Each action is logged with who asked, shown in the recent events
// and written to the audit trail (PS3.15 A.5.3.8 Study Deleted, A.5.3.6 Instances Transferred).
import type { Config, KnownAe } from "../config.ts";
import type { AuditRecord, AuditTrail } from "../core/audit.ts";
import type { Connector, Logger, ObjectDecoder } from "../core/ports.ts";
import { sendInstances, type SendResult } from "../core/services/send.ts";
import { DestinationSlots } from "../core/services/move.ts";
import { tcpConnector } from "../net/tcp.ts";
import type { DeleteLevel } from "../storage/delete.ts";
import { type EntityInstance, instancesUnder } from "../storage/entity_instances.ts";
import type { FsObjectStore } from "../storage/object_store.ts";
import type { ServerStats } from "./stats.ts";
import type { Requester, WebActions } from "../web/actions.ts";

export interface ActionDeps {
  store: FsObjectStore;
  config(): Config;
  logger: Logger;
  stats: ServerStats;
  /** Decodes compressed objects for destinations that do not take them. */
  decoder?: ObjectDecoder;
  /** The current DICOM TLS connector (our certificate, ca_certificates); null when off. */
  tlsConnector?: () => Connector | null;
  /** Where deletes and sends are recorded (absent: [audit] path is empty). */
  audit?: AuditTrail;
  /** Associations open to each destination, shared with C-MOVE (its max_associations). */
  destinationSlots?: DestinationSlots;
}

/** The patient of a study, for the audit record. */
function patientOf(store: FsObjectStore, study: string): string | undefined {
  const db = store.openReader();
  try {
    const row = db.prepare(
      `SELECT p.patient_id AS id FROM study st JOIN patient p ON p.pk = st.patient_pk
       WHERE st.study_instance_uid = ?`,
    ).get(study) as { id: string } | undefined;
    return row?.id;
  } finally {
    db.close();
  }
}

/** The participant object fields of an entity: its study, and its series or instance. */
function entityFields(level: DeleteLevel, uid: string, first?: EntityInstance) {
  return {
    StudyInstanceUID: first?.studyInstanceUid ?? (level === "study" ? uid : undefined),
    SeriesInstanceUID: level === "study" ? undefined : first?.seriesInstanceUid ?? uid,
    SOPInstanceUID: level === "instance" ? uid : undefined,
    SOPClassUID: level === "instance" ? first?.sopClassUid : undefined,
  };
}

/** A send's outcome: 0 all sent, 4 some failed, 8 none arrived (PS3.15 A.5.1). */
function sendOutcome(r: SendResult): AuditRecord["EventOutcomeIndicator"] {
  if (r.failed === 0) return 0;
  return r.completed + r.warning > 0 ? 4 : 8;
}

export function buildActions(deps: ActionDeps): WebActions {
  const { store, logger, stats } = deps;
  const slots = deps.destinationSlots ?? new DestinationSlots();
  let sends = 0;
  const instances = (level: DeleteLevel, uid: string) => {
    const db = store.openReader();
    try {
      return instancesUnder(db, level, uid);
    } finally {
      db.close();
    }
  };
  const requester = (by: Requester) => ({
    UserID: by.user,
    NetworkAccessPointID: by.from,
  });
  return {
    instances,
    readObject: (uid) => store.readObject(uid),
    async delete(level, uid, by) {
      const first = deps.audit ? instances(level, uid)[0] : undefined;
      const patientId = first ? patientOf(store, first.studyInstanceUid) : undefined;
      const result = await store.deleteEntity(level, uid);
      if (result.instances > 0) {
        logger.log("info", `${level} deleted`, {
          [level]: uid,
          instances: result.instances,
          by: by.user,
        });
        stats.action("delete", by.user, `${level} deleted: ${result.instances} instance(s)`, true);
        deps.audit?.record({
          EventID: "DICOM Study Deleted",
          EventActionCode: "D",
          EventOutcomeIndicator: 0,
          EventTypeCode: `${level} deleted`,
          ...requester(by),
          PatientID: patientId,
          ...entityFields(level, uid, first),
          NumberOfInstances: result.instances,
        });
      }
      return result;
    },
    async send(level, uid, destination: KnownAe, by, onProgress) {
      const s = deps.config().server;
      const targets = instances(level, uid);
      const where = `${destination.aeTitle}@${destination.host}:${destination.port}`;
      const started = performance.now();
      if (slots.busy(destination.aeTitle) >= destination.maxAssociations) {
        logger.log("info", "send waits for a free association to its destination", {
          destination: where,
          max_associations: destination.maxAssociations,
        });
      }
      const release = await slots.acquire(
        destination.aeTitle,
        destination.maxAssociations,
        new AbortController().signal,
      );
      const result = await sendInstances(
        {
          connector: tcpConnector,
          tlsConnector: () => deps.tlsConnector?.() ?? undefined,
          objects: store,
          logger,
          id: `send.${++sends}`,
          aeTitle: s.aeTitle,
          maxPduLength: s.maxPduLength,
          implementationClassUid: s.implementationClassUid,
          implementationVersionName: s.implementationVersionName,
          connectTimeoutMs: s.artimTimeoutS * 1000,
          artimTimeoutMs: s.artimTimeoutS * 1000,
          idleTimeoutMs: s.idleTimeoutS * 1000,
          purpose: "send",
          decoder: deps.decoder,
        },
        destination,
        targets,
        onProgress,
      ).finally(() => release?.());
      const ok = result.failed === 0;
      logger.log(ok ? "info" : "warn", "send done", {
        [level]: uid,
        destination: where,
        tls: destination.tls === true,
        instances: result.total,
        completed: result.completed,
        failed: result.failed,
        warning: result.warning,
        by: by.user,
        ms: Math.round(performance.now() - started),
      });
      stats.action(
        "send",
        where,
        `${level} sent by ${by.user}: ${result.completed} of ${result.total} completed` +
          (result.failed ? `, ${result.failed} failed` : ""),
        ok,
      );
      deps.audit?.record({
        EventID: "DICOM Instances Transferred",
        EventActionCode: "R",
        EventOutcomeIndicator: sendOutcome(result),
        EventOutcomeDescription: result.error,
        EventTypeCode: "C-STORE",
        ...requester(by),
        SourceUserID: s.aeTitle,
        DestinationUserID: destination.aeTitle,
        DestinationNetworkAccessPointID: `${destination.host}:${destination.port}`,
        PatientID: targets[0] ? patientOf(store, targets[0].studyInstanceUid) : undefined,
        ...entityFields(level, uid, targets[0]),
        NumberOfInstances: result.completed + result.warning,
        NumberOfFailed: result.failed || undefined,
      });
      return result;
    },
  };
}
