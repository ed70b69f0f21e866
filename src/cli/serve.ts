// `minipacs serve` (the default command): runs the DICOM server until SIGINT/SIGTERM; SIGHUP
// re-reads the configuration and applies what a reload can change.
import { type Config, ConfigError } from "../config.ts";
import type { Logger } from "../core/ports.ts";
import { createLogger } from "../log.ts";
import { type RunningServer, startServer } from "../app/server.ts";
import { type Command, type CommandArgs, loadEffectiveConfig } from "./subcommand.ts";

export const serveCommand: Command = { summary: "run the DICOM server (default)", run: serve };

async function serve(args: CommandArgs): Promise<number> {
  const { config, source } = await loadEffectiveConfig(args.values);
  const logger = createLogger(config.log.level, config.log.format);
  if (source.kind === "defaults") {
    logger.log("info", "no configuration file found; using built-in defaults");
  } else {
    logger.log("info", "configuration loaded", { file: source.path });
  }
  let running: RunningServer | undefined;
  let stopping = false;
  // SIGHUP: re-read the same configuration (and command-line overrides) and apply what can be.
  // Listened to from the start: by default a SIGHUP would end the process.
  const onReload = () => {
    const server = running;
    if (!server || stopping) {
      logger.log("warn", "SIGHUP ignored: the server is starting or stopping");
      return;
    }
    loadEffectiveConfig(args.values).then(
      ({ config: next }: { config: Config }) => server.reload(next),
      (e: unknown) =>
        logger.log("error", "reload refused, the running configuration is kept", {
          error: e instanceof Error ? e.message : String(e),
        }),
    );
  };
  const windows = Deno.build.os === "windows";
  if (!windows) Deno.addSignalListener("SIGHUP", onReload);
  try {
    try {
      running = await startServer(config, logger);
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      logger.log("error", "server failed to start", { error: e });
      return 1;
    }
    const server = running;
    // Said once SIGINT/SIGTERM are handled: whoever waits for this line may stop us at once.
    const started = () =>
      logger.log("info", "MiniPACS started", {
        ae: config.server.aeTitle,
        dicom_port: server.dicomPort,
        tls_port: server.tlsPort ?? "off",
        http_port: server.httpPort ?? "off",
        version: config.server.implementationVersionName,
      });
    return await runUntilStopped(running, logger, () => (stopping = true), started);
  } finally {
    if (!windows) Deno.removeSignalListener("SIGHUP", onReload);
  }
}

/** Waits for the server to end; SIGINT/SIGTERM stop it cleanly, a second one exits at once. */
async function runUntilStopped(
  running: RunningServer,
  logger: Logger,
  onStopping: () => void,
  onListening: () => void,
): Promise<number> {
  let stopping = false;
  const onSignal = () => {
    if (stopping) {
      logger.log("warn", "second signal: exiting without a clean shutdown");
      Deno.exit(1);
    }
    stopping = true;
    onStopping();
    logger.log("info", "shutting down");
    running.stop().catch((e: unknown) => {
      logger.log("error", "shutdown failed", { error: e });
      Deno.exit(1);
    });
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  onListening();
  try {
    await running.done;
    logger.log("info", "stopped");
    return 0;
  } catch (e) {
    logger.log("error", "server failed", { error: e });
    return 1;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  }
}
