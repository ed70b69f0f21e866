// `minipacs find AET@host:port -k Key=Value ...`: one C-FIND (PS3.4 C.4.1, PS3.7 9.1.2), like
// DCMTK's findscu; the matches as a table or JSON, the final status on stderr.
import { CommandField, DATASET_PRESENT, Priority } from "../core/dimse/command.ts";
import { Status, statusCategory, statusText } from "../core/dimse/status.ts";
import {
  charsetOf,
  type DataElement,
  decodeDataset,
  encodeDataset,
  encodingOf,
  isStringVr,
  numbersOf,
  textElement,
  textOf,
} from "../core/dicom/dataset.ts";
import {
  type Level,
  LEVELS,
  type Model,
  QR_SOP_CLASSES,
  QUERY_RETRIEVE_LEVEL,
  SPECIFIC_CHARACTER_SET,
} from "../core/query/keys.ts";
import type { DimseResponse } from "../core/dimse/service_contract.ts";
import {
  type Command,
  type CommandArgs,
  numberOption,
  stringOption,
  UsageError,
  writeStderr,
} from "./subcommand.ts";
import { releaseOrAbort } from "../core/services/scu_association.ts";
import { openQueryRetrieveScu, parsePeer, peerName, scuIdentity } from "./scu.ts";
import { scuConnector, tlsOptions, tlsUsage } from "./tls_options.ts";
import { dictionaryEntry, tagOfKeyword } from "../core/dicom/dictionary.ts";

/** Sent when a value is not ASCII (PS3.3 C.12.1.1.2). */
const UTF8 = "ISO_IR 192";

/** One key of the identifier: its tag, VR, the name shown, and the value asked ("" = return key). */
export interface FindKey {
  tag: number;
  vr: string;
  name: string;
  value: string;
}

/** Codes of VRs that depend on context, as the usual choice. */
const AMBIGUOUS_VR: Record<string, string> = { xs: "US", ox: "OB", lt: "OW", up: "UL" };

/** A keyword (PatientName, case-insensitive as a fallback) or a tag (0010,0010 / 00100010). */
export function lookupKey(text: string): { tag: number; vr: string; name: string } | undefined {
  const m = /^\(?([0-9a-f]{4}),?([0-9a-f]{4})\)?$/i.exec(text.trim());
  const tag = m ? parseInt(m[1] + m[2], 16) : tagOfKeyword(text, true);
  if (tag === undefined) return undefined;
  const entry = dictionaryEntry(tag);
  if (!entry) return m ? { tag, vr: "UN", name: `${m[1]},${m[2]}`.toUpperCase() } : undefined;
  return { tag, vr: AMBIGUOUS_VR[entry.vr] ?? entry.vr.toUpperCase(), name: entry.keyword };
}

/** Return keys added, unless given, at each level (like the usual findscu queries). */
export const DEFAULT_KEYS: Record<Level, readonly string[]> = {
  PATIENT: [
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "NumberOfPatientRelatedStudies",
  ],
  STUDY: [
    "PatientName",
    "PatientID",
    "StudyDate",
    "StudyDescription",
    "AccessionNumber",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedInstances",
    "StudyInstanceUID",
  ],
  SERIES: [
    "StudyInstanceUID",
    "SeriesNumber",
    "Modality",
    "SeriesDescription",
    "NumberOfSeriesRelatedInstances",
    "SeriesInstanceUID",
  ],
  IMAGE: [
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "InstanceNumber",
    "SOPClassUID",
    "SOPInstanceUID",
  ],
};

export interface FindRequest {
  model: Model;
  level: Level;
  /** The keys, in column order (without Query/Retrieve Level and Specific Character Set). */
  keys: FindKey[];
  /** Specific Character Set sent ("" = none: every value is ASCII). */
  specificCharacterSet: string;
}

/**
 * The request from the command line: `-k` keys (Key=Value, or Key alone for a return key),
 * --level, --root; the level's default return keys appended. Throws UsageError.
 */
