// `minipacs store AET@host:port <files or folders...>`: C-STORE SCU (PS3.4 B.2), like DCMTK's
// storescu. Each Part 10 file is sent as it is on disk: its dataset is streamed from the file in
// chunks, never decoded, re-encoded or held whole in memory. One presentation context per
// SOP class / transfer syntax pair found; more than 128 pairs take several associations.
import { CommandField, DATASET_PRESENT, Priority } from "../core/dimse/command.ts";
import { statusCategory, statusText } from "../core/dimse/status.ts";
import { decodeFileMetaInformation } from "../core/dicom/part10.ts";
import { sopClassName } from "../core/dicom/sop_classes.ts";
import { DEFLATED_EXPLICIT_VR_LE, TRANSFER_SYNTAXES } from "../core/dicom/transfer_syntaxes.ts";
import type { Config } from "../config.ts";
import type { Connector } from "../core/ports.ts";
import type { RequestorAssociation } from "../core/ul/requestor.ts";
import {
  type Command,
  type CommandArgs,
  numberOption,
  stderrIsTerminal,
  UsageError,
  writeStderr,
} from "./subcommand.ts";
import { releaseOrAbort } from "../core/services/scu_association.ts";
import { openScu, parsePeer, type Peer, scuIdentity } from "./scu.ts";
import { scuConnector, tlsOptions, tlsUsage } from "./tls_options.ts";

/** PS3.8 9.3.2.2: presentation context ids are odd, 1 to 255, so at most 128 per association. */
export const MAX_CONTEXTS = 128;
const READ_CHUNK = 64 * 1024;
const MAX_META = 1024 * 1024;
/** Media Storage Directory (DICOMDIR, PS3.10 8): a file-set index, not an object to store. */
const DICOMDIR_CLASS = "1.2.840.10008.1.3.10";

/** One Part 10 file ready to send. */
export interface Part10File {
  path: string;
  size: number;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  /** Where the dataset starts (after preamble, DICM and group 0002). */
  datasetOffset: number;
}

export type ScanResult = { file: Part10File } | { skipped: string };

/** Reads the file meta of `path`; a file that is not DICOM Part 10 says why it is skipped. */
export async function scanPart10(path: string): Promise<ScanResult> {
  const file = await Deno.open(path, { read: true });
  try {
    const size = (await file.stat()).size;
    let head = new Uint8Array(Math.min(READ_CHUNK, size));
    let have = await readFull(file, head);
    // The file meta is small; let it be larger than the first chunk, up to MAX_META.
    for (;;) {
      try {
        const { meta, datasetOffset } = decodeFileMetaInformation(head.subarray(0, have));
        if (datasetOffset >= have && have < size && head.length < MAX_META) throw new Error("more");
        if (meta.sopClassUid === DICOMDIR_CLASS) return { skipped: "a DICOMDIR" };
        if (!meta.sopClassUid || !meta.sopInstanceUid) {
          return { skipped: "file meta lacks the SOP Class or SOP Instance UID" };
        }
        return {
          file: {
            path,
            size,
            sopClassUid: meta.sopClassUid,
            sopInstanceUid: meta.sopInstanceUid,
            transferSyntaxUid: meta.transferSyntaxUid,
            datasetOffset,
          },
        };
      } catch (e) {
        if (have < head.length || have >= size || head.length >= MAX_META) {
          return { skipped: (e as Error).message };
        }
      }
      const bigger = new Uint8Array(Math.min(head.length * 4, MAX_META, size));
      bigger.set(head.subarray(0, have));
      await file.seek(have, Deno.SeekMode.Start);
      have += await readFull(file, bigger.subarray(have));
      head = bigger;
    }
  } finally {
    file.close();
  }
}

/** Fills `buf` from the file's current position; returns how many bytes were read. */
async function readFull(file: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let have = 0;
  while (have < buf.length) {
    const n = await file.read(buf.subarray(have));
    if (n === null) break;
    have += n;
  }
  return have;
}

