// What `move` and `get` share: the identifier from -k keys (unique keys only, PS3.4 C.4.2.1.4),
// one C-MOVE or C-GET with its Pending responses counted, Ctrl-C as C-CANCEL, and the result
// printed like find's: a table or JSON on stdout, the final status on stderr.
import { DATASET_PRESENT, Priority } from "../core/dimse/command.ts";
import { Status, statusText } from "../core/dimse/status.ts";
import { decodeDataset, encodeDataset, encodingOf } from "../core/dicom/dataset.ts";
import type { DimseResponse } from "../core/dimse/service_contract.ts";
import { releaseOrAbort } from "../core/services/scu_association.ts";
import type { RequestorAssociation } from "../core/ul/requestor.ts";
import {
  type CommandArgs,
  numberOption,
  stringOption,
  UsageError,
  writeStderr,
} from "./subcommand.ts";
import { parsePeer, type Peer } from "./scu.ts";
import { tlsOptions, tlsUsage } from "./tls_options.ts";
import {
  addSigint,
  buildRequest,
  type FindRequest,
  formatTable,
  identifierElements,
  removeSigint,
} from "./find.ts";

/** Failed SOP Instance UID List (0008,0058), PS3.4 C.4.2.1.4. */
const FAILED_SOP_INSTANCE_UID_LIST = 0x00080058;

/** The identifier of a retrieve: -k keys with --level / --root, no return keys added. */
export function retrieveRequest(args: CommandArgs): FindRequest {
  const keyArgs = (Array.isArray(args.values.key) ? args.values.key : []).map(String);
  return buildRequest(
    keyArgs,
    stringOption(args.values, "level"),
    stringOption(args.values, "root"),
    false,
  );
}

/** The peer, the timeout and the identifier of `move` or `get` (`name`) from its arguments. */
export function retrieveArgs(
  args: CommandArgs,
  name: "move" | "get",
): { peer: Peer; timeoutMs: number; request: FindRequest } {
  if (args.positionals.length !== 1) throw new UsageError(`${name} takes one AET@host:port`);
  const peer = parsePeer(args.positionals[0]);
  const timeoutMs = numberOption(args.values, "timeout", 30) * 1000;
  return { peer, timeoutMs, request: retrieveRequest(args) };
}

/** The four counts and the final status of a C-MOVE or C-GET (PS3.7 9.1.3.1, 9.1.4.1). */
export interface RetrieveResult {
  status: number;
  errorComment?: string;
  completed: number;
  failed: number;
  warning: number;
  remaining: number;
  /** The Failed SOP Instance UID List of the final response. */
  failedSopInstanceUids: string[];
}

/**
 * Sends one C-MOVE-RQ or C-GET-RQ on the context of `sopClass` and waits for the final
 * response; `onProgress` sees each Pending response's counts. Ctrl-C sends C-CANCEL, a
 * second one aborts. The peer must say something at least every `timeoutMs`, except while
 * a sub-operation of ours (C-GET) is running.
 */
