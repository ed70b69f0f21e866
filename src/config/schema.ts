// The schema: section -> snake_case key -> [camelCase field, check]; order = output order.
import {
  addressBlocks,
  aeTitle,
  aeTitles,
  bool,
  type Check,
  int,
  Invalid,
  modalities,
  num,
  oneOf,
  origins,
  services,
  shortText,
  show,
  sopClasses,
  str,
  text,
  uid,
  uidList,
  urlPath,
} from "./checks.ts";
import type { Config } from "./types.ts";

export type Fields = Record<string, [string, Check]>;

export const SERVER: Fields = {
  ae_title: ["aeTitle", aeTitle],
  bind: ["bind", str()],
  port: ["port", int(0, 65535)],
  max_associations: ["maxAssociations", int(1, 1000)],
  max_pending_connections: ["maxPendingConnections", int(1, 1000)],
  max_pdu_length: ["maxPduLength", int(4096, 131072)],
  accept: ["accept", oneOf("store", "any", "known")],
  check_called_ae: ["checkCalledAe", bool],
  idle_timeout_s: ["idleTimeoutS", int(1, 86400)],
  artim_timeout_s: ["artimTimeoutS", int(1, 3600)],
  implementation_class_uid: ["implementationClassUid", uid],
  implementation_version_name: ["implementationVersionName", shortText("a name")],
  plain: ["plain", bool],
};

export const TLS: Fields = {
  enabled: ["enabled", bool],
  port: ["port", int(0, 65535)],
  certificate: ["certificate", str("a file name")],
  private_key: ["privateKey", str("a file name")],
  ca_certificates: ["caCertificates", str("a file name")],
  require_client_certificate: ["requireClientCertificate", bool],
};

export const AUDIT: Fields = {
  path: ["path", text],
  max_mb: ["maxMb", int(1, 1_000_000)],
};

export const STORAGE: Fields = {
  path: ["path", str()],
  sop_classes: ["sopClasses", sopClasses],
  duplicates: ["duplicates", oneOf("overwrite", "ignore", "reject")],
  min_free_mb: ["minFreeMb", int(0)],
  durability: ["durability", oneOf("fsync", "none")],
  journal_reserve_mb: ["journalReserveMb", int(0)],
  retention_days: ["retentionDays", int(0)],
  retention_min_free_mb: ["retentionMinFreeMb", int(0)],
  retention_require_commit: ["retentionRequireCommit", bool],
  compression: ["compression", oneOf("none", "jpeg-ls", "jpeg2000", "rle")],
};

export const QUERY: Fields = {
  case_insensitive_pn: ["caseInsensitivePn", bool],
  max_results: ["maxResults", int(0)],
};

export const HTTP_USER: Fields = {
  name: ["name", str()],
  password_hash: ["passwordHash", str()],
  role: ["role", oneOf("viewer", "admin")],
};

export const HTTP: Fields = {
  enabled: ["enabled", bool],
  bind: ["bind", str()],
  port: ["port", int(0, 65535)],
  users: ["users", (v) => v], // checked by tableArray() below
  metrics_public: ["metricsPublic", bool],
  allow_anonymous_remote: ["allowAnonymousRemote", bool],
  certificate: ["certificate", text],
  private_key: ["privateKey", text],
};

export const DICOMWEB: Fields = {
  enabled: ["enabled", bool],
  path: ["path", urlPath],
  cors_origins: ["corsOrigins", origins],
};

export const VIEWER: Fields = {
  ohif_path: ["ohifPath", (v) => {
    if (typeof v !== "string") throw new Invalid(`must be a folder path or "", got ${show(v)}`);
    return v;
  }],
};

export const LOG: Fields = {
  level: ["level", oneOf("error", "warn", "info", "debug")],
  format: ["format", oneOf("text", "json")],
  phi: ["phi", bool],
};

export const KNOWN_AE: Fields = {
  ae_title: ["aeTitle", aeTitle],
  host: ["host", str()],
  port: ["port", int(1, 65535)],
  max_associations: ["maxAssociations", int(1, 64)],
  max_incoming: ["maxIncoming", int(1, 1000)],
  move_destinations: ["moveDestinations", aeTitles],
  tls: ["tls", bool],
  tls_name: ["tlsName", str("a certificate name")],
  allow: ["allow", services],
  hosts: ["hosts", addressBlocks],
};

export const FORWARD: Fields = {
  retry_max_s: ["retryMaxS", int(1, 86400)],
  give_up_after_h: ["giveUpAfterH", num(0)],
  commit_timeout_s: ["commitTimeoutS", int(0)],
};

export const ROUTE: Fields = {
  destination: ["destination", aeTitle],
  calling_ae: ["callingAe", aeTitles],
  modality: ["modality", modalities],
  sop_classes: ["sopClasses", uidList],
  commit: ["commit", bool],
};

export const SECTIONS: Record<string, [keyof Config, Fields]> = {
  server: ["server", SERVER],
  storage: ["storage", STORAGE],
  query: ["query", QUERY],
  http: ["http", HTTP],
  dicomweb: ["dicomweb", DICOMWEB],
  viewer: ["viewer", VIEWER],
  tls: ["tls", TLS],
  audit: ["audit", AUDIT],
  log: ["log", LOG],
  forward: ["forward", FORWARD],
};
