// `minipacs move AET@host:port --dest AE -k StudyInstanceUID=...`: one C-MOVE (PS3.4 C.4.2,
// PS3.7 9.1.4), like DCMTK's movescu: the peer sends the selected instances to the Move
// Destination over an association of its own; we print the counts it reports.
import { CommandField } from "../core/dimse/command.ts";
import { type Model, QR_SOP_CLASSES } from "../core/query/keys.ts";
import { scuConnector } from "./tls_options.ts";
import { type Command, type CommandArgs, stringOption, UsageError } from "./subcommand.ts";
import {
  RETRIEVE_OPTION_HELP,
  RETRIEVE_OPTIONS,
  retrieveAndPrint,
  retrieveArgs,
} from "./retrieve.ts";
import { checkAeTitle, openQueryRetrieveScu, peerName, scuIdentity } from "./scu.ts";

const MOVE_CLASS: Record<Model, string> = {
  PATIENT: QR_SOP_CLASSES.PatientRootMove,
  STUDY: QR_SOP_CLASSES.StudyRootMove,
};

async function run(args: CommandArgs): Promise<number> {
  const { peer, timeoutMs, request } = retrieveArgs(args, "move");
  const destOption = stringOption(args.values, "dest");
  if (destOption === undefined) throw new UsageError("--dest AE (the Move Destination) is needed");
  const destination = checkAeTitle(destOption, "--dest");
  const { config, calling } = await scuIdentity(args);
  const sopClass = MOVE_CLASS[request.model];
  const connector = await scuConnector(args.values, false);
  const opened = await openQueryRetrieveScu({
    command: "move",
    connector,
    peer,
    callingAeTitle: calling,
    config,
    timeoutMs,
    sopClass,
    model: request.model,
  });
  if (!opened) return 1;
  return await retrieveAndPrint(opened.assoc, opened.pc.id, sopClass, request, {
    commandField: CommandField.CMoveRq,
    moveDestination: destination,
    timeoutMs,
    name: "move",
    print: {
      name: "C-MOVE",
      where: peerName(peer),
      calling,
      destination,
      json: args.values.json === true,
    },
  });
}

export const moveCommand: Command = {
  summary: "C-MOVE from AET@host:port to a destination AE and print the counts",
  usage: [
    "Usage: minipacs move AET@host:port --dest AE -k Key=Value ... [--level L] [--root R]",
    "                     [--aet CALLING] [--json] [--timeout S] [--tls ...]",
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
