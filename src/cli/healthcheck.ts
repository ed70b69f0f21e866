// `minipacs healthcheck`: GET /healthz of the local server; exit 0 when it answers 2xx. For
// container health checks where no curl exists (distroless images).
import {
  type Command,
  type CommandArgs,
  loadEffectiveConfig,
  numberOption,
  stringOption,
  UsageError,
} from "./subcommand.ts";

/** The /healthz URL of the configured web server, reached over loopback when bound to all. */
export function healthUrl(bind: string, port: number, https = false): string {
  const host = bind === "0.0.0.0" || bind === "" ? "127.0.0.1" : bind === "::" ? "::1" : bind;
  return `${https ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}/healthz`;
}

async function run(args: CommandArgs): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError("healthcheck takes no arguments");
  const timeoutMs = numberOption(args.values, "timeout", 5) * 1000;
  let url = stringOption(args.values, "url");
  // HTTPS ([http] certificate): the CA to trust, --ca or else [tls] ca_certificates if present.
  let ca = stringOption(args.values, "ca");
  if (url === undefined) {
    const { config } = await loadEffectiveConfig(args.values);
    const https = config.http.certificate !== "";
    if (https && ca === undefined) {
      ca = await Deno.stat(config.tls.caCertificates).then(() => config.tls.caCertificates)
        .catch(() => undefined);
    }
    if (!config.http.enabled) {
      console.error("minipacs: healthcheck: http.enabled is false: give --url or enable it");
      return 1;
    }
    url = healthUrl(config.http.bind, config.http.port, https);
  }
  let client: Deno.HttpClient | undefined;
  try {
    if (ca !== undefined) {
      client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(ca)] });
    }
    const rsp = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), client });
    const body = (await rsp.text()).trim().slice(0, 200);
    if (!rsp.ok) {
      console.error(`minipacs: healthcheck: ${url}: HTTP ${rsp.status} ${body}`);
      return 1;
    }
    console.log(`${url}: HTTP ${rsp.status} ${body}`.trimEnd());
    return 0;
  } catch (e) {
    const cause = (e as Error).cause;
    const why = cause instanceof Error ? cause.message : (e as Error).message;
    console.error(`minipacs: healthcheck: ${url}: ${why}`);
    return 1;
  } finally {
    client?.close();
  }
}

export const healthcheckCommand: Command = {
  summary: "check that the local server answers /healthz (exit 0 healthy, 1 not)",
  usage: [
    "Usage: minipacs healthcheck [--url URL] [--timeout S]",
    "",
    "  --url URL         default: http://<http.bind>:<http.port>/healthz of the configuration",
    "                    (https:// when [http] certificate is set)",
    "  --ca FILE         CA certificates (PEM) trusted for HTTPS (default: [tls]",
    "                    ca_certificates when that file exists, and the system's)",
    "  --timeout S       seconds to wait for the answer (default 5)",
  ].join("\n"),
  options: { url: { type: "string" }, timeout: { type: "string" }, ca: { type: "string" } },
  run,
};
