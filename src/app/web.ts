// Start step "web": the status page, JSON API, /metrics and DICOMweb on `[http]`, over the
// same store, stats and audit trail as the DICOM side. Null when `[http] enabled = false`.
import type { Config } from "../config.ts";
import type { DimseService } from "../core/dimse/service_contract.ts";
import type { Connector, Logger } from "../core/ports.ts";
import type { DestinationSlots } from "../core/services/move.ts";
import type { TlsMaterial } from "../net/tls.ts";
import { startWebServer, type WebServer } from "../web/http_server.ts";
import { buildActions } from "./actions.ts";
import type { Commitment } from "./commitment.ts";
import type { Forwarding } from "./forwarding.ts";
import type { OpenStorage } from "./open_storage.ts";
import type { ServerStats } from "./stats.ts";

export interface WebDeps {
  config: Config;
  /** The configuration as of the latest reload. */
  current(): Config;
  storage: OpenStorage;
  stats: ServerStats;
  services: readonly DimseService[];
  forwarding: Forwarding;
  commitment: Commitment;
  dicomPort: number;
  httpsMaterial: TlsMaterial | null;
  /** Outgoing DICOM over TLS (a send to a tls = true AE); null when [tls] is off. */
  tlsConnector(): Connector | null;
  /** max_associations per [[known_ae]], shared with C-MOVE's sub-associations. */
  destinationSlots: DestinationSlots;
  logger: Logger;
  /** Told of each request (the idle release). */
  work?(): () => void;
}

export function startWeb(d: WebDeps): WebServer | null {
  if (!d.config.http.enabled) return null;
  const { store, decoder } = d.storage;
  const audit = d.storage.audit ?? undefined;
  const current = d.current;
  return startWebServer({
    bind: d.config.http.bind,
    port: d.config.http.port,
    config: current,
    stats: d.stats,
    storage: store,
    logger: d.logger,
    work: d.work,
    dicomPort: () => d.dicomPort,
    actions: buildActions({
      store,
      config: current,
      logger: d.logger,
      stats: d.stats,
      decoder,
      // A send to a tls = true AE goes over TLS as C-MOVE's sub-associations do.
      tlsConnector: d.tlsConnector,
      audit,
      destinationSlots: d.destinationSlots,
    }),
    forwarding: d.forwarding,
    commitmentPending: () => d.commitment.pending(),
    // The Peers page's C-ECHO reaches a tls = true AE as C-MOVE does.
    tlsConnector: d.tlsConnector,
    audit,
    tls: d.httpsMaterial
      ? { certificate: d.httpsMaterial.certificate!, privateKey: d.httpsMaterial.privateKey! }
      : undefined,
    dicomweb: {
      root: store.root,
      openReader: () => store.openReader(),
      objects: store,
      stow: {
        storage: d.services.find((s) => s.name === "store")!,
        endAssociation: (id) => store.endAssociation(id),
        aeTitle: () => current().server.aeTitle,
      },
    },
  });
}
