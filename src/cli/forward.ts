// `minipacs forward --study UID --to AE`: queues a stored study for a [[known_ae]]. The rows
// go into the index of the configured storage; a running server sends them within seconds,
// a stopped one when it starts.
import { destinationWantsCommit, queueStudyInStorage } from "../storage/forward_queue.ts";
import { type Command, type CommandArgs, loadEffectiveConfig, UsageError } from "./subcommand.ts";

async function run(args: CommandArgs): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError("forward takes no positional arguments");
  const study = args.values.study;
  const to = args.values.to;
  if (typeof study !== "string" || study === "") throw new UsageError("--study UID is required");
  if (typeof to !== "string" || to === "") throw new UsageError("--to AE is required");
  const { config } = await loadEffectiveConfig(args.values);
  const destination = config.knownAe.find((k) => k.aeTitle === to.trim());
  if (!destination) {
    console.error(`minipacs: forward: ${JSON.stringify(to)} is not the ae_title of a [[known_ae]]`);
    return 1;
  }
  const root = config.storage.path.replace(/\/+$/, "") || "/";
  try {
    await Deno.stat(`${root}/index.sqlite`);
  } catch {
    console.error(`minipacs: forward: no index in ${root}`);
    return 1;
  }
  const ae = destination.aeTitle;
  // A route with commit = true to it: the study counts as sent once committed there.
  const r = queueStudyInStorage(root, study, ae, destinationWantsCommit(config.routes, ae));
  if (r.instances === 0) {
    console.error(`minipacs: forward: no study ${study} in ${root}`);
    return 1;
  }
  console.log(
    `${r.queued} of ${r.instances} instance(s) of study ${study} queued for ` +
      `${destination.aeTitle}${r.queued < r.instances ? " (the others were queued already)" : ""}`,
  );
  return 0;
}

export const forwardCommand: Command = {
  summary: "queue a stored study for a known AE (sent by the running server)",
  usage: "minipacs forward --study <StudyInstanceUID> --to <AE title> [--config file]",
  options: { study: { type: "string" }, to: { type: "string" } },
  run,
};