export function buildRequest(
  keyArgs: readonly string[],
  levelOption?: string,
  rootOption?: string,
  /** Add the level's usual return keys (C-FIND); a retrieve identifier has none. */
  returnKeys = true,
): FindRequest {
  const keys: FindKey[] = [];
  let levelKey: string | undefined;
  let charset: string | undefined;
  for (const arg of keyArgs) {
    const eq = arg.indexOf("=");
    const keyText = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? "" : arg.slice(eq + 1);
    const key = lookupKey(keyText);
    if (!key) throw new UsageError(`-k ${arg}: unknown key "${keyText}" (a keyword or gggg,eeee)`);
    if (key.tag === QUERY_RETRIEVE_LEVEL) levelKey = value.trim().toUpperCase();
    else if (key.tag === SPECIFIC_CHARACTER_SET) charset = value.trim();
    else if (keys.some((k) => k.tag === key.tag)) {
      throw new UsageError(`-k ${arg}: ${key.name} is given twice`);
    } else if (value !== "" && !isStringVr(key.vr) && key.vr !== "SQ") {
      throw new UsageError(`-k ${arg}: values of ${key.vr} keys are not supported`);
    } else if (value !== "" && key.vr === "SQ") {
      throw new UsageError(`-k ${arg}: a sequence key takes no value (it returns the sequence)`);
    } else keys.push({ ...key, value });
  }
  const levelText = (levelOption ?? levelKey ?? "STUDY").toUpperCase();
  if (levelOption && levelKey && levelKey !== levelOption.toUpperCase()) {
    throw new UsageError(`--level ${levelOption} and -k QueryRetrieveLevel=${levelKey} disagree`);
  }
  const level = LEVELS.find((l) => l === levelText);
  if (!level) {
    throw new UsageError(`--level must be PATIENT, STUDY, SERIES or IMAGE, got "${levelText}"`);
  }
  const root = rootOption?.toLowerCase();
  if (root !== undefined && root !== "study" && root !== "patient") {
    throw new UsageError(`--root must be study or patient, got "${rootOption}"`);
  }
  // Study Root has no PATIENT level: asking for it means Patient Root.
  const model: Model = root === "patient" || (root === undefined && level === "PATIENT")
    ? "PATIENT"
    : "STUDY";
  if (model === "STUDY" && level === "PATIENT") {
    throw new UsageError("the Study Root model has no PATIENT level (use --root patient)");
  }
  for (const name of returnKeys ? DEFAULT_KEYS[level] : []) {
    const key = lookupKey(name)!;
    if (!keys.some((k) => k.tag === key.tag)) keys.push({ ...key, value: "" });
  }
  // PS3.3 C.12.1.1.2: without a Specific Character Set every value is the default repertoire.
  const nonAscii = keys.some((k) => /[^\x20-\x7e]/.test(k.value));
  const specificCharacterSet = charset ?? (nonAscii ? UTF8 : "");
  for (const k of keys) {
    if (k.value && !textElement(k.tag, k.vr, k.value, specificCharacterSet)) {
      throw new UsageError(
        `-k ${k.name}: "${k.value}" cannot be written in ${specificCharacterSet}`,
      );
    }
  }
  return { model, level, keys, specificCharacterSet };
}

/** The identifier's elements (the codec sorts them by tag). */
export function identifierElements(request: FindRequest): DataElement[] {
  const cs = request.specificCharacterSet;
  const out: DataElement[] = [textElement(QUERY_RETRIEVE_LEVEL, "CS", request.level, "")!];
  if (cs) out.push(textElement(SPECIFIC_CHARACTER_SET, "CS", cs, "")!);
  for (const k of request.keys) {
    if (k.vr === "SQ") out.push({ tag: k.tag, vr: "SQ", value: new Uint8Array(0), items: [] });
    else if (isStringVr(k.vr)) out.push(textElement(k.tag, k.vr, k.value, cs)!);
    else out.push({ tag: k.tag, vr: k.vr, value: new Uint8Array(0) });
  }
  return out;
}

