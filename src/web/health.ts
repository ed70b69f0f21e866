// GET /healthz: the process answers, the index answers a query, the storage folder takes a
// write, and free space is above storage.min_free_mb. Details go to the log; the answer
// (public, no password) names only the failing checks.
import type { Logger } from "../core/ports.ts";
import { TMP_DIR } from "../storage/layout.ts";
import type { Catalog } from "../storage/catalog.ts";
import type { StorageView } from "./status.ts";

export type CheckName = "process" | "index" | "storage" | "disk";

export interface Health {
  ok: boolean;
  checks: Record<CheckName, string>;
}

export interface HealthSources {
  storage: StorageView;
  catalog: Catalog;
  minFreeBytes: number;
  logger: Logger;
}

export async function checkHealth(s: HealthSources): Promise<Health> {
  const checks: Record<CheckName, string> = {
    process: "ok",
    index: "ok",
    storage: "ok",
    disk: "ok",
  };
  const fail = (name: CheckName, answer: string, detail: unknown) => {
    checks[name] = answer;
    s.logger.log("warn", `health check failed: ${name}`, {
      error: detail instanceof Error ? detail.message : String(detail),
    });
  };
  try {
    s.catalog.check();
  } catch (e) {
    fail("index", "index not readable", e);
  }
  const probe = `${s.storage.root}/${TMP_DIR}/healthz-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(probe, "ok");
    await Deno.remove(probe);
  } catch (e) {
    fail("storage", "storage not writable", e);
  }
  try {
    const free = await s.storage.freeBytes();
    if (free < s.minFreeBytes) {
      fail("disk", "free space below storage.min_free_mb", `${free} bytes free`);
    }
  } catch (e) {
    fail("disk", "free space unknown", e);
  }
  return { ok: Object.values(checks).every((v) => v === "ok"), checks };
}
