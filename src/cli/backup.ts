// `minipacs backup DEST` and `minipacs restore SRC`: a consistent copy of the storage folder,
// taken while the server runs or not (storage/backup.ts says how), and put back into an
// empty storage folder, verified by opening it as the server does and reading every object.
import { backupStorage, restoreStorage } from "../storage/backup.ts";
import { StorageLockedError } from "../storage/lock.ts";
import {
  type Command,
  type CommandArgs,
  loadEffectiveConfig,
  stderrIsTerminal,
  UsageError,
  writeStderr,
} from "./subcommand.ts";
import { cliLogger } from "./scu.ts";

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

async function backup(args: CommandArgs): Promise<number> {
  if (args.positionals.length !== 1) throw new UsageError("backup takes one DEST folder");
  const dest = args.positionals[0];
  const { config } = await loadEffectiveConfig(args.values);
  const tty = stderrIsTerminal();
  let last = 0;
  try {
    const r = await backupStorage(config.storage.path, dest, cliLogger, (done, total) => {
      if (tty && (done === total || performance.now() - last > 200)) {
        last = performance.now();
        writeStderr(`\rbackup: ${done}/${total} objects\x1b[K${done === total ? "\n" : ""}`);
      }
    });
    console.log(
      `backup of ${config.storage.path} in ${dest}: ${r.instances} objects, ${mib(r.bytes)}` +
        (r.fromJournal ? ` (${r.fromJournal} from the journal)` : "") +
        (r.deletedMeanwhile ? `; ${r.deletedMeanwhile} deleted during the backup left out` : ""),
    );
    return 0;
  } catch (e) {
    console.error(`minipacs: backup: ${(e as Error).message}`);
    return 1;
  }
}

async function restore(args: CommandArgs): Promise<number> {
  if (args.positionals.length !== 1) throw new UsageError("restore takes one SRC folder");
  const src = args.positionals[0];
  const { config } = await loadEffectiveConfig(args.values);
  try {
    const r = await restoreStorage(src, config.storage.path, cliLogger, config.server);
    console.log(
      `restored ${src} into ${config.storage.path}: ${r.instances} objects, ${
        mib(r.bytes)
      }, every one read back`,
    );
    return 0;
  } catch (e) {
    const why = e instanceof StorageLockedError
      ? `${e.message} (a server is using it)`
      : (e as Error).message;
    console.error(`minipacs: restore: ${why}`);
    return 1;
  }
}

export const backupCommand: Command = {
  summary: "copy the storage folder (index and images) to DEST, server running or not",
  usage: [
    "Usage: minipacs backup DEST [--config FILE]",
    "",
    "Copies [storage] path to the folder DEST (empty or new): a snapshot of the index taken",
    "with SQLite's VACUUM INTO, and every object it lists as a Part 10 file (objects still in",
    "the journal are copied out of it), so the backup needs no journal. Safe while the server",
    "runs and stores: what was acknowledged before the backup began is in it. DEST holds an",
    "index.sqlite only once complete. Exits 0 when done, 1 on a failure.",
  ].join("\n"),
  run: backup,
};

export const restoreCommand: Command = {
  summary: "put a backup back into an empty storage folder and verify it",
  usage: [
    "Usage: minipacs restore SRC [--config FILE] [--storage DIR]",
    "",
    "Copies the backup SRC into [storage] path (it must be empty or missing, and no server may",
    "use it), opens it as the server does at start-up and reads every object back. Exits 0",
    "when every object is there and readable, 1 otherwise.",
  ].join("\n"),
  run: restore,
};
