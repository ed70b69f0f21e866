// `minipacs send --study UID --to AE`: the running server sends the study (series, instance)
// to one of its [[known_ae]] with C-STORE over a new association (POST /api/studies/UID/send).
import {
  API_OPTION_HELP,
  API_OPTIONS,
  apiBase,
  apiRequest,
  ApiUnreachableError,
  entityOption,
} from "./api_client.ts";
import {
  type Command,
  type CommandArgs,
  loadEffectiveConfig,
  stringOption,
  UsageError,
} from "./subcommand.ts";
import { checkAeTitle } from "./scu.ts";
import { formatTable } from "./find.ts";

/** How often the send's progress is read. */
const POLL_MS = 200;

async function run(args: CommandArgs): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError("send takes no arguments");
  const target = entityOption(args.values);
  const to = stringOption(args.values, "to");
  if (to === undefined) throw new UsageError("--to AE (a [[known_ae]] of the server) is needed");
  const destination = checkAeTitle(to, "--to");
  const { config } = await loadEffectiveConfig(args.values);
  const base = apiBase(config, args.values);
  if (!base) {
    console.error("minipacs: send: http.enabled is false: give --url of the running server");
    return 1;
  }
  let r;
  try {
    r = await apiRequest(base, "POST", `${target.path}/send`, args.values, { destination });
    if (r.status !== 202) {
      console.error(`minipacs: send: ${base}: HTTP ${r.status} ${r.json.error ?? ""}`.trim());
      return 1;
    }
    // The server answers at once with the send job; its progress is read until it ends.
    const id = String(r.json.id);
    let shown = "";
    while (r.json.state === "running") {
      await new Promise((ok) => setTimeout(ok, POLL_MS));
      r = await apiRequest(base, "GET", `/api/sends/${id}`, args.values);
      if (r.status !== 200) {
        console.error(`minipacs: send: ${base}: HTTP ${r.status} ${r.json.error ?? ""}`.trim());
        return 1;
      }
      const progress = `${r.json.done} of ${r.json.total}`;
      if (r.json.state === "running" && progress !== shown && Deno.stderr.isTerminal()) {
        console.error(`sending: ${progress}`);
        shown = progress;
      }
    }
  } catch (e) {
    if (!(e instanceof ApiUnreachableError)) throw e;
    console.error(`minipacs: send: ${e.message} (send needs the running server)`);
    return 1;
  }
  const j = r.json as {
    completed: number;
    failed: number;
    warning: number;
    total: number;
    error: string | null;
    failedSopInstanceUids: string[];
  };
  if (args.values.json === true) console.log(JSON.stringify(j, null, 2));
  else {
    const row = {
      Completed: String(j.completed),
      Failed: String(j.failed),
      Warning: String(j.warning),
      Total: String(j.total),
    };
    console.log(formatTable(Object.keys(row), [row]).trimEnd());
    for (const uid of j.failedSopInstanceUids) console.log(`failed: ${uid}`);
  }
  console.error(
    `send ${target.level} ${target.uid} to ${destination}: completed ${j.completed}, ` +
      `failed ${j.failed}, warning ${j.warning}${j.error ? ` (${j.error})` : ""}`,
  );
  return j.failed === 0 ? 0 : 1;
}

export const sendCommand: Command = {
  summary: "have the running server C-STORE a study, series or instance to a known AE",
  usage: [
    "Usage: minipacs send --study UID | --series UID | --instance UID --to AE [--url URL]",
    "                     [--user NAME[:PASSWORD]] [--json]",
    "",
    "The running server sends the instances to the [[known_ae]] AE over a new association",
    "(the same sender as C-MOVE) and answers with the counts. Exits 0 when every instance was",
    "sent, 1 otherwise.",
    "",
    "  --to AE           the destination: a [[known_ae]] of the server",
    ...API_OPTION_HELP,
  ].join("\n"),
  options: { ...API_OPTIONS, to: { type: "string" } },
  run,
};