export async function runRetrieveRequest(
  assoc: RequestorAssociation,
  pcId: number,
  sopClass: string,
  request: FindRequest,
  options: {
    commandField: number;
    moveDestination?: string;
    timeoutMs: number;
    name: string;
    onProgress?: (r: RetrieveResult) => void;
    /** Milliseconds since the peer last sent us anything (C-GET: a C-STORE-RQ counts). */
    lastHeard?: () => number;
  },
): Promise<RetrieveResult> {
  const encoding = encodingOf(assoc.contexts.get(pcId)!.transferSyntax);
  const messageId = assoc.newMessageId();
  let cancelled = false;
  const onSignal = () => {
    if (cancelled) {
      void assoc.abort();
      return;
    }
    cancelled = true;
    writeStderr(`minipacs: ${options.name}: cancelling (Ctrl-C again to abort)\n`);
    assoc.cancel(pcId, messageId).catch(() => {});
  };
  addSigint(onSignal);
  let heard = performance.now();
  let silent = false;
  const watchdog = setInterval(() => {
    const last = Math.max(heard, options.lastHeard?.() ?? 0);
    if (performance.now() - last > options.timeoutMs) {
      silent = true;
      void assoc.abort();
    }
  }, Math.min(1000, options.timeoutMs / 4));
  try {
    const rsp = await assoc.requestWithPending(
      pcId,
      {
        commandField: options.commandField,
        commandDataSetType: DATASET_PRESENT,
        messageId,
        affectedSopClassUid: sopClass,
        priority: Priority.Medium,
        moveDestination: options.moveDestination,
      },
      encodeDataset(identifierElements(request), encoding),
      (pending) => {
        heard = performance.now();
        options.onProgress?.(resultOf(pending, encoding));
      },
    ).catch((e) => {
      throw new Error(silent ? `no answer within ${options.timeoutMs / 1000} s` : e.message);
    });
    return resultOf(rsp, encoding);
  } finally {
    clearInterval(watchdog);
    removeSigint(onSignal);
  }
}

function resultOf(rsp: DimseResponse, encoding: ReturnType<typeof encodingOf>): RetrieveResult {
  const c = rsp.command;
  let failedSopInstanceUids: string[] = [];
  if (rsp.dataset) {
    try {
      const el = decodeDataset(rsp.dataset, encoding).find((e) =>
        e.tag === FAILED_SOP_INSTANCE_UID_LIST
      );
      if (el) {
        failedSopInstanceUids = new TextDecoder().decode(el.value).replace(/[\0 ]+$/, "")
          .split("\\").filter((u) => u !== "");
      }
    } catch { /* an unreadable identifier: the counts still say it */ }
  }
  return {
    status: c.status ?? 0xffff,
    errorComment: c.errorComment,
    completed: c.numberOfCompletedSuboperations ?? 0,
    failed: c.numberOfFailedSuboperations ?? 0,
    warning: c.numberOfWarningSuboperations ?? 0,
    remaining: c.numberOfRemainingSuboperations ?? 0,
    failedSopInstanceUids,
  };
}

/**
 * The rest of move and get once the association is open: one request with its progress on
 * stderr, the result printed; the association released whatever happens. Returns the exit code.
 */
export async function retrieveAndPrint(
  assoc: RequestorAssociation,
  pcId: number,
  sopClass: string,
  request: FindRequest,
  options: Parameters<typeof runRetrieveRequest>[4] & {
    print: Omit<Parameters<typeof printRetrieveResult>[0], "files">;
    /** The files written so far (get), printed with the result and counted on failure. */
    files?: Parameters<typeof printRetrieveResult>[0]["files"];
  },
): Promise<number> {
  const { print, files, ...run } = options;
  try {
    const progress = stderrProgress(run.name);
    let result;
    try {
      result = await runRetrieveRequest(assoc, pcId, sopClass, request, {
        ...run,
        onProgress: progress.update,
      });
    } catch (e) {
      progress.done();
      const after = files ? ` (after ${files.length} files)` : "";
      console.error(`minipacs: ${run.name}: ${print.where}: ${(e as Error).message}${after}`);
      return 1;
    }
    progress.done();
    return printRetrieveResult({ ...print, ...(files ? { files } : {}) }, result);
  } finally {
    await releaseOrAbort(assoc, run.timeoutMs);
  }
}

/**
 * Prints the outcome as find prints matches: one row (or with --json one object) on stdout,
 * then the summary line on stderr. `rows` are extra table rows (get: the files written).
 * Returns the exit code: 0 only when every sub-operation completed (status 0x0000).
 */
