// The typed configuration: one interface per config.toml section, field names in camelCase.
import type { LogLevel } from "../core/ports.ts";

export interface ServerConfig {
  aeTitle: string;
  bind: string;
  port: number;
  maxAssociations: number;
  /** TCP connections that have not yet sent a whole A-ASSOCIATE-RQ; the oldest goes first. */
  maxPendingConnections: number;
  /** Offered to peers as our Maximum Length Received (PS3.8 D.1). */
  maxPduLength: number;
  /**
   * "store": any caller may echo and store, only [[known_ae]] titles find, move and get;
   * "any": any caller may do everything; "known": only [[known_ae]] titles may associate.
   */
  accept: "any" | "known" | "store";
  checkCalledAe: boolean;
  idleTimeoutS: number;
  artimTimeoutS: number;
  implementationClassUid: string;
  implementationVersionName: string;
  /** false: no unencrypted DICOM listener at all (only [tls]). */
  plain: boolean;
}

/** DICOM over TLS (PS3.15 B.9), beside the plain listener. Paths as written. */
export interface TlsConfig {
  enabled: boolean;
  port: number;
  /** PEM chain: ours, presented to callers and, as client certificate, to C-MOVE peers. */
  certificate: string;
  /** PEM private key of `certificate`. */
  privateKey: string;
  /** PEM bundle of the CAs trusted for peers' certificates. */
  caCertificates: string;
  requireClientCertificate: boolean;
}

/** The audit trail: one JSON line per security-relevant event. */
export interface AuditConfig {
  /** "" = off. */
  path: string;
  /** The file is rotated (renamed with .1) past this size. */
  maxMb: number;
}

export interface StorageConfig {
  /** As written; a relative path resolves against the working directory at start-up. */
  path: string;
  sopClasses: "all" | string[];
  duplicates: "overwrite" | "ignore" | "reject";
  minFreeMb: number;
  durability: "fsync" | "none";
  /** Pre-written journal segments kept ready (durability "fsync" only); 0 = none. */
  journalReserveMb: number;
  /** 0 = keep forever. */
  retentionDays: number;
  /** Below this much free space the oldest studies are deleted; 0 = off. */
  retentionMinFreeMb: number;
  /** Retention keeps objects not yet committed at every commit = true route they matched. */
  retentionRequireCommit: boolean;
  /** Lossless compression of uncompressed images at rest, by the materializer. */
  compression: StorageCompression;
}

export type StorageCompression = "none" | "jpeg-ls" | "jpeg2000" | "rle";

export interface QueryConfig {
  caseInsensitivePn: boolean;
  /** 0 = unlimited. */
  maxResults: number;
}

export interface HttpUser {
  name: string;
  passwordHash: string;
  /** "viewer": see, search, download; "admin" (default): also send, delete, peers, config. */
  role?: "viewer" | "admin";
}

export interface HttpConfig {
  enabled: boolean;
  bind: string;
  port: number;
  users: HttpUser[];
  metricsPublic: boolean;
  allowAnonymousRemote: boolean;
  /** With privateKey: the pages and API over HTTPS. "" = plain HTTP. */
  certificate: string;
  privateKey: string;
}

export interface DicomWebConfig {
  /** QIDO-RS, WADO-RS and STOW-RS on the [http] listener. */
  enabled: boolean;
  /** Where they are served, e.g. "/dicom-web". */
  path: string;
  /** Origins whose pages may call them (CORS); ["*"] for any. */
  corsOrigins: string[];
}

export interface ViewerConfig {
  /** A folder holding the OHIF viewer's built files, served at /viewer/; "" = none. */
  ohifPath: string;
}

export interface LogConfig {
  level: LogLevel;
  format: "text" | "json";
  /** Patient's Name and Patient ID in the per-object store lines (default false). */
  phi: boolean;
}

/** A remote AE: C-MOVE destination and, with `server.accept = "known"`, an allowed caller. */
export interface KnownAe {
  aeTitle: string;
  host: string;
  port: number;
  maxAssociations: number;
  /** Associations this AE may have open with us at once; absent: only the global limit. */
  maxIncoming?: number;
  /** The Move Destinations this AE may name in a C-MOVE; absent: any known AE. */
  moveDestinations?: string[];
  /** C-MOVE to this AE over TLS, our certificate as client certificate; absent = false. */
  tls?: boolean;
  /** When set: this calling AE is accepted only over TLS with a certificate of this name. */
  tlsName?: string;
  /** The services this AE may use when it calls; absent: all. */
  allow?: string[];
  /** Addresses and CIDR blocks this AE title may call from; absent: any. */
  hosts?: string[];
}

/** A forwarding rule: stored objects it matches are queued for its destination. */
export interface Route {
  /** A [[known_ae]] AE title. */
  destination: string;
  /** Only objects from these calling AE titles; absent: any. */
  callingAe?: string[];
  /** Only objects of series with these modalities; absent: any. */
  modality?: string[];
  /** Only these SOP Class UIDs; absent or empty: any. */
  sopClasses?: string[];
  /** Ask the destination for Storage Commitment; the objects wait until it is reported. */
  commit?: boolean;
}

export interface ForwardConfig {
  /** Backoff cap between retries to a destination, seconds. */
  retryMaxS: number;
  /** An object still not delivered after this many hours goes to the failed list; 0 = never. */
  giveUpAfterH: number;
  /** A commitment report not come after this many seconds: the objects go again; 0 = never. */
  commitTimeoutS: number;
}

export interface Config {
  server: ServerConfig;
  storage: StorageConfig;
  query: QueryConfig;
  http: HttpConfig;
  dicomweb: DicomWebConfig;
  viewer: ViewerConfig;
  tls: TlsConfig;
  audit: AuditConfig;
  log: LogConfig;
  forward: ForwardConfig;
  knownAe: KnownAe[];
  routes: Route[];
}
