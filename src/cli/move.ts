// `minipacs move AET@host:port --dest AE -k StudyInstanceUID=...`: one C-MOVE (PS3.4 C.4.2,
// PS3.7 9.1.4), like DCMTK's movescu: the peer sends the selected instances to the Move
// Destination over an association of its own; we print the counts it reports.
import { CommandField } from "../core/dimse/command.ts";
import { EXPLICIT_VR_LE, IMPLICIT_VR_LE } from "../core/dicom/transfer_syntaxes.ts";
import { type Model, QR_SOP_CLASSES } from "../core/query/keys.ts";
import type { RequestorAssociation } from "../core/ul/requestor.ts";
import {
  type Command,
  type CommandArgs,
  loadEffectiveConfig,
  numberOption,
  stringOption,
  UsageError,
} from "./subcommand.ts";
import {
  printRetrieveResult,
  RETRIEVE_OPTION_HELP,
  RETRIEVE_OPTIONS,
  retrieveRequest,
  runRetrieveRequest,
  stderrProgress,
} from "./retrieve.ts";
import { releaseOrAbort } from "../core/services/scu_association.ts";
import { checkAeTitle, openScu, parsePeer } from "./scu.ts";

const MOVE_CLASS: Record<Model, string> = {
  PATIENT: QR_SOP_CLASSES.PatientRootMove,
  STUDY: QR_SOP_CLASSES.StudyRootMove,
};

async function run(args: CommandArgs): Promise<number> {
  if (args.positionals.length !== 1) throw new UsageError("move takes one AET@host:port");
  const peer = parsePeer(args.positionals[0]);
  const destOption = stringOption(args.values, "dest");
  if (destOption === undefined) throw new UsageError("--dest AE (the Move Destination) is needed");
  const destination = checkAeTitle(destOption, "--dest");
  const timeoutMs = numberOption(args.values, "timeout", 30) * 1000;
  const request = retrieveRequest(args);
  const { config } = await loadEffectiveConfig(args.values);
  const calling = checkAeTitle(stringOption(args.values, "aet") ?? config.server.aeTitle, "--aet");
  const where = `${peer.aeTitle}@${peer.host}:${peer.port}`;
  const sopClass = MOVE_CLASS[request.model];
  let assoc: RequestorAssociation;
  try {
    assoc = await openScu({
      peer,
      callingAeTitle: calling,
      config,
      timeoutMs,
      presentationContexts: [
        { id: 1, abstractSyntax: sopClass, transferSyntaxes: [EXPLICIT_VR_LE, IMPLICIT_VR_LE] },
      ],
    });
  } catch (e) {
    console.error(`minipacs: move: ${(e as Error).message}`);
    return 1;
  }
  try {
    const pc = assoc.contextFor(sopClass);
    if (!pc) {
      const model = request.model === "PATIENT" ? "Patient Root" : "Study Root";
      console.error(`minipacs: move: ${where} does not accept ${model} C-MOVE`);
      return 1;
    }
    const progress = stderrProgress("move");
    let result;
    try {
      result = await runRetrieveRequest(assoc, pc.id, sopClass, request, {
        commandField: CommandField.CMoveRq,
        moveDestination: destination,
        timeoutMs,
        name: "move",
        onProgress: progress.update,
      });
    } catch (e) {
      progress.done();
      console.error(`minipacs: move: ${where}: ${(e as Error).message}`);
      return 1;
    }
    progress.done();
    return printRetrieveResult({
      name: "C-MOVE",
      where,
      calling,
      destination,
      json: args.values.json === true,
    }, result);
  } finally {
    await releaseOrAbort(assoc, timeoutMs);
  }
}

export const moveCommand: Command = {
  summary: "C-MOVE from AET@host:port to a destination AE and print the counts",
  usage: [
    "Usage: minipacs move AET@host:port --dest AE -k Key=Value ... [--level L] [--root R]",
    "                     [--aet CALLING] [--json] [--timeout S]",
    "",
    "Sends one C-MOVE: the peer sends the selected instances to the Move Destination (an AE it",
    "knows) over an association of its own. Prints the Completed, Failed and Warning counts",
    "(a table, or JSON), then the final status on stderr. Exits 0 only when every instance was",
    "sent (status 0x0000), 1 otherwise (0xB000 some failed, 0xA801 unknown destination...).",
    "Ctrl-C sends C-CANCEL and waits for the final response.",
    "",
    "  --dest AE         the Move Destination AE title",
    ...RETRIEVE_OPTION_HELP,
  ].join("\n"),
  options: { ...RETRIEVE_OPTIONS, dest: { type: "string" } },
  run,
};
