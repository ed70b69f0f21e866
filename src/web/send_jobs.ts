// Sends run as jobs: the request that starts one answers at once with its id, and the job's
// progress (n of N, failures, the destination) is read while it runs, from the page or the
// API. Several may run at once (each on its own association); finished ones stay listed for a
// while so that their result can still be read.
import type { KnownAe } from "../config.ts";
import type { SendResult } from "../core/services/send.ts";
import type { DeleteLevel } from "../storage/delete.ts";

/** Who asked for an action: the web user (or the command line) and from where. */
export interface Requester {
  user: string;
  /** The requester's address ("host:port"), when known. */
  from?: string;
}

/** Runs one send, reporting after each instance (WebActions.send). */
export type SendRunner = (
  level: DeleteLevel,
  uid: string,
  destination: KnownAe,
  by: Requester,
  onProgress?: (r: SendResult) => void,
) => Promise<SendResult>;

/** A send as the page and the API show it. */
export interface SendJob {
  id: string;
  level: DeleteLevel;
  uid: string;
  /** The destination AE title, and where it was reached. */
  destination: string;
  address: string;
  tls: boolean;
  by: string;
  /** "completed": every instance sent; "failed": some or all were not. */
  state: "running" | "completed" | "failed";
  startedAt: string;
  finishedAt: string | null;
  total: number;
  /** Instances done so far (completed + warning + failed). */
  done: number;
  completed: number;
  warning: number;
  failed: number;
  failedSopInstanceUids: string[];
  error: string | null;
}

export interface SendJobsOptions {
  /** How long a finished send stays listed. */
  keepMs?: number;
  /** At most this many finished sends are kept (the oldest go first). */
  keepFinished?: number;
  now?: () => number;
}

export class SendJobs {
  #jobs = new Map<string, SendJob>();
  #running = new Map<string, Promise<SendJob>>();
  #keepMs: number;
  #keepFinished: number;
  #now: () => number;

  constructor(o: SendJobsOptions = {}) {
    this.#keepMs = o.keepMs ?? 60 * 60 * 1000;
    this.#keepFinished = o.keepFinished ?? 100;
    this.#now = o.now ?? Date.now;
  }

  /** Starts a send; the job is returned at once and updated as instances go. */
  start(
    run: SendRunner,
    level: DeleteLevel,
    uid: string,
    destination: KnownAe,
    by: Requester,
    total: number,
  ): SendJob {
    this.#prune();
    const job: SendJob = {
      id: crypto.randomUUID(),
      level,
      uid,
      destination: destination.aeTitle,
      address: `${destination.host}:${destination.port}`,
      tls: destination.tls === true,
      by: by.user,
      state: "running",
      startedAt: new Date(this.#now()).toISOString(),
      finishedAt: null,
      total,
      done: 0,
      completed: 0,
      warning: 0,
      failed: 0,
      failedSopInstanceUids: [],
      error: null,
    };
    const update = (r: SendResult) => {
      job.total = r.total;
      job.completed = r.completed;
      job.warning = r.warning;
      job.failed = r.failed;
      job.done = r.completed + r.warning + r.failed;
      job.failedSopInstanceUids = [...r.failedSopInstanceUids];
    };
    this.#jobs.set(job.id, job);
    const finished = run(level, uid, destination, by, update).then(
      (r) => {
        update(r);
        job.error = r.error ?? null;
        job.state = r.failed === 0 && r.total > 0 ? "completed" : "failed";
      },
      (e) => {
        job.error = (e as Error).message;
        job.failed = job.total - job.completed - job.warning;
        job.done = job.total;
        job.state = "failed";
      },
    ).then(() => {
      job.finishedAt = new Date(this.#now()).toISOString();
      this.#running.delete(job.id);
      return job;
    });
    this.#running.set(job.id, finished);
    return job;
  }

  get(id: string): SendJob | undefined {
    this.#prune();
    return this.#jobs.get(id);
  }

  /** Running sends first, then finished ones, newest first. */
  list(): SendJob[] {
    this.#prune();
    return [...this.#jobs.values()].sort((a, b) =>
      (a.state === "running" ? 0 : 1) - (b.state === "running" ? 0 : 1) ||
      b.startedAt.localeCompare(a.startedAt)
    );
  }

  /** Resolves when the job has finished (at once for a finished or unknown one). */
  async settled(id: string): Promise<SendJob | undefined> {
    return await (this.#running.get(id) ?? Promise.resolve(this.#jobs.get(id)));
  }

  /** Resolves when every running send has finished (for shutdown and tests). */
  async idle(): Promise<void> {
    await Promise.all(this.#running.values());
  }

  #prune(): void {
    const now = this.#now();
    const finished = [...this.#jobs.values()].filter((j) => j.finishedAt !== null)
      .sort((a, b) => b.finishedAt!.localeCompare(a.finishedAt!));
    for (const [i, j] of finished.entries()) {
      if (i >= this.#keepFinished || now - Date.parse(j.finishedAt!) > this.#keepMs) {
        this.#jobs.delete(j.id);
      }
    }
  }
}