/** Every regular file named or below a named folder, folders in name order. */
export async function* listFiles(paths: string[]): AsyncGenerator<string | { missing: string }> {
  for (const path of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch {
      yield { missing: path };
      continue;
    }
    if (info.isFile) yield path;
    else if (info.isDirectory) yield* walk(path);
  }
}

async function* walk(dir: string): AsyncGenerator<string> {
  const entries: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) entries.push(e);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const path = `${dir.replace(/\/+$/, "")}/${e.name}`;
    if (e.isDirectory) yield* walk(path); // symbolic links to folders are not followed
    else if (e.isFile || (e.isSymlink && (await Deno.stat(path).catch(() => null))?.isFile)) {
      yield path;
    }
  }
}

/** Groups files into associations of at most MAX_CONTEXTS SOP class / transfer syntax pairs. */
export function planAssociations(files: Part10File[]): {
  contexts: { id: number; abstractSyntax: string; transferSyntaxes: string[] }[];
  files: Part10File[];
}[] {
  const pairOf = (f: Part10File) => `${f.sopClassUid}|${f.transferSyntaxUid}`;
  const batchOfPair = new Map<string, number>();
  const batches: ReturnType<typeof planAssociations> = [];
  for (const f of files) {
    const key = pairOf(f);
    let b = batchOfPair.get(key);
    if (b === undefined) {
      let last = batches.at(-1);
      if (!last || last.contexts.length >= MAX_CONTEXTS) {
        last = { contexts: [], files: [] };
        batches.push(last);
      }
      b = batches.length - 1;
      batchOfPair.set(key, b);
      last.contexts.push({
        id: last.contexts.length * 2 + 1,
        abstractSyntax: f.sopClassUid,
        transferSyntaxes: [f.transferSyntaxUid],
      });
    }
    batches[b].files.push(f);
  }
  return batches;
}

/**
 * The dataset bytes of a Part 10 file, read in chunks as the network takes them. A deflated
 * bit stream of odd length gets its trailing NUL pad (PS3.5 A.5): fragments must be even.
 */
async function* datasetChunks(f: Part10File, onChunk: (n: number) => void) {
  const file = await Deno.open(f.path, { read: true });
  try {
    await file.seek(f.datasetOffset, Deno.SeekMode.Start);
    for (let left = f.size - f.datasetOffset; left > 0;) {
      // A fresh buffer each time: the packer may keep a view of it until written.
      const chunk = new Uint8Array(Math.min(READ_CHUNK, left));
      const n = await file.read(chunk);
      if (n === null) throw new Error("the file became shorter while being sent");
      left -= n;
      onChunk(n);
      yield chunk.subarray(0, n);
    }
    if ((f.size - f.datasetOffset) % 2 === 1) yield new Uint8Array(1);
  } finally {
    file.close();
  }
}

function tsName(uid: string): string {
  return TRANSFER_SYNTAXES.get(uid)?.name ?? uid;
}

