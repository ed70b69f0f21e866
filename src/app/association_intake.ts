// Start step "admission": every accepted connection becomes an AcceptorAssociation, counted
// by Admission against the limits and judged by Permissions at A-ASSOCIATE-RQ time. Keeps
// the open associations so that a stop can let them finish, then abort the rest.
import type { Config } from "../config.ts";
import type { Connection, Logger } from "../core/ports.ts";
import type { DimseService } from "../core/dimse/service_contract.ts";
import { AcceptorAssociation } from "../core/ul/acceptor.ts";
import type { AcceptorPolicy, SupportedSyntax } from "../core/ul/negotiation.ts";
import type { AuditLog } from "../storage/audit_log.ts";
import { Admission, type AdmissionLimits } from "./admission.ts";
import { associationRecord } from "./audit.ts";
import { Permissions } from "./permissions.ts";
import type { ServerStats } from "./stats.ts";

export interface IntakeDeps {
  config: Config;
  /** The services, already observed by `stats`. */
  services: readonly DimseService[];
  stats: ServerStats;
  logger: Logger;
  audit: AuditLog | null;
  /** Called once an association has ended: its journal segment takes no more records. */
  ended(associationId: string): Promise<void>;
  /** Told when a connection comes and when it has gone (the idle release). */
  activity?(): void;
}

/** The limits of `[server]` and [[known_ae]] max_incoming, as Admission counts them. */
export function admissionLimits(c: Config): AdmissionLimits {
  return {
    maxAssociations: c.server.maxAssociations,
    maxPendingConnections: c.server.maxPendingConnections,
    maxIncoming: new Map(
      c.knownAe.flatMap((k) => k.maxIncoming ? [[k.aeTitle, k.maxIncoming]] : []),
    ),
    knownCallingAeTitles: c.server.accept === "known"
      ? new Set(c.knownAe.map((k) => k.aeTitle))
      : undefined,
  };
}

/** The one table of what we serve: every service's abstract syntaxes. */
export function syntaxTable(services: readonly DimseService[]): Map<string, SupportedSyntax> {
  const table = new Map<string, SupportedSyntax>();
  for (const s of services) {
    for (const syntax of s.syntaxes()) table.set(syntax.abstractSyntax, syntax);
  }
  return table;
}

export class AssociationIntake {
  readonly #deps: IntakeDeps;
  #config: Config;
  readonly #admission: Admission;
  // accept, [[known_ae]] allow, hosts and tls_name: who may do what, from where.
  readonly #permissions: Permissions;
  readonly #basePolicy: AcceptorPolicy;
  readonly #open = new Set<AcceptorAssociation>();
  #nextId = 1;

  constructor(deps: IntakeDeps) {
    this.#deps = deps;
    this.#config = deps.config;
    this.#admission = new Admission(admissionLimits(deps.config));
    this.#permissions = new Permissions(deps.config, deps.services);
    const s = deps.config.server;
    this.#basePolicy = {
      aeTitle: s.aeTitle,
      checkCalledAe: s.checkCalledAe,
      maxPduLength: s.maxPduLength,
      implementationClassUid: s.implementationClassUid,
      implementationVersionName: s.implementationVersionName,
      syntaxes: syntaxTable(deps.services),
    };
  }

  /** Associations not yet ended. */
  get openAssociations(): number {
    return this.#open.size;
  }

  /** A reloaded [[known_ae]] list: new limits and permissions for new associations only. */
  setKnownAe(knownAe: Config["knownAe"]): void {
    this.#config = { ...this.#config, knownAe };
    this.#admission.setLimits(admissionLimits(this.#config));
    this.#permissions.setKnownAe(this.#config);
  }

  /** For the listeners: one call per accepted TCP (or TLS) connection. */
  readonly onConnection = (conn: Connection): void => {
    const { stats, logger, audit, services } = this.#deps;
    const admission = this.#admission;
    const s = this.#config.server;
    const id = String(this.#nextId++);
    this.#deps.activity?.();
    const tracker = stats.association(id, conn.remote);
    // Pending (not yet a whole A-ASSOCIATE-RQ) has its own budget: the oldest is dropped.
    admission.connected(id, () => {
      logger.log("info", "too many connections without an A-ASSOCIATE-RQ: closing the oldest", {
        assoc: id,
        peer: `?@${conn.remote}`,
      });
      conn.close();
    });
    const assoc = new AcceptorAssociation({
      id,
      observer: {
        ...tracker,
        accepted: (info) => {
          tracker.accepted?.(info);
          audit?.record(associationRecord(info, conn));
          admission.accepted(id, info.callingAeTitle);
        },
        rejected: (info, label, why) => {
          tracker.rejected?.(info, label, why);
          audit?.record(associationRecord(info, conn, why));
        },
      },
      connection: conn,
      logger,
      artimTimeoutMs: s.artimTimeoutS * 1000,
      idleTimeoutMs: s.idleTimeoutS * 1000,
      maxPduLength: s.maxPduLength,
      services,
      // Decided at A-ASSOCIATE-RQ time: the one over a limit is rejected, not dropped.
      policy: (rq) => {
        const verdict = admission.requested(id, rq.callingAeTitle);
        return {
          ...this.#basePolicy,
          knownCallingAeTitles: verdict.knownCallingAeTitles,
          overLimit: verdict.overLimit,
          callingAeLimit: verdict.callingAeLimit,
          ...this.#permissions.policyFor(rq.callingAeTitle.trim(), conn),
        };
      },
    });
    this.#open.add(assoc);
    void assoc.finished.then((end) => {
      // Counts no more from the moment the close is seen.
      admission.closed(id);
      tracker.ended(end);
    });
    assoc.run().catch((e) => {
      logger.log("error", `association failed: ${(e as Error).message}`, { assoc: assoc.info.id });
      conn.close();
    }).finally(async () => {
      this.#open.delete(assoc);
      admission.closed(id);
      // Its journal segment takes no more records: once materialized it can go.
      await this.#deps.ended(assoc.info.id).catch((e) =>
        logger.log("error", `closing journal segment failed: ${(e as Error).message}`, {
          assoc: assoc.info.id,
        })
      );
      this.#deps.activity?.();
    });
  };

  /** Lets open associations finish for graceMs, then aborts the rest (logged). */
  async drain(graceMs: number): Promise<void> {
    const { logger } = this.#deps;
    if (!this.#open.size) return;
    logger.log("info", `waiting for ${this.#open.size} association(s) to finish`);
    const all = Promise.all([...this.#open].map((a) => a.finished));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([all, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const a of this.#open) {
      logger.log("warn", "association aborted at shutdown", {
        assoc: a.info.id,
        peer: `${a.info.callingAeTitle || "?"}@${a.info.remote}`,
        grace_ms: graceMs,
      });
      await a.abort();
    }
  }
}
