// Admission control for incoming associations: counts associations, not TCP connections.
// A connection is "pending" from accept until its whole A-ASSOCIATE-RQ has arrived; pending
// connections have their own budget, and the oldest is dropped when it is full, so sockets
// that never speak cannot lock out a modality. Negotiated associations count against
// max_associations and, per calling AE title, against [[known_ae]] max_incoming.

export interface AdmissionLimits {
  /** Simultaneous accepted associations (server.max_associations). */
  maxAssociations: number;
  /** Connections not yet past their A-ASSOCIATE-RQ (server.max_pending_connections). */
  maxPendingConnections: number;
  /** Per calling AE title (trimmed): [[known_ae]] max_incoming. */
  maxIncoming: ReadonlyMap<string, number>;
  /** accept = "known": the calling AE titles let in; undefined lets every caller in. */
  knownCallingAeTitles: ReadonlySet<string> | undefined;
}

/** What the accept policy needs to know for one A-ASSOCIATE-RQ (PS3.8 9.3.4 reasons). */
export interface AdmissionVerdict {
  /** max_associations reached: reject as transient, local limit exceeded. */
  overLimit: boolean;
  /** The calling AE's max_incoming when it is reached, else undefined. */
  callingAeLimit: number | undefined;
  /** For the accept policy: who may call (undefined = anyone). */
  knownCallingAeTitles: ReadonlySet<string> | undefined;
}

export class Admission {
  #limits: AdmissionLimits;
  /** Pending connections by id, oldest first (Map keeps insertion order), with their drop. */
  readonly #pending = new Map<string, () => void>();
  /** Accepted associations by id -> calling AE title. */
  readonly #associations = new Map<string, string>();
  readonly #byCallingAe = new Map<string, number>();

  constructor(limits: AdmissionLimits) {
    this.#limits = limits;
  }

  /** New limits for new associations (reload); open ones are never dropped. */
  setLimits(limits: AdmissionLimits): void {
    this.#limits = limits;
  }

  get pendingConnections(): number {
    return this.#pending.size;
  }

  get associations(): number {
    return this.#associations.size;
  }

  /** Associations open from this calling AE title. */
  associationsFrom(callingAeTitle: string): number {
    return this.#byCallingAe.get(callingAeTitle.trim()) ?? 0;
  }

  /**
   * A TCP connection was accepted. When pending connections are over budget the oldest
   * is dropped (its drop() is called) and its id returned.
   */
  connected(id: string, drop: () => void): string[] {
    this.#pending.set(id, drop);
    const dropped: string[] = [];
    // Bounded: each pass removes one entry.
    while (this.#pending.size > this.#limits.maxPendingConnections) {
      const [oldest, dropOldest] = this.#pending.entries().next().value!;
      this.#pending.delete(oldest);
      dropped.push(oldest);
      dropOldest();
    }
    return dropped;
  }

  /**
   * The whole A-ASSOCIATE-RQ arrived: the connection stops being pending, and the verdict
   * says whether accepting it would exceed a limit.
   */
  requested(id: string, callingAeTitle: string): AdmissionVerdict {
    this.#pending.delete(id);
    const calling = callingAeTitle.trim();
    const limit = this.#limits.maxIncoming.get(calling);
    return {
      overLimit: this.#associations.size >= this.#limits.maxAssociations,
      callingAeLimit: limit !== undefined && this.associationsFrom(calling) >= limit
        ? limit
        : undefined,
      knownCallingAeTitles: this.#limits.knownCallingAeTitles,
    };
  }

  /** The association was accepted (decided in the same turn as requested()). */
  accepted(id: string, callingAeTitle: string): void {
    if (this.#associations.has(id)) return;
    const calling = callingAeTitle.trim();
    this.#associations.set(id, calling);
    this.#byCallingAe.set(calling, (this.#byCallingAe.get(calling) ?? 0) + 1);
  }

  /** The connection is closed (released, aborted, rejected or lost): it counts no more. */
  closed(id: string): void {
    this.#pending.delete(id);
    const calling = this.#associations.get(id);
    if (calling === undefined) return;
    this.#associations.delete(id);
    const n = (this.#byCallingAe.get(calling) ?? 1) - 1;
    if (n > 0) this.#byCallingAe.set(calling, n);
    else this.#byCallingAe.delete(calling);
  }
}