export function printRetrieveResult(
  o: {
    name: "C-MOVE" | "C-GET";
    where: string;
    calling: string;
    destination?: string;
    json: boolean;
    files?: {
      sopInstanceUid: string;
      sopClassUid: string;
      transferSyntaxUid: string;
      path: string;
    }[];
  },
  r: RetrieveResult,
): number {
  if (o.json) {
    console.log(JSON.stringify(
      {
        status: r.status,
        statusText: statusText(r.status),
        errorComment: r.errorComment ?? null,
        completed: r.completed,
        failed: r.failed,
        warning: r.warning,
        remaining: r.status === Status.Cancel ? r.remaining : 0,
        failedSopInstanceUids: r.failedSopInstanceUids,
        ...(o.destination !== undefined ? { destination: o.destination } : {}),
        ...(o.files ? { files: o.files } : {}),
      },
      null,
      2,
    ));
  } else {
    if (o.files && o.files.length > 0) {
      const rows = o.files.map((f) => ({
        SOPInstanceUID: f.sopInstanceUid,
        SOPClassUID: f.sopClassUid,
        TransferSyntaxUID: f.transferSyntaxUid,
        File: f.path,
      }));
      console.log(
        formatTable(["SOPInstanceUID", "SOPClassUID", "TransferSyntaxUID", "File"], rows)
          .trimEnd(),
      );
    }
    const row: Record<string, string> = {
      Completed: String(r.completed),
      Failed: String(r.failed),
      Warning: String(r.warning),
      Status: `0x${r.status.toString(16).toUpperCase().padStart(4, "0")}`,
    };
    if (r.status === Status.Cancel) row.Remaining = String(r.remaining);
    console.log(formatTable(Object.keys(row), [row]).trimEnd());
    for (const uid of r.failedSopInstanceUids) console.log(`failed: ${uid}`);
  }
  const to = o.destination !== undefined ? ` to ${o.destination}` : "";
  const comment = r.errorComment ? ` (${r.errorComment})` : "";
  writeStderr(
    `${o.name} ${o.where}${to} as ${o.calling}: completed ${r.completed}, failed ${r.failed}, ` +
      `warning ${r.warning}, status ${statusText(r.status)}${comment}\n`,
  );
  return r.status === Status.Success ? 0 : 1;
}

/** The options C-MOVE and C-GET share: their --help lines, then the parseArgs table. */
export const RETRIEVE_OPTION_HELP = [
  "  -k, --key K=V     a unique key by keyword (StudyInstanceUID) or tag (0020,000D);",
  "                    lists as UID1\\UID2. Below STUDY the keys of the levels above too",
  "  --level L         PATIENT, STUDY (default), SERIES or IMAGE",
  "  --root R          study (default) or patient: the Query/Retrieve information model",
  "                    (PATIENT level implies patient)",
  "  --aet CALLING     our calling AE title (default: server.ae_title of the configuration)",
  "  --json            print the result as a JSON object",
  "  --timeout S       seconds to wait for the peer at each step (default 30)",
  // -k is a query key here, as in find: the private key is --cert-key.
  ...tlsUsage(false),
];

export const RETRIEVE_OPTIONS = {
  key: { type: "string", short: "k", multiple: true },
  level: { type: "string" },
  root: { type: "string" },
  aet: { type: "string" },
  json: { type: "boolean" },
  timeout: { type: "string" },
  ...tlsOptions(false),
} as const;

/** Progress as one line rewritten in place while stderr is a terminal; nothing otherwise. */
export function stderrProgress(name: string): {
  update: (r: RetrieveResult) => void;
  done: () => void;
} {
  let tty = false;
  try {
    tty = Deno.stderr.isTerminal();
  } catch { /* not a terminal */ }
  let shown = false;
  return {
    update: (r) => {
      if (!tty) return;
      shown = true;
      writeStderr(
        `\r${name}: ${r.completed} completed, ${r.failed} failed, ${r.warning} warning, ` +
          `${r.remaining} remaining\x1b[K`,
      );
    },
    done: () => {
      if (shown) writeStderr("\n");
      shown = false;
    },
  };
}
