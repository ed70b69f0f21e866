// Server-wide counters for the status page and /metrics: associations (open, accepted,
// rejected, aborted), DIMSE operations by service and status, bytes, store durations, stores
// per minute over the last hour and a ring of recent events. Never holds patient data: events
// name AE titles, addresses, SOP classes and statuses only. Every update is O(1). Rejections
// are counted by the negotiation's label (REJECT_LABELS); the wrapper that observes the
// services is service_observer.ts.
import { statusCategory } from "../core/dimse/status.ts";
import type { AssociationInfo, DimseService } from "../core/dimse/service_contract.ts";
import type { AssociationEnd, AssociationObserver } from "../core/ul/association.ts";
import { observeServices } from "./service_observer.ts";

export type EventKind =
  | "accepted"
  | "rejected"
  | "aborted"
  | "store"
  | "find"
  | "move"
  | "get"
  | "echo"
  | "echo-scu"
  | "delete"
  | "send";

/** One line of the recent events list. */
export interface StatsEvent {
  /** ms since 1970. */
  at: number;
  kind: EventKind;
  /** "AE@address" of the peer. */
  peer: string;
  text: string;
  ok: boolean;
}

/** An accepted association that has not ended yet. */
export interface OpenAssociation {
  id: string;
  callingAeTitle: string;
  calledAeTitle: string;
  remote: string;
  /** ms since 1970, when it was accepted. */
  since: number;
  /** Operations run so far, by service name. */
  services: Record<string, number>;
  bytesReceived: number;
  bytesSent: number;
}

export interface AssociationCounts {
  accepted: number;
  rejected: number;
  aborted: number;
}

/** What the store service reports after each C-STORE (StorageServiceOptions.onStored). */
export interface StoreOutcome {
  status: number;
  bytes: number;
  ms: number;
  sopClassUid: string;
}

/** Upper bounds (seconds) of the store duration histogram. */
export const STORE_DURATION_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

export interface Histogram {
  /** Cumulative counts, one per bucket of STORE_DURATION_BUCKETS (then +Inf = count). */
  buckets: number[];
  sum: number;
  count: number;
}

const MINUTE = 60_000;
const EVENT_CAPACITY = 100;

/** Watches one association; handed to its AcceptorAssociation as `observer`. */
export interface AssociationTracker extends AssociationObserver {
  /** Called once when the association is over (its `finished` value). */
  ended(end: AssociationEnd): void;
}

