// The DIMSE services this server offers, built from the configuration: the one place a
// new service is added (its abstract syntaxes then appear in negotiation by themselves).
import type { Config, KnownAe } from "../config.ts";
import type { Connector, Logger, ObjectDecoder } from "../core/ports.ts";
import type { AuditTrail } from "../core/audit.ts";
import { auditedObjectStore } from "./audit.ts";
import { VerificationService } from "../core/services/echo_scp.ts";
import { FindService } from "../core/services/find_scp.ts";
import { GetService } from "../core/services/get.ts";
import { DestinationSlots, MoveService } from "../core/services/move.ts";
import type { DimseService } from "../core/dimse/service_contract.ts";
import { StorageService, type StorageServiceOptions } from "../core/services/store_scp.ts";
import { producesTransferSyntax } from "../core/services/sub_operation_contexts.ts";
import { tcpConnector } from "../net/tcp.ts";
import type { FsObjectStore } from "../storage/object_store.ts";
import { SqliteQueryIndex } from "../storage/query_db.ts";

export interface ServiceDeps {
  config: Config;
  logger: Logger;
  store: FsObjectStore;
  /** Told of every C-STORE (status page, metrics). */
  onStored?: StorageServiceOptions["onStored"];
  /** The current [[known_ae]] list (C-MOVE destinations); config.knownAe when not given. */
  knownAe?: () => readonly KnownAe[];
  /** C-MOVE to a [[known_ae]] with tls = true: the current TLS connector, null when off. */
  tlsConnector?: () => Connector | null;
  /** The audit trail: stores, queries and retrieves are recorded there. */
  audit?: AuditTrail;
  /** Services built elsewhere (storage commitment), offered too. */
  extra?: readonly DimseService[];
  /** Decodes compressed objects for retrieves on worker threads (decode_workers.ts). */
  decoder?: ObjectDecoder;
  /** Associations open to each [[known_ae]], shared by C-MOVE and sends. */
  destinationSlots?: DestinationSlots;
}

export function buildServices(deps: ServiceDeps): DimseService[] {
  const { config, store } = deps;
  // Read-only WAL connections: queries and stores never wait for each other.
  const index = new SqliteQueryIndex({
    openReader: () => store.openReader(),
    root: store.root,
  });
  const s = config.server;
  return [
    new VerificationService(),
    new StorageService({
      store: deps.audit ? auditedObjectStore(store, deps.audit) : store,
      sopClasses: config.storage.sopClasses,
      minFreeBytes: config.storage.minFreeMb * 1024 * 1024,
      producesTransferSyntax,
      onStored: deps.onStored,
      logPhi: config.log.phi,
    }),
    new FindService({
      index,
      aeTitle: config.server.aeTitle,
      caseInsensitivePn: config.query.caseInsensitivePn,
      maxResults: config.query.maxResults,
      audit: deps.audit,
    }),
    new MoveService({
      index,
      objects: store,
      decoder: deps.decoder,
      connector: tcpConnector,
      tlsConnector: deps.tlsConnector,
      destinations: deps.knownAe ?? (() => config.knownAe),
      aeTitle: s.aeTitle,
      maxPduLength: s.maxPduLength,
      implementationClassUid: s.implementationClassUid,
      implementationVersionName: s.implementationVersionName,
      caseInsensitivePn: config.query.caseInsensitivePn,
      connectTimeoutMs: s.artimTimeoutS * 1000,
      artimTimeoutMs: s.artimTimeoutS * 1000,
      idleTimeoutMs: s.idleTimeoutS * 1000,
      audit: deps.audit,
      slots: deps.destinationSlots,
    }),
    new GetService({
      index,
      objects: store,
      decoder: deps.decoder,
      caseInsensitivePn: config.query.caseInsensitivePn,
      audit: deps.audit,
    }),
    ...(deps.extra ?? []),
  ];
}
