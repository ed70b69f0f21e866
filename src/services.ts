// The DIMSE services this server offers, built from the configuration: the one place a
// new service is added (its abstract syntaxes then appear in negotiation by themselves).
import type { Config } from "./config.ts";
import type { Logger } from "./core/ports.ts";
import { VerificationService } from "./core/services/echo.ts";
import type { DimseService } from "./core/services/service.ts";
import { StorageService } from "./core/services/store.ts";
import type { FsObjectStore } from "./storage/object_store.ts";

export interface ServiceDeps {
  config: Config;
  logger: Logger;
  store: FsObjectStore;
}

export function buildServices(deps: ServiceDeps): DimseService[] {
  const { config, store } = deps;
  return [
    new VerificationService(),
    new StorageService({
      store,
      sopClasses: config.storage.sopClasses,
      minFreeBytes: config.storage.minFreeMb * 1024 * 1024,
    }),
  ];
}
