// Sending a study, series or instance to a known AE, from the page and the API: the request
// starts a send job and answers at once (the API with 202 and the job, the page with a redirect
// to the job's page); GET /api/sends/{id} and /sends/{id} show its progress and result.
import type { Context, Hono } from "hono";
import type { Config, KnownAe } from "../config.ts";
import { remoteOf } from "./dicomweb/audit.ts";
import type { WebActions } from "./actions.ts";
import { type Requester, SendJobs } from "./send_jobs.ts";
import { sendJobPage, sendsPage } from "./send_pages.ts";
import { userOf } from "./security.ts";

export interface SendRouteDeps {
  actions: WebActions;
  config(): Config;
  fail(c: Context, status: 400 | 404, message: string): Response | Promise<Response>;
  /** The jobs (created here when not given). */
  sends?: SendJobs;
}

const LEVEL = { studies: "study", series: "series", instances: "instance" } as const;

/** The requester of a web request: the logged-in user and the client address. */
export function webRequester(c: Context): Requester {
  return { user: userOf(c), from: remoteOf(c) };
}

export function registerSendRoutes(app: Hono, deps: SendRouteDeps): SendJobs {
  const sends = deps.sends ?? new SendJobs();
  const ae = () => deps.config().server.aeTitle;
  const destinationOf = (value: unknown): KnownAe | undefined => {
    const wanted = typeof value === "string" ? value.trim() : "";
    return deps.config().knownAe.find((k) => k.aeTitle === wanted && wanted !== "");
  };
  /** Starts the send, or says why not (no such entity). */
  const start = (c: Context, destination: KnownAe) => {
    const level = LEVEL[c.req.param("kind") as keyof typeof LEVEL];
    const uid = c.req.param("uid") ?? "";
    const n = deps.actions.instances(level, uid).length;
    if (n === 0) return deps.fail(c, 404, `no such ${level}`);
    const send = deps.actions.send.bind(deps.actions);
    return sends.start(send, level, uid, destination, webRequester(c), n);
  };

  app.post("/api/:kind{studies|series|instances}/:uid/send", async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return deps.fail(c, 400, 'the body must be JSON: {"destination": "AE"}');
    }
    const wanted = (body as { destination?: unknown })?.destination;
    if (typeof wanted !== "string" || wanted.trim() === "") {
      return deps.fail(c, 400, 'the body must name a destination: {"destination": "AE"}');
    }
    const destination = destinationOf(wanted);
    if (!destination) return deps.fail(c, 400, `"${wanted.trim()}" is not a [[known_ae]]`);
    const job = await start(c, destination);
    if (job instanceof Response) return job;
    c.header("Location", `/api/sends/${job.id}`);
    return c.json(job, 202);
  });
  app.get("/api/sends", (c) => c.json({ sends: sends.list() }));
  app.get("/api/sends/:id", (c) => {
    const job = sends.get(c.req.param("id"));
    return job ? c.json(job) : deps.fail(c, 404, "no such send (finished ones go after an hour)");
  });

  app.post("/:kind{studies|series|instances}/:uid/send", async (c) => {
    const form = await c.req.parseBody();
    const destination = destinationOf(form.destination);
    if (!destination) return deps.fail(c, 400, "no such known AE");
    const job = await start(c, destination);
    if (job instanceof Response) return job;
    return c.redirect(`/sends/${job.id}`, 303);
  });
  app.get("/sends", (c) => c.html(sendsPage(ae(), sends.list())));
  app.get("/sends/:id", (c) => {
    const job = sends.get(c.req.param("id"));
    return job
      ? c.html(sendJobPage(ae(), job))
      : deps.fail(c, 404, "no such send (finished ones go after an hour)");
  });
  return sends;
}
