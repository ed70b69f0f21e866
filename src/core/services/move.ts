// Query/Retrieve MOVE SCP, Patient Root and Study Root (PS3.4 C.4.2; PS3.7 9.1.4): the
// selected instances go to the Move Destination, a known AE, over a new association of ours.
// Each destination takes at most its max_associations moves at once; later ones wait.
import { CommandField } from "../dimse/command.ts";
import { Status } from "../dimse/status.ts";
import type { Connector, Logger, ObjectDecoder, ObjectReader, QueryIndex } from "../ports.ts";
import type { AuditTrail } from "../audit.ts";
import { QR_SOP_CLASSES } from "../query/keys.ts";
import type { RequestorAssociation } from "../ul/requestor.ts";
import type { SupportedSyntax } from "../ul/negotiation.ts";
import { type RetrieveSession, retrieveSyntaxes, runRetrieve } from "./retrieve.ts";
import type { DimseRequest, DimseService, ServiceContext } from "../dimse/service_contract.ts";
import { openScuAssociation, ScuAssociationError } from "./scu_association.ts";
import { StoreScu } from "./store_scu.ts";
import { proposeContexts, type SubOperationTarget } from "./sub_operation_contexts.ts";

/** A C-MOVE destination: a `[[known_ae]]` entry. */
export interface MoveDestination {
  aeTitle: string;
  host: string;
  port: number;
  /** Moves sent to it at once; more wait for a free slot. */
  maxAssociations: number;
  /** When this AE is the caller: the destinations it may name; absent = any. */
  moveDestinations?: readonly string[];
  /** Sub-associations to it over TLS (`[[known_ae]] tls`). */
  tls?: boolean;
}

export interface MoveServiceOptions {
  index: QueryIndex;
  objects: ObjectReader;
  /** Decodes compressed objects for destinations that do not take them (other threads). */
  decoder?: ObjectDecoder;
  connector: Connector;
  /** For destinations with `tls`: the TLS connector as configured now; null when off. */
  tlsConnector?: () => Connector | null;
  /** The known AEs as configured now (read for every move: a reload applies at once). */
  destinations(): readonly MoveDestination[];
  /** Our AE title: the calling AE of sub-associations. */
  aeTitle: string;
  maxPduLength: number;
  implementationClassUid: string;
  implementationVersionName: string;
  caseInsensitivePn: boolean;
  /** Connecting and waiting for the A-ASSOCIATE-AC, each. */
  connectTimeoutMs: number;
  artimTimeoutMs: number;
  /** A destination silent this long while we wait for it aborts the sub-association. */
  idleTimeoutMs: number;
  /** Each C-MOVE as an audit record. */
  audit?: AuditTrail;
  /** Associations open to each destination, shared with other senders (max_associations). */
  slots?: DestinationSlots;
}

const MOVE_SOP_CLASSES = [QR_SOP_CLASSES.PatientRootMove, QR_SOP_CLASSES.StudyRootMove];

/** Counting semaphores, one per destination AE title. */
export class DestinationSlots {
  readonly #busy = new Map<string, number>();
  readonly #waiters = new Map<string, Set<() => void>>();

  /** Moves running to this destination. */
  busy(aeTitle: string): number {
    return this.#busy.get(aeTitle) ?? 0;
  }

  /** Waits for a slot; resolves with its release, or null if `signal` aborts first. */
  async acquire(
    aeTitle: string,
    max: number,
    signal: AbortSignal,
  ): Promise<(() => void) | null> {
    // Each pass waits for a release or the abort; a woken waiter re-checks.
    while (this.busy(aeTitle) >= Math.max(1, max)) {
      if (signal.aborted) return null;
      let wake!: () => void;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      let waiters = this.#waiters.get(aeTitle);
      if (!waiters) this.#waiters.set(aeTitle, waiters = new Set());
      waiters.add(wake);
      signal.addEventListener("abort", wake, { once: true });
      try {
        await woken;
      } finally {
        waiters.delete(wake);
        if (waiters.size === 0) this.#waiters.delete(aeTitle);
        signal.removeEventListener("abort", wake);
      }
    }
    if (signal.aborted) return null;
    this.#busy.set(aeTitle, this.busy(aeTitle) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = this.busy(aeTitle) - 1;
      if (n > 0) this.#busy.set(aeTitle, n);
      else this.#busy.delete(aeTitle);
      const first = this.#waiters.get(aeTitle)?.values().next().value;
      first?.();
    };
  }
}

export class MoveService implements DimseService {
  readonly name = "move";
  readonly commandFields = [CommandField.CMoveRq];
  readonly #options: MoveServiceOptions;
  readonly #slots: DestinationSlots;
  #subAssociations = 0;