export class ServerStats {
  readonly startedAt: number;
  readonly #now: () => number;
  readonly #open = new Map<string, OpenAssociation>();
  #accepted = 0;
  #aborted = 0;
  readonly #rejected = new Map<string, number>();
  #today = { day: "", accepted: 0, rejected: 0, aborted: 0 };
  readonly #operations = new Map<string, number>();
  #bytesReceived = 0;
  #bytesSent = 0;
  readonly #storeDuration: Histogram = {
    buckets: STORE_DURATION_BUCKETS.map(() => 0),
    sum: 0,
    count: 0,
  };
  /** Stores per minute: slot = minute number % 60, with the minute it counts. */
  readonly #perMinute = Array.from({ length: 60 }, () => ({ minute: -1, n: 0 }));
  readonly #events: StatsEvent[] = [];
  #nextEvent = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.startedAt = now();
  }

  /** A tracker for a new connection; its observer callbacks feed these counters. */
  association(id: string, remote: string): AssociationTracker {
    let entry: OpenAssociation | undefined;
    let received = 0;
    let sent = 0;
    let done = false;
    return {
      accepted: (info) => {
        this.#accepted++;
        this.#day().accepted++;
        entry = {
          id,
          callingAeTitle: info.callingAeTitle,
          calledAeTitle: info.calledAeTitle,
          remote,
          since: this.#now(),
          services: {},
          bytesReceived: received,
          bytesSent: sent,
        };
        this.#open.set(id, entry);
        this.#event("accepted", info, `association accepted (called ${info.calledAeTitle})`, true);
      },
      rejected: (info, reason, why) => {
        this.#rejected.set(reason, (this.#rejected.get(reason) ?? 0) + 1);
        this.#day().rejected++;
        this.#event("rejected", info, `association rejected: ${why}`, false);
      },
      bytes: (r, s) => {
        this.#bytesReceived += r;
        this.#bytesSent += s;
        received += r;
        sent += s;
        if (entry) {
          entry.bytesReceived = received;
          entry.bytesSent = sent;
        }
      },
      ended: (end) => {
        if (done) return;
        done = true;
        this.#open.delete(id);
        if (end === "aborted") {
          this.#aborted++;
          this.#day().aborted++;
          const who = entry ?? { callingAeTitle: "", remote };
          this.#event("aborted", who, "association aborted", false);
        }
      },
    };
  }

  /** A DIMSE operation answered with a final status. */
  operation(info: AssociationInfo, service: string, status: number, detail = ""): void {
    const key = `${service}\t${status}`;
    this.#operations.set(key, (this.#operations.get(key) ?? 0) + 1);
    const open = this.#open.get(info.id);
    if (open) open.services[service] = (open.services[service] ?? 0) + 1;
    const category = statusCategory(status);
    const kind = (["store", "find", "move", "get", "echo"] as const).find((k) => k === service);
    if (kind) {
      const hex = `0x${status.toString(16).toUpperCase().padStart(4, "0")}`;
      const text = `${commandName(service)}${detail ? ` ${detail}` : ""}: ${hex} ${category}`;
      this.#event(kind, info, text, category === "success" || category === "warning");
    }
  }

  /** Fed by the store service after each C-STORE: duration histogram, stores per minute. */
  stored(outcome: StoreOutcome): void {
    const s = outcome.ms / 1000;
    const h = this.#storeDuration;
    h.count++;
    h.sum += s;
    STORE_DURATION_BUCKETS.forEach((le, i) => {
      if (s <= le) h.buckets[i]++;
    });
    const category = statusCategory(outcome.status);
    if (category !== "success" && category !== "warning") return;
    const minute = Math.floor(this.#now() / MINUTE);
    const slot = this.#perMinute[minute % 60];
    if (slot.minute !== minute) {
      slot.minute = minute;
      slot.n = 0;
    }
    slot.n++;
  }

  /** An action asked for on the web page or the API (delete, send). */
  action(kind: "delete" | "send", peer: string, text: string, ok: boolean): void {
    this.#push({ at: this.#now(), kind, peer, text, ok });
  }

  /** A C-ECHO this server sent (the Peers page). */
  echoSent(peer: string, text: string, ok: boolean): void {
    this.#push({ at: this.#now(), kind: "echo-scu", peer, text, ok });
  }

  /** The services with each final response counted as an operation (service_observer.ts). */
  /** `work`: told of each operation while it runs (the idle release). */
  observeServices(services: readonly DimseService[], work?: () => () => void): DimseService[] {
    return observeServices(
      services,
      (info, service, status, detail) => this.operation(info, service, status, detail),
      work,
    );
  }

  // ---- reading ----

  openAssociations(): OpenAssociation[] {
    return [...this.#open.values()].map((a) => ({ ...a, services: { ...a.services } }));
  }

  /** C-STOREs answered so far (any status): moves whenever the index may have changed. */
  get storesAnswered(): number {
    return this.#storeDuration.count;
  }

  get openCount(): number {
    return this.#open.size;
  }

  /** Since start-up. */
  totals(): AssociationCounts & { rejectedByReason: Record<string, number> } {
    const rejectedByReason = Object.fromEntries(this.#rejected);
    const rejected = [...this.#rejected.values()].reduce((a, b) => a + b, 0);
    return { accepted: this.#accepted, rejected, aborted: this.#aborted, rejectedByReason };
  }

  /** Since local midnight. */
  today(): AssociationCounts {
    const { accepted, rejected, aborted } = this.#day();
    return { accepted, rejected, aborted };
  }

  /** Final responses by service and status. */
  operations(): { service: string; status: number; count: number }[] {
    return [...this.#operations].map(([key, count]) => {
      const [service, status] = key.split("\t");
      return { service, status: Number(status), count };
    });
  }

  bytes(): { received: number; sent: number } {
    return { received: this.#bytesReceived, sent: this.#bytesSent };
  }

  storeDuration(): Histogram {
    const h = this.#storeDuration;
    return { buckets: [...h.buckets], sum: h.sum, count: h.count };
  }

  /** Successful stores in each of the last 60 minutes, oldest first (the last is this minute). */
  storesPerMinute(): number[] {
    const current = Math.floor(this.#now() / MINUTE);
    const out: number[] = [];
    for (let m = current - 59; m <= current; m++) {
      const slot = this.#perMinute[((m % 60) + 60) % 60];
      out.push(slot.minute === m ? slot.n : 0);
    }
    return out;
  }

  /** The most recent events, newest first. */
  recentEvents(n = 20): StatsEvent[] {
    const out: StatsEvent[] = [];
    const total = this.#events.length;
    for (let i = 1; i <= Math.min(n, total); i++) {
      out.push(this.#events[(this.#nextEvent - i + total) % total]);
    }
    return out;
  }

  // ---- internals ----

  #day() {
    const d = new Date(this.#now());
    const day = `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
    if (this.#today.day !== day) this.#today = { day, accepted: 0, rejected: 0, aborted: 0 };
    return this.#today;
  }

  #event(
    kind: EventKind,
    who: { callingAeTitle: string; remote: string },
    text: string,
    ok: boolean,
  ) {
    this.#push({
      at: this.#now(),
      kind,
      peer: `${who.callingAeTitle || "?"}@${who.remote}`,
      text,
      ok,
    });
  }

  #push(event: StatsEvent) {
    if (this.#events.length < EVENT_CAPACITY) {
      this.#events.push(event);
      this.#nextEvent = this.#events.length % EVENT_CAPACITY;
    } else {
      this.#events[this.#nextEvent] = event;
      this.#nextEvent = (this.#nextEvent + 1) % EVENT_CAPACITY;
    }
  }
}

function commandName(service: string): string {
  // Storage commitment is asked for with N-ACTION (PS3.4 J.3.2).
  return service === "commitment" ? "N-ACTION storage commitment" : `C-${service.toUpperCase()}`;
}
