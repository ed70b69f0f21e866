// `minipacs reindex`: rebuilds index.sqlite from the files on disk (home files and journal
// segments), with progress on stderr and a summary. Refused while a server uses the storage.
import { createLogger } from "../log.ts";
import { LOCK_FILE, lockStorage, StorageLockedError } from "../storage/lock.ts";
import { reindex } from "../storage/reindex.ts";
import {
  type Command,
  type CommandArgs,
  loadEffectiveConfig,
  UsageError,
  writeStderr,
} from "./subcommand.ts";

/** How many skipped files the summary names one by one. */
const LIST_SKIPPED = 50;
/** A progress line every this many files scanned (and at least once a second). */
const PROGRESS_EVERY = 1000;

async function run(args: CommandArgs): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError("reindex takes no arguments");
  const { config } = await loadEffectiveConfig(args.values);
  const root = config.storage.path.replace(/\/+$/, "") || "/";
  try {
    if (!(await Deno.stat(root)).isDirectory) throw new Error("not a folder");
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such folder" : (e as Error).message;
    console.error(`minipacs: reindex: storage ${root}: ${why}`);
    return 1;
  }
  let lock;
  try {
    lock = await lockStorage(root);
  } catch (e) {
    if (!(e instanceof StorageLockedError)) throw e;
    console.error(`minipacs: reindex: ${e.message}`);
    return 1;
  }
  const logger = createLogger(config.log.level === "debug" ? "debug" : "warn", config.log.format);
  const started = performance.now();
  let lastPrint = started;
  try {
    writeStderr(`reindexing ${root}\n`);
    const result = await reindex(root, logger, (p) => {
      const now = performance.now();
      // Every 1000th file, and at least once a second: a slow start cannot shift the count.
      if (p.scanned % PROGRESS_EVERY !== 0 && now - lastPrint < 1000) return;
      lastPrint = now;
      writeStderr(`  ${p.scanned} files scanned, ${p.indexed} objects indexed\n`);
    });
    const skipped = result.skipped.filter((s) => s.path !== LOCK_FILE);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `reindex done in ${seconds} s: ${result.indexed} objects indexed, ${skipped.length} files skipped`,
    );
    for (const s of skipped.slice(0, LIST_SKIPPED)) console.log(`  skipped ${s.path}: ${s.reason}`);
    if (skipped.length > LIST_SKIPPED) {
      console.log(`  ... and ${skipped.length - LIST_SKIPPED} more`);
    }
    return 0;
  } catch (e) {
    console.error(`minipacs: reindex failed, the old index is kept: ${(e as Error).message}`);
    return 1;
  } finally {
    lock.release();
  }
}

export const reindexCommand: Command = {
  summary: "rebuild the index from the files in the storage folder (server stopped)",
  usage: [
    "Usage: minipacs reindex [--config FILE] [--storage DIR]",
    "",
    "Rebuilds index.sqlite from the stored files and the journal. The new index replaces the",
    "old one only when complete. Refused while a server uses the same storage folder.",
  ].join("\n"),
  run,
};
