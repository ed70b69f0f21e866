// Audit records: one per security-relevant event, named after the DICOM audit messages of
// PS3.15 A.5 where one exists (EventID, EventActionCode, EventOutcomeIndicator, the active
// participants and the participant objects flattened into fields). The core builds them;
// an adapter (src/storage/audit_log.ts) appends them to the audit trail.
import { type DataElement, textOf } from "./dicom/dataset.ts";
import { Tag, tagString } from "./dicom/tags.ts";
import { QUERY_RETRIEVE_LEVEL } from "./query/keys.ts";
import type { Query } from "./query/query.ts";
import { statusCategory } from "./dimse/status.ts";

/** PS3.15 A.5.1: C create, R read, U update, D delete, E execute. */
export type EventActionCode = "C" | "R" | "U" | "D" | "E";

/** PS3.15 A.5.1: 0 success, 4 minor failure, 8 serious failure, 12 major failure. */
export type EventOutcomeIndicator = 0 | 4 | 8 | 12;

/** One audit event. Absent fields are left out of the line. */
export interface AuditRecord {
  /**
   * A PS3.15 A.5.3 event ("DICOM Instances Transferred", "Query", "DICOM Study Deleted",
   * "User Authentication", "Security Alert", "Application Activity"), or "Association" for
   * association set-up, which A.5 has no message for.
   */
  EventID: string;
  EventActionCode: EventActionCode;
  EventOutcomeIndicator: EventOutcomeIndicator;
  /** Why it failed (a rejection reason, a DIMSE status). */
  EventOutcomeDescription?: string;
  /** A.5.3 event type, e.g. "Login", "Node Authentication", "Software Configuration". */
  EventTypeCode?: string;
  /** The requestor: a calling AE title or a web user name. */
  UserID?: string;
  /** The requestor's address (A.5.1 NetworkAccessPointID). */
  NetworkAccessPointID?: string;
  /** Where instances went (C-MOVE destination, C-GET caller). */
  DestinationUserID?: string;
  /** Our association id, linking the events of one association to its "Association" line. */
  AssociationID?: string;
  /** TLS protocol and the peer certificate subject, when over TLS. */
  TLS?: { protocol: string; cipher: string; CertificateSubject?: string };
  PatientID?: string;
  StudyInstanceUID?: string | string[];
  SeriesInstanceUID?: string;
  /** One instance, or those an association sent (forwarding). */
  SOPInstanceUID?: string | string[];
  SOPClassUID?: string;
  /** Query keys with a value (C-FIND, C-MOVE, C-GET identifiers). */
  QueryKeys?: Record<string, string>;
  NumberOfInstances?: number;
  [more: string]: unknown;
}

/** Where audit records go; implemented by the audit trail file (or nothing when off). */
export interface AuditTrail {
  record(event: AuditRecord): void;
}

const KEYWORDS = new Map<number, string>([
  ...Object.entries(Tag).map(([k, v]) => [v, k] as [number, string]),
  [QUERY_RETRIEVE_LEVEL, "QueryRetrieveLevel"],
  [0x00080061, "ModalitiesInStudy"],
  [0x00080062, "SOPClassesInStudy"],
]);

/** The keys of an identifier that carry a value, by keyword (else "(gggg,eeee)"). */
export function queryKeys(query: Query): Record<string, string> {
  const keys: Record<string, string> = {};
  const add = (elements: DataElement[], prefix: string) => {
    for (const el of elements) {
      const name = prefix + (KEYWORDS.get(el.tag) ?? tagString(el.tag));
      if (el.items) {
        for (const item of el.items.slice(0, 1)) add(item, `${name}.`);
        continue;
      }
      if (el.tag === Tag.SpecificCharacterSet) continue;
      const text = textOf(el, query.specificCharacterSet).trim();
      if (text !== "") keys[name] = text;
    }
  };
  add(query.identifier, "");
  return keys;
}

/** A DIMSE status as an outcome: success and warnings 0, cancel 4, failures 8. */
export function outcomeOf(status: number): EventOutcomeIndicator {
  const category = statusCategory(status);
  if (category === "success" || category === "warning") return 0;
  if (category === "cancel") return 4;
  return 8;
}
