// What the web API's actions do on the running server: delete from the store, send to a known
// AE with the C-MOVE sender, read objects and list an entity's instances. Each action is
// logged with who asked and shown in the recent events.
import type { Config, KnownAe } from "../config.ts";
import type { Logger, ObjectDecoder } from "../core/ports.ts";
import { sendInstances } from "../core/services/send.ts";
import { tcpConnector } from "../net/tcp.ts";
import type { DeleteLevel } from "../storage/delete.ts";
import { instancesUnder } from "../storage/entity_instances.ts";
import type { FsObjectStore } from "../storage/object_store.ts";
import type { ServerStats } from "./stats.ts";
import type { WebActions } from "../web/actions.ts";

export interface ActionDeps {
  store: FsObjectStore;
  config(): Config;
  logger: Logger;
  stats: ServerStats;
  /** Decodes compressed objects for destinations that do not take them. */
  decoder?: ObjectDecoder;
}

export function buildActions(deps: ActionDeps): WebActions {
  const { store, logger, stats } = deps;
  let sends = 0;
  const instances = (level: DeleteLevel, uid: string) => {
    const db = store.openReader();
    try {
      return instancesUnder(db, level, uid);
    } finally {
      db.close();
    }
  };
  return {
    instances,
    readObject: (uid) => store.readObject(uid),
    async delete(level, uid, by) {
      const result = await store.deleteEntity(level, uid);
      if (result.instances > 0) {
        logger.log("info", `${level} deleted`, {
          [level]: uid,
          instances: result.instances,
          by,
        });
        stats.action("delete", by, `${level} deleted: ${result.instances} instance(s)`, true);
      }
      return result;
    },
    async send(level, uid, destination: KnownAe, by) {
      const s = deps.config().server;
      const targets = instances(level, uid);
      const where = `${destination.aeTitle}@${destination.host}:${destination.port}`;
      const started = performance.now();
      const result = await sendInstances(
        {
          connector: tcpConnector,
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
      );
      const ok = result.failed === 0;
      logger.log(ok ? "info" : "warn", "send done", {
        [level]: uid,
        destination: where,
        instances: result.total,
        completed: result.completed,
        failed: result.failed,
        warning: result.warning,
        by,
        ms: Math.round(performance.now() - started),
      });
      stats.action(
        "send",
        where,
        `${level} sent by ${by}: ${result.completed} of ${result.total} completed` +
          (result.failed ? `, ${result.failed} failed` : ""),
        ok,
      );
      return result;
    },
  };
}