/** One match as key name -> text, decoded with the response's Specific Character Set. */
export function matchValues(request: FindRequest, elements: DataElement[]): Record<string, string> {
  const cs = charsetOf(elements);
  const row: Record<string, string> = {};
  for (const k of request.keys) {
    const el = elements.find((e) => e.tag === k.tag);
    if (!el) row[k.name] = "";
    else if (el.items) row[k.name] = `(${el.items.length} item${el.items.length === 1 ? "" : "s"})`;
    else {
      // Implicit VR: a tag outside the codec's dictionary reads as UN; the key knows its VR
      // (an unknown private key is shown as text).
      const vr = el.vr !== "UN" ? el.vr : k.vr === "UN" ? "LO" : k.vr;
      row[k.name] = isStringVr(vr)
        ? textOf({ ...el, vr }, cs)
        : numbersOf({ ...el, vr }).join("\\");
    }
  }
  return row;
}

/** Columns padded to their widest value, two spaces apart, header first. */
export function formatTable(columns: readonly string[], rows: Record<string, string>[]): string {
  const width = (s: string) => [...s].length;
  const widths = columns.map((c) => Math.max(width(c), ...rows.map((r) => width(r[c] ?? ""))));
  const line = (cells: string[]) =>
    cells.map((v, i) => v + " ".repeat(widths[i] - width(v))).join("  ").trimEnd();
  return [line([...columns]), ...rows.map((r) => line(columns.map((c) => r[c] ?? "")))]
    .join("\n") + "\n";
}

const FIND_CLASS: Record<Model, string> = {
  PATIENT: QR_SOP_CLASSES.PatientRootFind,
  STUDY: QR_SOP_CLASSES.StudyRootFind,
};

async function run(args: CommandArgs): Promise<number> {
  if (args.positionals.length !== 1) throw new UsageError("find takes one AET@host:port");
  const peer = parsePeer(args.positionals[0]);
  const timeoutMs = numberOption(args.values, "timeout", 30) * 1000;
  const keyArgs = (Array.isArray(args.values.key) ? args.values.key : []).map(String);
  const request = buildRequest(
    keyArgs,
    stringOption(args.values, "level"),
    stringOption(args.values, "root"),
  );
  const connector = await scuConnector(args.values, false);
  const { config, calling } = await scuIdentity(args);
  const where = peerName(peer);
  const sopClass = FIND_CLASS[request.model];
  const opened = await openQueryRetrieveScu({
    command: "find",
    peer,
    callingAeTitle: calling,
    config,
    timeoutMs,
    connector,
    sopClass,
    model: request.model,
  });
  if (!opened) return 1;
  const { assoc, pc } = opened;
  const matches: Record<string, string>[] = [];
  let undecodable = 0;
  let partial = false;
  let cancelled = false;
  let onSignal: (() => void) | undefined;
  try {
    const encoding = encodingOf(pc.transferSyntax);
    const messageId = assoc.newMessageId();
    // Ctrl-C: C-CANCEL (PS3.7 9.3.2.3), then wait for the final response; a second one aborts.
    onSignal = () => {
      if (cancelled) {
        void assoc.abort();
        return;
      }
      cancelled = true;
      writeStderr("minipacs: find: cancelling (Ctrl-C again to abort)\n");
      assoc.cancel(pc.id, messageId).catch(() => {});
    };
    addSigint(onSignal);
    // The peer must say something (a match or the end) at least every timeoutMs.
    let heard = performance.now();
    let silent = false;
    const watchdog = setInterval(() => {
      if (performance.now() - heard > timeoutMs) {
        silent = true;
        void assoc.abort();
      }
    }, Math.min(1000, timeoutMs / 4));
    let rsp: DimseResponse;
    try {
      rsp = await assoc.requestWithPending(
        pc.id,
        {
          commandField: CommandField.CFindRq,
          commandDataSetType: DATASET_PRESENT,
          messageId,
          affectedSopClassUid: sopClass,
          priority: Priority.Medium,
        },
        encodeDataset(identifierElements(request), encoding),
        (pending) => {
          heard = performance.now();
          if (pending.command.status === Status.PendingWarning) partial = true;
          if (!pending.dataset) return;
          try {
            matches.push(matchValues(request, decodeDataset(pending.dataset, encoding)));
          } catch {
            undecodable++;
          }
        },
      );
    } catch (e) {
      const why = silent ? `no answer within ${timeoutMs / 1000} s` : (e as Error).message;
      if (matches.length > 0) printMatches(request, matches, args.values.json === true);
      console.error(`minipacs: find: ${where}: ${why} (after ${matches.length} matches)`);
      return 1;
    } finally {
      clearInterval(watchdog);
    }
    printMatches(request, matches, args.values.json === true);
    const status = rsp.command.status ?? -1;
    const category = statusCategory(status);
    const comment = rsp.command.errorComment ? ` (${rsp.command.errorComment})` : "";
    const n = `${matches.length} match${matches.length === 1 ? "" : "es"}`;
    writeStderr(`C-FIND ${where} as ${calling}: ${n}, status ${statusText(status)}${comment}\n`);
    if (partial) writeStderr("minipacs: find: the peer did not match on some optional keys\n");
    if (undecodable) writeStderr(`minipacs: find: ${undecodable} responses could not be read\n`);
    return category === "success" || category === "warning" ? 0 : 1;
  } finally {
    if (onSignal) removeSigint(onSignal);
    await releaseOrAbort(assoc, timeoutMs);
  }
}