/** "[#####.....] 12/40 files, 3.1/9.8 MB" on one terminal line, at most 10 times a second. */
class ProgressBar {
  #enabled = stderrIsTerminal();
  #last = 0;
  #shown = false;
  constructor(readonly totalFiles: number, readonly totalBytes: number) {}
  update(files: number, bytes: number): void {
    const now = performance.now();
    if (!this.#enabled || now - this.#last < 100) return;
    this.#last = now;
    this.#shown = true;
    const width = 30;
    const filled = Math.round(width * (this.totalBytes ? Math.min(1, bytes / this.totalBytes) : 1));
    const mb = (n: number) => (n / 1e6).toFixed(1);
    writeStderr(
      `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${files}/${this.totalFiles} files, ` +
        `${mb(bytes)}/${mb(this.totalBytes)} MB\x1b[K`,
    );
  }
  /** Clears the bar so that a message can take the line. */
  clear(): void {
    if (this.#shown) writeStderr("\r\x1b[K");
    this.#shown = false;
  }
}

interface StoreRun {
  peer: Peer;
  calling: string;
  config: Config;
  timeoutMs: number;
  verbose: boolean;
  connector: Connector;
}

/** Sends the files and counts the outcome; messages for failures go to stderr. */
class Sender {
  stored = 0;
  failed = 0;
  #sentFiles = 0;
  #sentBytes = 0;
  readonly #bar: ProgressBar;
  readonly #where: string;

  constructor(readonly o: StoreRun, files: Part10File[]) {
    this.#bar = new ProgressBar(
      files.length,
      files.reduce((n, f) => n + f.size - f.datasetOffset, 0),
    );
    this.#where = `${o.peer.aeTitle}@${o.peer.host}:${o.peer.port}`;
  }

  fail(path: string, why: string): void {
    this.failed++;
    this.#bar.clear();
    writeStderr(`minipacs: store: failed: ${path}: ${why}\n`);
  }

  /** Fails several files for one reason: the first few named, the rest counted. */
  failAll(files: Part10File[], why: string): void {
    for (const f of files.slice(0, 10)) this.fail(f.path, why);
    if (files.length > 10) {
      this.failed += files.length - 10;
      this.note(`... and ${files.length - 10} more files not sent: ${why}`);
    }
  }

  note(text: string): void {
    this.#bar.clear();
    writeStderr(`minipacs: store: ${text}\n`);
  }

  done(): void {
    this.#bar.clear();
  }

  /** Sends every file, each batch on its own association(s). */
  async sendAll(files: Part10File[]): Promise<void> {
    for (const batch of planAssociations(files)) {
      let pending = batch.files;
      // Each pass sends or fails at least one file, so this ends.
      while (pending.length > 0) pending = await this.#sendBatch(batch.contexts, pending);
    }
  }

  /** Returns the files left unsent when the peer aborted the association (to retry). */
  async #sendBatch(
    contexts: ReturnType<typeof planAssociations>[number]["contexts"],
    files: Part10File[],
  ): Promise<Part10File[]> {
    const { o } = this;
    let assoc: RequestorAssociation;
    try {
      assoc = await openScu({
        peer: o.peer,
        callingAeTitle: o.calling,
        config: o.config,
        timeoutMs: o.timeoutMs,
        connector: o.connector,
        presentationContexts: contexts,
      });
    } catch (e) {
      this.failAll(files, (e as Error).message);
      return [];
    }
    // A peer that stops reading or answering for timeoutMs ends the association.
    let lastProgress = performance.now();
    let stalled = false;
    const watchdog = setInterval(() => {
      if (performance.now() - lastProgress > o.timeoutMs) {
        stalled = true;
        void assoc.abort();
      }
    }, Math.min(1000, o.timeoutMs / 4));
    try {
      for (const [i, f] of files.entries()) {
        lastProgress = performance.now();
        const ended = await this.#sendOne(
          assoc,
          f,
          () => (lastProgress = performance.now()),
          () => (stalled ? `no progress for ${o.timeoutMs / 1000} s` : undefined),
        );
        if (ended === undefined) continue;
        const rest = files.slice(i + 1);
        if (!stalled) return rest; // aborted because of this file, perhaps: retry the rest
        this.failAll(rest, `not sent: no progress for ${o.timeoutMs / 1000} s`);
        return [];
      }
      return [];
    } finally {
      clearInterval(watchdog);
      await releaseOrAbort(assoc, o.timeoutMs);
    }
  }

  /** Sends one file; returns the reason when the association ended with it. */
  async #sendOne(
    assoc: RequestorAssociation,
    f: Part10File,
    onProgress: () => void,
    stalled: () => string | undefined,
  ): Promise<string | undefined> {
    const pc = assoc.contextFor(f.sopClassUid, f.transferSyntaxUid);
    const odd = (f.size - f.datasetOffset) % 2 === 1;
    if (!pc) {
      this.fail(
        f.path,
        `${this.#where} does not accept ${sopClassName(f.sopClassUid)} in ${
          tsName(f.transferSyntaxUid)
        } (no conversion is made)`,
      );
    } else if (odd && f.transferSyntaxUid !== DEFLATED_EXPLICIT_VR_LE) {
      this.fail(f.path, "the dataset has an odd length: not valid DICOM (PS3.5 7.1)");
    } else {
      try {
        const rsp = await assoc.request(
          pc.id,
          {
            commandField: CommandField.CStoreRq,
            commandDataSetType: DATASET_PRESENT,
            affectedSopClassUid: f.sopClassUid,
            affectedSopInstanceUid: f.sopInstanceUid,
            priority: Priority.Medium,
          },
          datasetChunks(f, (n) => {
            onProgress();
            this.#sentBytes += n;
            this.#bar.update(this.#sentFiles, this.#sentBytes);
          }),
        );
        const status = rsp.command.status ?? -1;
        const category = statusCategory(status);
        if (category === "success" || category === "warning") {
          this.stored++;
          if (this.o.verbose || category === "warning") {
            this.note(`${f.path}: status ${statusText(status)}`);
          }
        } else {
          const comment = rsp.command.errorComment ? ` (${rsp.command.errorComment})` : "";
          this.fail(f.path, `status ${statusText(status)}${comment}`);
        }
      } catch (e) {
        // The message may be half sent: this association cannot carry another one.
        const why = stalled() ?? (e as Error).message;
        this.fail(f.path, why);
        await assoc.abort();
        return why;
      }
    }
    this.#sentFiles++;
    this.#bar.update(this.#sentFiles, this.#sentBytes);
    return assoc.state === 6 ? undefined : "association ended";
  }
}

