// `minipacs get AET@host:port -k StudyInstanceUID=... --out DIR`: one C-GET (PS3.4 C.4.3,
// PS3.7 9.1.3), like DCMTK's getscu: the peer sends the selected instances back on our own
// association as C-STORE sub-operations (we take the SCP role, PS3.7 D.3.3.4), and each is
// written to DIR as a Part 10 file, its dataset bit for bit as received.
import { join } from "node:path";
import { CommandField, NO_DATASET } from "../core/dimse/command.ts";
import { Status } from "../core/dimse/status.ts";
import { encodeFileMetaInformation } from "../core/dicom/part10.ts";
import { NON_PATIENT_STORAGE_SOP_CLASSES, STORAGE_SOP_CLASSES } from "../core/dicom/sop_classes.ts";
import { EXPLICIT_VR_LE, IMPLICIT_VR_LE } from "../core/dicom/transfer_syntaxes.ts";
import { trimUid, uidPathComponent } from "../core/dicom/uid.ts";
import { type Model, QR_SOP_CLASSES } from "../core/query/keys.ts";
import type { DimseRequest, DimseService, ServiceContext } from "../core/dimse/service_contract.ts";
import { scuConnector } from "./tls_options.ts";
import { type Command, type CommandArgs, stringOption } from "./subcommand.ts";
import {
  RETRIEVE_OPTION_HELP,
  RETRIEVE_OPTIONS,
  retrieveAndPrint,
  retrieveArgs,
} from "./retrieve.ts";
import { openQueryRetrieveScu, peerName, scuIdentity } from "./scu.ts";

const GET_CLASS: Record<Model, string> = {
  PATIENT: QR_SOP_CLASSES.PatientRootGet,
  STUDY: QR_SOP_CLASSES.StudyRootGet,
};

/** Proposed first: what modalities and viewers exchange most (PS3.4 B.5). */
const COMMON_CLASSES = [
  "1.2.840.10008.5.1.4.1.1.2", // CT
  "1.2.840.10008.5.1.4.1.1.4", // MR
  "1.2.840.10008.5.1.4.1.1.1", // CR
  "1.2.840.10008.5.1.4.1.1.1.1", // DX for presentation
  "1.2.840.10008.5.1.4.1.1.1.2", // MG for presentation
  "1.2.840.10008.5.1.4.1.1.6.1", // US
  "1.2.840.10008.5.1.4.1.1.3.1", // US multi-frame
  "1.2.840.10008.5.1.4.1.1.7", // Secondary Capture
  "1.2.840.10008.5.1.4.1.1.20", // NM
  "1.2.840.10008.5.1.4.1.1.128", // PET
  "1.2.840.10008.5.1.4.1.1.12.1", // XA
  "1.2.840.10008.5.1.4.1.1.12.2", // RF
  "1.2.840.10008.5.1.4.1.1.2.1", // Enhanced CT
  "1.2.840.10008.5.1.4.1.1.4.1", // Enhanced MR
  "1.2.840.10008.5.1.4.1.1.88.11", // Basic Text SR
  "1.2.840.10008.5.1.4.1.1.88.22", // Enhanced SR
  "1.2.840.10008.5.1.4.1.1.88.33", // Comprehensive SR
  "1.2.840.10008.5.1.4.1.1.88.59", // Key Object Selection
  "1.2.840.10008.5.1.4.1.1.11.1", // Grayscale Softcopy Presentation State
  "1.2.840.10008.5.1.4.1.1.104.1", // Encapsulated PDF
  "1.2.840.10008.5.1.4.1.1.481.1", // RT Image
  "1.2.840.10008.5.1.4.1.1.481.2", // RT Dose
  "1.2.840.10008.5.1.4.1.1.481.3", // RT Structure Set
  "1.2.840.10008.5.1.4.1.1.481.5", // RT Plan
];

/**
 * The storage classes proposed with the SCP role: the common ones, then every other current
 * standard class that files a patient's images, up to 127 (one context is the C-GET's own).
 */
export function getStorageClasses(max = 127): string[] {
  const out = new Set(COMMON_CLASSES);
  for (const [uid, name] of STORAGE_SOP_CLASSES) {
    if (out.size >= max) break;
    if (!name.includes("(Retired)") && !NON_PATIENT_STORAGE_SOP_CLASSES.has(uid)) out.add(uid);
  }
  return [...out].slice(0, max);
}

export interface ReceivedFile {
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  path: string;
}

/**
 * The C-STORE SCP of a C-GET's sub-operations: each dataset streams to a temporary file in
 * `dir`, then is renamed to <SOPInstanceUID>.dcm (a hashed name for a UID that is not plain
 * digits and dots). A write that fails answers 0xA700.
 */
export class GetReceiver implements DimseService {
  readonly name = "store";
  readonly commandFields = [CommandField.CStoreRq];
  readonly files: ReceivedFile[] = [];
  /** performance.now() of the last sub-operation's start or end. */
  lastActivity = 0;
  #n = 0;

