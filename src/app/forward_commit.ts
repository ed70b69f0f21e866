// Storage Commitment of forwarded objects as the forwarder asks for it ([[route]] commit = true):
// after a batch went to the destination, one N-ACTION-RQ on the same association names its
// objects under a new Transaction UID (PS3.4 J.3.2). The report (N-EVENT-REPORT-RQ) comes on
// that association, waited for a moment before release, or later on one the destination
// opens to us (J.3.3.3); either way it is settled here against the durable queue.
import type { Logger } from "../core/ports.ts";
import type { CommitmentResult } from "../core/services/commitment.ts";
import {
  encodeActionInformation,
  STORAGE_COMMITMENT_PUSH_MODEL,
} from "../core/services/commitment.ts";
import { actionCommand, CommitmentReportReceiver } from "../core/services/commitment_scu.ts";
import { EXPLICIT_VR_LE, IMPLICIT_VR_LE } from "../core/dicom/transfer_syntaxes.ts";
import type { RequestorAssociation } from "../core/ul/requestor.ts";
import type {
  ForwardCommitments,
  ReportOutcome,
  RetryPolicy,
} from "../storage/forward_commitments.ts";
import type { QueueItem } from "../storage/forward_queue.ts";

export interface ForwardCommitOptions {
  commitments: ForwardCommitments;
  logger: Logger;
  /** The forward retry policy, for objects a report says were not committed. */
  retry: RetryPolicy;
  /** Told of every report settled (the forwarder's counters and log lines). */
  onOutcome(outcome: ReportOutcome & { destination: string }, peer: string): void;
}

/** A Transaction UID under the UUID-derived root (PS3.5 B.2). */
export function newTransactionUid(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `2.25.${BigInt(`0x${hex}`).toString()}`;
}

/** The Storage Commitment context proposed beside the storage ones (we are its SCU). */
export function commitmentContext(id: number) {
  return {
    id,
    abstractSyntax: STORAGE_COMMITMENT_PUSH_MODEL,
    transferSyntaxes: [EXPLICIT_VR_LE, IMPLICIT_VR_LE],
  };
}

export class ForwardCommit {
  readonly #o: ForwardCommitOptions;
  /** Transactions asked for on an association still open, with their waiters. */
  readonly #waiting = new Map<string, () => void>();
  /** Answers reports on the forwarder's own associations (the destination is the called AE). */
  readonly receiver: CommitmentReportReceiver;

  constructor(options: ForwardCommitOptions) {
    this.#o = options;
    this.receiver = new CommitmentReportReceiver(
      (result, peer) => Promise.resolve(this.report(result, peer)),
      (a) => a.calledAeTitle,
    );
  }

  /**
   * Asks the destination on `assoc` to commit `items` (sent on it just now). The rows carry
   * the Transaction UID before the request goes, so an immediate report finds them. Throws
   * why it could not be asked; the caller queues them again.
   */
  async request(
    assoc: RequestorAssociation,
    items: readonly QueueItem[],
    timeout: <T>(p: Promise<T>, what: string) => Promise<T>,
  ): Promise<string> {
    const pc = assoc.contextFor(STORAGE_COMMITMENT_PUSH_MODEL);
    if (!pc) throw new Error("it did not accept the Storage Commitment Push Model");
    const tx = newTransactionUid();
    const refs = items.map((i) => ({
      sopClassUid: i.sopClassUid,
      sopInstanceUid: i.sopInstanceUid,
    }));
    this.#o.commitments.requested(items, tx);
    this.#waiting.set(tx, () => {});
    const rsp = await timeout(
      assoc.request(pc.id, actionCommand(), encodeActionInformation(tx, refs, pc.transferSyntax)),
      "N-ACTION-RQ",
    );
    const status = rsp.command.status ?? 0xffff;
    if (status !== 0) {
      this.#waiting.delete(tx);
      const comment = rsp.command.errorComment ? ` (${rsp.command.errorComment})` : "";
      throw new Error(`storage commitment refused: 0x${status.toString(16)}${comment}`);
    }
    this.#o.logger.log("debug", "storage commitment asked for", {
      assoc: assoc.info.id,
      transaction: tx,
      objects: items.length,
    });
    return tx;
  }

  /**
   * Waits up to `ms` for the reports of `transactions` on the association that asked (a
   * destination reporting on a new association is not waited for).
   */
  async waitForReports(transactions: readonly string[], ms: number): Promise<void> {
    const open = transactions.filter((t) => this.#waiting.has(t));
    if (open.length === 0 || !(ms > 0)) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(open.map((t) => new Promise<void>((r) => this.#waiting.set(t, r)))),
      new Promise<void>((r) => timer = setTimeout(r, ms)),
    ]);
    clearTimeout(timer);
    for (const t of open) this.#waiting.delete(t);
  }

  /** The association that asked for these ended: a later report comes on a new one. */
  forget(transactions: readonly string[]): void {
    for (const t of transactions) this.#waiting.delete(t);
  }

  /** Settles a report from `peer`; false when the Transaction UID is none of ours. */
  report(result: CommitmentResult, peer: string): boolean {
    const outcome = this.#o.commitments.reported(result, this.#o.retry);
    const waiter = this.#waiting.get(result.transactionUid);
    this.#waiting.delete(result.transactionUid);
    waiter?.();
    if (outcome.destination === null) {
      this.#o.logger.log("warn", "storage commitment report for an unknown transaction", {
        peer,
        transaction: result.transactionUid,
      });
      return false;
    }
    this.#o.onOutcome({ ...outcome, destination: outcome.destination }, peer);
    return true;
  }
}
