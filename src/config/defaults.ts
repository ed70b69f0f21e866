// The built-in defaults: the values the shipped config.toml lists, used for every absent key.
import type { Config } from "./types.ts";

export const DEFAULT_CONFIG: Readonly<Config> = deepFreeze({
  server: {
    aeTitle: "MINIPACS",
    bind: "0.0.0.0",
    port: 4242,
    maxAssociations: 50,
    maxPendingConnections: 50,
    maxPduLength: 16384,
    accept: "store",
    checkCalledAe: true,
    idleTimeoutS: 60,
    artimTimeoutS: 30,
    implementationClassUid: "1.2.276.0.7230010.3.0.3.6.4",
    implementationVersionName: "MINIPACS_2_0",
    plain: true,
  },
  storage: {
    path: "./data",
    sopClasses: "all",
    duplicates: "overwrite",
    minFreeMb: 1024,
    durability: "fsync",
    journalReserveMb: 512,
    retentionDays: 0,
    retentionMinFreeMb: 0,
    retentionRequireCommit: false,
    compression: "none",
  },
  query: { caseInsensitivePn: true, maxResults: 0 },
  http: {
    enabled: true,
    bind: "127.0.0.1",
    port: 8080,
    users: [],
    metricsPublic: false,
    allowAnonymousRemote: false,
    certificate: "",
    privateKey: "",
  },
  dicomweb: { enabled: true, path: "/dicom-web", corsOrigins: [] },
  viewer: { ohifPath: "" },
  tls: {
    enabled: false,
    port: 2762,
    certificate: "tls/server.crt",
    privateKey: "tls/server.key",
    caCertificates: "tls/ca.crt",
    requireClientCertificate: true,
  },
  audit: { path: "", maxMb: 100 },
  log: { level: "info", format: "text", phi: false },
  forward: { retryMaxS: 300, giveUpAfterH: 0, commitTimeoutS: 3600 },
  knownAe: [],
  routes: [],
});

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
