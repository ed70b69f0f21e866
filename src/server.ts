// Wires config + core + adapters: the DICOM listener, the object store, the services.
import type { Config } from "./config.ts";
import type { Logger } from "./core/ports.ts";
import type { DimseService } from "./core/services/service.ts";
import { AcceptorAssociation } from "./core/ul/association.ts";
import type { AcceptorPolicy, SupportedSyntax } from "./core/ul/negotiation.ts";
import { listenTcp, TcpConnection } from "./net/tcp.ts";
import { FsObjectStore } from "./storage/object_store.ts";
import { buildServices } from "./services.ts";

export interface RunningServer {
  dicomPort: number;
  httpPort: number | null;
  /** Stops listening, lets running associations finish for graceMs, aborts the rest. */
  stop(graceMs?: number): Promise<void>;
  /** Resolves once stopped. */
  done: Promise<void>;
}

/** The one table of what we serve: every service's abstract syntaxes. */
function syntaxTable(services: readonly DimseService[]): Map<string, SupportedSyntax> {
  const table = new Map<string, SupportedSyntax>();
  for (const s of services) {
    for (const syntax of s.syntaxes()) table.set(syntax.abstractSyntax, syntax);
  }
  return table;
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const store = await FsObjectStore.open({
    root: config.storage.path,
    durability: config.storage.durability,
    duplicates: config.storage.duplicates,
    implementationClassUid: config.server.implementationClassUid,
    implementationVersionName: config.server.implementationVersionName,
    logger,
  });
  const services = buildServices({ config, logger, store });
  const syntaxes = syntaxTable(services);
  const known = new Set(config.knownAe.map((k) => k.aeTitle.trim()));
  const s = config.server;
  const basePolicy: AcceptorPolicy = {
    aeTitle: s.aeTitle,
    checkCalledAe: s.checkCalledAe,
    knownCallingAeTitles: s.accept === "known" ? known : undefined,
    maxPduLength: s.maxPduLength,
    implementationClassUid: s.implementationClassUid,
    implementationVersionName: s.implementationVersionName,
    syntaxes,
  };

  const open = new Set<AcceptorAssociation>();
  let nextId = 1;
  const onConnection = (conn: TcpConnection) => {
    const assoc = new AcceptorAssociation({
      id: String(nextId++),
      connection: conn,
      logger,
      artimTimeoutMs: s.artimTimeoutS * 1000,
      idleTimeoutMs: s.idleTimeoutS * 1000,
      maxPduLength: s.maxPduLength,
      services,
      // Counted at A-ASSOCIATE-RQ time: the one over the limit is rejected, not dropped.
      policy: () => ({ ...basePolicy, overLimit: open.size > s.maxAssociations }),
    });
    open.add(assoc);
    assoc.run().catch((e) => {
      logger.log("error", `association failed: ${(e as Error).message}`, { assoc: assoc.info.id });
      conn.close();
    }).finally(async () => {
      open.delete(assoc);
      // Its journal segment takes no more records: once materialized it can go.
      await store.endAssociation(assoc.info.id).catch((e) =>
        logger.log("error", `closing journal segment failed: ${(e as Error).message}`, {
          assoc: assoc.info.id,
        })
      );
    });
  };
  const listener = listenTcp(s.bind, s.port, onConnection);
  logger.log("info", `DICOM listening`, { ae: s.aeTitle, bind: s.bind, port: listener.port });

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping: Promise<void> | null = null;
  const stop = (graceMs = 5000): Promise<void> => {
    stopping ??= (async () => {
      listener.close();
      await listener.done;
      if (open.size) {
        logger.log("info", `waiting for ${open.size} association(s) to finish`);
        const all = Promise.all([...open].map((a) => a.finished));
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([all, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
        clearTimeout(timer);
        for (const a of open) await a.abort();
      }
      await store.close();
      resolveDone();
    })();
    return stopping;
  };
  return { dicomPort: listener.port, httpPort: null, stop, done };
}