  constructor(
    readonly dir: string,
    readonly meta: { implementationClassUid: string; implementationVersionName: string },
  ) {}

  syntaxes() {
    return [];
  }

  async handle(req: DimseRequest, ctx: ServiceContext): Promise<void> {
    this.lastActivity = performance.now();
    const sopInstanceUid = trimUid(req.command.affectedSopInstanceUid ?? "");
    const sopClassUid = trimUid(req.command.affectedSopClassUid ?? "");
    const transferSyntaxUid = req.context.transferSyntax;
    let status: number = Status.Success;
    let errorComment: string | undefined;
    const tmp = join(this.dir, `.minipacs-get-${Deno.pid}-${++this.#n}.tmp`);
    try {
      const name = `${await uidPathComponent(sopInstanceUid || "unknown")}.dcm`;
      const file = await Deno.open(tmp, { write: true, createNew: true });
      try {
        const header = encodeFileMetaInformation({
          sopClassUid,
          sopInstanceUid,
          transferSyntaxUid,
          implementationClassUid: this.meta.implementationClassUid,
          implementationVersionName: this.meta.implementationVersionName,
          sourceAeTitle: ctx.association.calledAeTitle,
        });
        await writeAll(file, header);
        for await (const chunk of req.dataset ?? []) {
          this.lastActivity = performance.now();
          await writeAll(file, chunk);
        }
      } finally {
        file.close();
      }
      const path = join(this.dir, name);
      await Deno.rename(tmp, path);
      this.files.push({ sopInstanceUid, sopClassUid, transferSyntaxUid, path });
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      status = Status.RefusedOutOfResources;
      errorComment = `cannot write the file: ${(e as Error).message}`.slice(0, 64);
      ctx.logger.log("error", `get: ${errorComment}`);
    }
    this.lastActivity = performance.now();
    await ctx.send({
      commandField: CommandField.CStoreRsp,
      commandDataSetType: NO_DATASET,
      messageIdBeingRespondedTo: req.command.messageId ?? 0,
      affectedSopClassUid: req.command.affectedSopClassUid,
      affectedSopInstanceUid: req.command.affectedSopInstanceUid,
      status,
      errorComment,
    });
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
}

async function run(args: CommandArgs): Promise<number> {
  const { peer, timeoutMs, request } = retrieveArgs(args, "get");
  const out = stringOption(args.values, "out") ?? ".";
  try {
    await Deno.mkdir(out, { recursive: true });
  } catch (e) {
    console.error(`minipacs: get: cannot create ${out}: ${(e as Error).message}`);
    return 1;
  }
  const { config, calling } = await scuIdentity(args);
  const sopClass = GET_CLASS[request.model];
  const receiver = new GetReceiver(out, config.server);
  const storage = getStorageClasses();
  const connector = await scuConnector(args.values, false);
  const opened = await openQueryRetrieveScu({
    command: "get",
    connector,
    peer,
    callingAeTitle: calling,
    config,
    timeoutMs,
    sopClass,
    model: request.model,
    moreContexts: storage.map((uid, i) => ({
      id: 3 + 2 * i,
      abstractSyntax: uid,
      transferSyntaxes: [EXPLICIT_VR_LE, IMPLICIT_VR_LE],
    })),
    // PS3.7 D.3.3.4: we are the SCP of the storage classes on this association.
    roleSelections: storage.map((uid) => ({ sopClassUid: uid, scuRole: false, scpRole: true })),
    services: [receiver],
  });
  if (!opened) return 1;
  return await retrieveAndPrint(opened.assoc, opened.pc.id, sopClass, request, {
    commandField: CommandField.CGetRq,
    timeoutMs,
    name: "get",
    lastHeard: () => receiver.lastActivity,
    print: { name: "C-GET", where: peerName(peer), calling, json: args.values.json === true },
    files: receiver.files,
  });
}

export const getCommand: Command = {
  summary: "C-GET from AET@host:port into a folder and print what arrived",
  usage: [
    "Usage: minipacs get AET@host:port -k Key=Value ... [--out DIR] [--level L] [--root R]",
    "                    [--aet CALLING] [--json] [--timeout S] [--tls ...]",
    "",
    "Sends one C-GET: the peer sends the selected instances back on this association, and each",
    "is written to DIR as <SOPInstanceUID>.dcm (its dataset exactly as received). Proposes the",
    "common storage classes in Explicit and Implicit VR Little Endian. Prints the files and the",
    "counts (a table, or JSON), then the final status on stderr. Exits 0 only when every",
    "instance arrived (status 0x0000), 1 otherwise. Ctrl-C sends C-CANCEL.",
    "",
    "  -o, --out DIR     where the files go (default: the current folder; created if needed)",
    ...RETRIEVE_OPTION_HELP,
  ].join("\n"),
  options: { ...RETRIEVE_OPTIONS, out: { type: "string", short: "o" } },
  run,
};