  constructor(options: MoveServiceOptions) {
    this.#options = options;
    this.#slots = options.slots ?? new DestinationSlots();
  }

  syntaxes(): Iterable<SupportedSyntax> {
    return retrieveSyntaxes(MOVE_SOP_CLASSES);
  }

  async handle(req: DimseRequest, ctx: ServiceContext): Promise<void> {
    // AE titles arrive trimmed: the command's by its decoder, the configured ones by config.
    const wanted = req.command.moveDestination ?? "";
    const known = this.#options.destinations();
    const destination = known.find((d) => d.aeTitle === wanted);
    const caller = ctx.association.callingAeTitle;
    const allowed = known.find((d) => d.aeTitle === caller)?.moveDestinations;
    await runRetrieve(req, ctx, {
      name: "move",
      responseField: CommandField.CMoveRsp,
      index: this.#options.index,
      caseInsensitivePn: this.#options.caseInsensitivePn,
      logFields: { destination: wanted || "(none)" },
      audit: this.#options.audit,
      destination: wanted,
      check: () => {
        if (!destination) {
          return {
            status: Status.RefusedMoveDestinationUnknown,
            comment: `Move Destination "${wanted.slice(0, 16)}" is not a known AE`,
          };
        }
        // Outside the caller's move_destinations: Refused: Not Authorized (PS3.7 Annex C).
        if (allowed && !allowed.includes(wanted)) {
          return {
            status: Status.NotAuthorized,
            comment: `"${caller.slice(0, 16)}" may not move to "${wanted}"`,
          };
        }
        return null;
      },
      open: (instances, signal) =>
        this.#open(destination!, instances, signal, ctx, req.command.messageId ?? 0),
    });
  }

  /** Waits for a slot at the destination and opens the sub-association. */
  async #open(
    dest: MoveDestination,
    instances: readonly SubOperationTarget[],
    signal: AbortSignal,
    ctx: ServiceContext,
    messageId: number,
  ): Promise<RetrieveSession | string | null> {
    const o = this.#options;
    const log: Logger = ctx.logger;
    const where = `${dest.aeTitle}@${dest.host}:${dest.port}`;
    const fields = { assoc: ctx.association.id, destination: where };
    if (this.#slots.busy(dest.aeTitle) >= dest.maxAssociations) {
      log.log("info", "move waits for a free association to its destination", {
        ...fields,
        max_associations: dest.maxAssociations,
      });
    }
    const release = await this.#slots.acquire(dest.aeTitle, dest.maxAssociations, signal);
    if (!release) return null;
    // The log line has the detail; the caller's Error Comment (64 characters) the gist.
    const connector = dest.tls ? o.tlsConnector?.() : o.connector;
    if (!connector) {
      release();
      log.log(
        "warn",
        `move destination ${dest.aeTitle} needs TLS: DICOM over TLS is not enabled here`,
        fields,
      );
      return `destination ${dest.aeTitle} needs TLS`;
    }
    let assoc: RequestorAssociation;
    const proposed = proposeContexts(instances);
    try {
      assoc = await openScuAssociation({
        connector,
        peer: dest,
        callingAeTitle: o.aeTitle,
        identity: o,
        presentationContexts: proposed,
        timeoutMs: o.connectTimeoutMs,
        logger: log,
        id: `${ctx.association.id}.${++this.#subAssociations}`,
        artimTimeoutMs: o.artimTimeoutMs,
        idleTimeoutMs: o.idleTimeoutMs,
      });
    } catch (e) {
      release();
      const kind = e instanceof ScuAssociationError ? e.kind : "not-accepted";
      const detail = e instanceof ScuAssociationError ? e.detail : (e as Error).message;
      const what = kind === "unreachable"
        ? `cannot be reached at ${dest.host}:${dest.port}`
        : kind === "rejected"
        ? "refused the association"
        : "did not accept the association";
      log.log("warn", `move destination ${dest.aeTitle} ${what}: ${detail}`, fields);
      return `destination ${dest.aeTitle} ${what}`;
    }
    log.log("info", "move sub-association open", {
      ...fields,
      contexts: `${assoc.contexts.size}/${proposed.length}`,
    });
    const scu = new StoreScu({
      objects: o.objects,
      contexts: () => assoc.contexts.values(),
      request: (pcId, command, dataset, onSent) =>
        assoc.request(pcId, command, dataset, { onSent }),
      peerMaxPduLength: assoc.peerMaxPduLength,
      moveOriginator: { aeTitle: ctx.association.callingAeTitle, messageId },
      decoder: o.decoder,
    });
    return {
      store: (target, upcoming) => scu.store(target, upcoming),
      close: async (lost) => {
        scu.close();
        try {
          if (lost) await assoc.abort();
          else await assoc.release();
        } finally {
          release();
        }
      },
    };
  }
}
