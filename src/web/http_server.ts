// Serves the web app with Deno.serve on `[http] bind`/`port`, over HTTPS when a certificate
// is given (then only HTTPS: a plain request fails its TLS handshake); stopped with the DICOM
// server.
import type { Logger } from "../core/ports.ts";
import { listenError } from "../net/tcp.ts";
import { createWebApp, type WebDeps } from "./app.ts";

export interface WebServer {
  /** The port listened on (the real one when `port = 0`). */
  port: number;
  /** Stops accepting, lets running requests finish, closes the index reader. */
  stop(): Promise<void>;
}

export interface WebServerOptions extends Omit<WebDeps, "httpPort"> {
  bind: string;
  port: number;
  logger: Logger;
  /** PEM certificate chain and key: HTTPS only. */
  tls?: { certificate: string; privateKey: string };
  /** Called as a request comes in; what it returns, once it is answered. */
  work?(): () => void;
}

export function startWebServer(o: WebServerOptions): WebServer {
  let port: number | null = null;
  const web = createWebApp({ ...o, httpPort: () => port });
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: o.bind,
      port: o.port,
      ...(o.tls ? { cert: o.tls.certificate, key: o.tls.privateKey } : {}),
      onListen: () => {},
      onError: (e) => {
        o.logger.log("error", "web request failed", { error: (e as Error).message });
        return new Response("internal error\n", { status: 500 });
      },
    }, o.work ? withWork(web.app.fetch, o.work) : web.app.fetch);
  } catch (e) {
    web.close();
    throw new Error(`cannot listen for HTTP on ${o.bind}:${o.port}: ${listenError(e, o.port)}`);
  }
  port = server.addr.port;
  o.logger.log("info", o.tls ? "HTTPS listening" : "HTTP listening", { bind: o.bind, port });
  let stopping: Promise<void> | null = null;
  return {
    port,
    stop: () =>
      stopping ??= (async () => {
        await server.shutdown();
        web.close();
      })(),
  };
}

/** The handler, telling `work` when each request comes in and when it was answered. */
function withWork(
  handler: Deno.ServeHandler<Deno.NetAddr>,
  work: () => () => void,
): Deno.ServeHandler<Deno.NetAddr> {
  return async (request, info) => {
    const end = work();
    try {
      return await handler(request, info);
    } finally {
      end();
    }
  };
}