function printMatches(request: FindRequest, rows: Record<string, string>[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  if (rows.length > 0) console.log(formatTable(request.keys.map((k) => k.name), rows).trimEnd());
}

export function addSigint(handler: () => void): void {
  try {
    Deno.addSignalListener("SIGINT", handler);
  } catch { /* no signals here: Ctrl-C ends the process */ }
}

export function removeSigint(handler: () => void): void {
  try {
    Deno.removeSignalListener("SIGINT", handler);
  } catch { /* never added */ }
}

export const findCommand: Command = {
  summary: "query AET@host:port with C-FIND and print the matches",
  usage: [
    "Usage: minipacs find AET@host:port [-k Key[=Value] ...] [--level L] [--root R]",
    "                     [--aet CALLING] [--json] [--timeout S] [--tls ...]",
    "",
    "Sends one C-FIND and prints the matches as a table (or JSON), then the final status on",
    "stderr. Exits 0 on success, 1 on a failure status, a cancel or a connection error.",
    "Ctrl-C sends C-CANCEL and waits for the final response.",
    "",
    "  -k, --key K[=V]   a key by keyword (PatientName) or tag (0010,0010); with a value it",
    "                    matches (wildcards * ?, ranges 20240101-20241231 as the peer",
    "                    supports them), without one it is returned. Repeatable. The level's",
    "                    usual return keys are added; non-ASCII values are sent as UTF-8",
    "                    (Specific Character Set ISO_IR 192)",
    "  --level L         PATIENT, STUDY (default), SERIES or IMAGE",
    "  --root R          study (default) or patient: the Query/Retrieve information model",
    "                    (PATIENT level implies patient)",
    "  --aet CALLING     our calling AE title (default: server.ae_title of the configuration)",
    "  --json            print the matches as a JSON array of {keyword: value} objects",
    "  --timeout S       seconds to wait for the peer at each step (default 30)",
    ...tlsUsage(false),
  ].join("\n"),
  options: {
    key: { type: "string", short: "k", multiple: true },
    level: { type: "string" },
    root: { type: "string" },
    aet: { type: "string" },
    json: { type: "boolean" },
    timeout: { type: "string" },
    ...tlsOptions(false),
  },
  run,
};