async function run(args: CommandArgs): Promise<number> {
  if (args.positionals.length < 2) {
    throw new UsageError("store takes AET@host:port and at least one file or folder");
  }
  const peer = parsePeer(args.positionals[0]);
  const timeoutMs = numberOption(args.values, "timeout", 30) * 1000;
  const verbose = args.values.verbose === true;
  const connector = await scuConnector(args.values);
  const { config, calling } = await scuIdentity(args);

  const files: Part10File[] = [];
  const problems: [string, string][] = [];
  let skipped = 0;
  for await (const entry of listFiles(args.positionals.slice(1))) {
    if (typeof entry !== "string") {
      problems.push([entry.missing, "no such file or folder"]);
      continue;
    }
    try {
      const scanned = await scanPart10(entry);
      if ("file" in scanned) files.push(scanned.file);
      else {
        skipped++;
        if (verbose) writeStderr(`minipacs: store: skipped: ${entry}: ${scanned.skipped}\n`);
      }
    } catch (e) {
      problems.push([entry, (e as Error).message]);
    }
  }
  const sender = new Sender({ peer, calling, config, timeoutMs, verbose, connector }, files);
  for (const [path, why] of problems) sender.fail(path, why);
  await sender.sendAll(files);
  sender.done();
  console.log(`stored ${sender.stored}, failed ${sender.failed}, skipped ${skipped} (not DICOM)`);
  return sender.failed > 0 ? 1 : 0;
}

export const storeCommand: Command = {
  summary: "send DICOM files and folders to AET@host:port with C-STORE",
  usage: [
    "Usage: minipacs store AET@host:port <files or folders...> [--aet CALLING] [--timeout S]",
    "                      [--tls [--cert FILE --key FILE] [--ca FILE]]",
    "",
    "Sends every DICOM Part 10 file given or found below a given folder, unchanged (no",
    "transfer syntax conversion), and prints `stored N, failed M, skipped K (not DICOM)`.",
    "Exits 1 if any file failed.",
    "",
    "  --aet CALLING     our calling AE title (default: server.ae_title of the configuration)",
    "  --timeout S       seconds without progress before giving up on the peer (default 30)",
    "  -v, --verbose     name every file skipped or stored",
    ...tlsUsage(),
  ].join("\n"),
  options: {
    aet: { type: "string" },
    timeout: { type: "string" },
    verbose: { type: "boolean", short: "v" },
    ...tlsOptions(),
  },
  run,
};
