// `minipacs delete --study UID`: through the running server's API (DELETE /api/studies/UID),
// or, when no server runs on the storage folder, directly on it (the storage lock says which;
// with a server running and its API out of reach, nothing is deleted).
import { ConfigError } from "../config.ts";
import { buildActions } from "../app/actions.ts";
import { openAuditTrail } from "../app/audit.ts";
import { ServerStats } from "../app/stats.ts";
import { lockStorage, StorageLockedError } from "../storage/lock.ts";
import { FsObjectStore } from "../storage/object_store.ts";
import {
  API_OPTION_HELP,
  API_OPTIONS,
  apiBase,
  apiRequest,
  ApiUnreachableError,
  entityOption,
} from "./api_client.ts";
import { type Command, type CommandArgs, loadEffectiveConfig, UsageError } from "./subcommand.ts";
import { cliLogger } from "./scu.ts";

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** The operating system user running the command, for the audit trail. */
function osUser(): string {
  try {
    return Deno.env.get("USER") ?? Deno.env.get("LOGNAME") ?? "unknown";
  } catch {
    return "unknown";
  }
}

async function run(args: CommandArgs): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError("delete takes no arguments");
  const target = entityOption(args.values);
  const { config } = await loadEffectiveConfig(args.values);
  const json = args.values.json === true;
  const base = apiBase(config, args.values);
  let unreachable: string | undefined;
  if (base) {
    try {
      const r = await apiRequest(base, "DELETE", target.path, args.values);
      if (json) console.log(JSON.stringify(r.json, null, 2));
      if (r.status === 200) {
        if (!json) {
          console.log(
            `deleted ${target.level} ${target.uid}: ${r.json.instances} instance(s), ${
              mb(Number(r.json.bytes))
            }`,
          );
        }
        return 0;
      }
      console.error(`minipacs: delete: ${base}: HTTP ${r.status} ${r.json.error ?? ""}`.trim());
      return 1;
    } catch (e) {
      if (!(e instanceof ApiUnreachableError)) throw e;
      unreachable = e.message;
    }
  }
  // No server answered: work on the storage folder, unless a server holds it.
  let lock;
  try {
    lock = await lockStorage(config.storage.path);
  } catch (e) {
    if (!(e instanceof StorageLockedError)) throw e;
    console.error(
      `minipacs: delete: a server is running on ${config.storage.path} but its API ` +
        `${unreachable ? `is out of reach (${unreachable})` : "is off (http.enabled = false)"}; ` +
        "nothing deleted. Delete through the running server (--url) or stop it first",
    );
    return 1;
  }
  try {
    const store = await FsObjectStore.open({
      root: config.storage.path,
      durability: config.storage.durability,
      duplicates: config.storage.duplicates,
      implementationClassUid: config.server.implementationClassUid,
      implementationVersionName: config.server.implementationVersionName,
      logger: cliLogger,
    });
    // Recorded in the audit trail as a delete through the server would be.
    const audit = await openAuditTrail(config, cliLogger);
    try {
      const actions = buildActions({
        store,
        config: () => config,
        logger: cliLogger,
        stats: new ServerStats(),
        audit: audit ?? undefined,
      });
      const result = await actions.delete(target.level, target.uid, {
        user: `${osUser()} (command line)`,
        from: "localhost",
      });
      if (json) console.log(JSON.stringify({ deleted: target.level, ...result }, null, 2));
      if (result.instances === 0) {
        console.error(`minipacs: delete: no such ${target.level} in ${config.storage.path}`);
        return 1;
      }
      if (!json) {
        console.log(
          `deleted ${target.level} ${target.uid}: ${result.instances} instance(s), ${
            mb(result.bytes)
          } (offline, in ${config.storage.path})`,
        );
      }
      return 0;
    } finally {
      await audit?.close();
      await store.close();
    }
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    console.error(`minipacs: delete: ${(e as Error).message}`);
    return 1;
  } finally {
    lock.release();
  }
}

export const deleteCommand: Command = {
  summary: "delete a study, series or instance (through the running server, or offline)",
  usage: [
    "Usage: minipacs delete --study UID | --series UID | --instance UID [--url URL]",
    "                       [--user NAME[:PASSWORD]] [--json]",
    "",
    "Deletes from the index and the disk in one crash-safe step. With a server running, through",
    "its API (DELETE /api/studies/UID...); with none running, directly on the storage folder.",
    "A server that runs but whose API cannot be reached is never bypassed: nothing is deleted.",
    "Exits 0 when something was deleted, 1 when nothing by that UID exists or it failed.",
    "",
    ...API_OPTION_HELP,
  ].join("\n"),
  options: { ...API_OPTIONS },
  run,
};
