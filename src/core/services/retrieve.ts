// What C-MOVE and C-GET share (PS3.4 C.4.2, C.4.3; PS3.7 9.1.3, 9.1.4): the identifier selects
// instances by the hierarchical rules of C-FIND, each is sent as a C-STORE sub-operation,
// Pending responses report the counts, C-CANCEL stops after the sub-operation in flight, and
// the final status sums it up with the Failed SOP Instance UID List.
import { type Command } from "../dimse/command.ts";
import { Status, statusText } from "../dimse/status.ts";
import { encodeDataset, encodingOf } from "../dicom/dataset.ts";
import { sopClassName } from "../dicom/sop_classes.ts";
import { EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE } from "../dicom/transfer_syntaxes.ts";
import type { QueryIndex } from "../ports.ts";
import { modelOf } from "../query/keys.ts";
import { parseQuery, type Query } from "../query/query.ts";
import { type AuditTrail, outcomeOf, queryKeys } from "../audit.ts";
import type { DimseRequest, ServiceContext } from "../dimse/service_contract.ts";
import { peerFields, responder } from "./service.ts";
import { STORE_LOOKAHEAD, type SubOperationResult } from "./store_scu.ts";
import type { SubOperationTarget } from "./sub_operation_contexts.ts";
import type { SupportedSyntax } from "../ul/negotiation.ts";

/** Transfer syntaxes of the MOVE and GET contexts themselves (identifiers are small). */
export const RETRIEVE_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  IMPLICIT_VR_LE,
  EXPLICIT_VR_LE,
  EXPLICIT_VR_BE,
]);

/** The contexts a C-MOVE or C-GET SCP accepts: its SOP classes in the syntaxes above. */
export function retrieveSyntaxes(sopClasses: readonly string[]): SupportedSyntax[] {
  return sopClasses.map((uid) => ({
    abstractSyntax: uid,
    acceptsTransferSyntax: (ts: string) => RETRIEVE_TRANSFER_SYNTAXES.has(ts),
  }));
}

const MAX_IDENTIFIER_BYTES = 1024 * 1024;
/** Up to this many sub-operations, a Pending response follows each one. */
const SMALL_RETRIEVE = 10;
/**
 * Otherwise a Pending follows a sub-operation when the last one is this old (progress ten times
 * a second is plenty for a viewer, and each costs the caller a turn)...
 */
const PENDING_MIN_INTERVAL_MS = 100;
/** ...and one goes at least this often, even while one sub-operation runs long. */
const PENDING_INTERVAL_MS = 1000;
/** Sub-operation counts are US (PS3.7 9.3.3): larger counts are reported as the maximum. */
const MAX_COUNT = 0xffff;
/** Failed sub-operations logged one by one at warn; the rest at debug. */
const LOGGED_FAILURES = 5;
/** Failed SOP Instance UID (0008,0058). */
const FAILED_SOP_INSTANCE_UID_LIST = 0x00080058;

/** Sends the sub-operations of one retrieve; C-MOVE opens an association for it, C-GET not. */
export interface RetrieveSession {
  /**
   * Runs one C-STORE sub-operation. Throws when the association carrying them is lost or
   * unusable: that sub-operation and every later one fail.
   */
  store(
    target: SubOperationTarget,
    upcoming: readonly SubOperationTarget[],
  ): Promise<SubOperationResult>;
  /** Ends the session (C-MOVE: releases the sub-association; aborts it after a loss). */
  close(lost: boolean): Promise<void>;
}

export interface RetrieveOptions {
  /** "move" or "get", for logs. */
  name: string;
  /** C-MOVE-RSP or C-GET-RSP. */
  responseField: number;
  index: QueryIndex;
  caseInsensitivePn: boolean;
  /** Checked before anything is selected: a refusal ends the request at once (0xA801...). */
  check?(): { status: number; comment: string } | null;
  /**
   * Prepares to send the selected instances. A string says why nothing can be sent (every
   * sub-operation fails); null means the request was cancelled while waiting.
   */
  open(
    instances: readonly SubOperationTarget[],
    signal: AbortSignal,
  ): Promise<RetrieveSession | string | null>;
  /** Extra fields for the closing log line (the destination...). */
  logFields?: Record<string, unknown>;
  /** Each retrieve as a "DICOM Instances Transferred" audit record (PS3.15 A.5.3.6). */
  audit?: AuditTrail;
  /** Where the instances go, for the audit record (the Move Destination; C-GET: the caller). */
  destination?: string;
}

/** The four counts of PS3.7 9.1.3.1 / 9.1.4.1. */
export interface SubOperationCounts {
  remaining: number;
  completed: number;
  failed: number;
  warning: number;
}

const clamp = (n: number) => Math.min(n, MAX_COUNT);

/** Final status (PS3.4 C.4.2.1.5, C.4.3.1.5). */
export function finalStatus(counts: SubOperationCounts, cancelled: boolean): number {
  if (cancelled) return Status.Cancel;
  if (counts.failed === 0 && counts.warning === 0) return Status.Success;
  if (counts.completed === 0 && counts.warning === 0) return Status.OutOfResourcesSubOps;
  return Status.SubOpsCompleteWithFailures;
}

/**
 * The Failed SOP Instance UID List identifier (PS3.4 C.4.2.1.4) in the context's syntax. A
 * list too long for a 2-byte length in Explicit VR is cut to what fits.
 */
export function failedListIdentifier(
  uids: readonly string[],
  transferSyntaxUid: string,
): Uint8Array {
  const encoding = encodingOf(transferSyntaxUid);
  const limit = encoding.explicitVr ? 0xfffe : 64 * 1024 * 1024;
  let text = "";
  for (const uid of uids) {
    const next = text ? `${text}\\${uid}` : uid;
    if (next.length > limit) break;
    text = next;
  }
  const value = new TextEncoder().encode(text);
  return encodeDataset([{ tag: FAILED_SOP_INSTANCE_UID_LIST, vr: "UI", value }], encoding);
}

/**
 * Sends Pending responses: after each sub-operation of a small retrieve, else after one when
 * the last Pending is 100 ms old, and at least once a second.
 */
class Progress {
  readonly #send: () => Promise<void>;
  readonly #eachStep: boolean;
  #last = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inflight: Promise<void> | null = null;
  #stopped = false;

  constructor(send: () => Promise<void>, eachStep: boolean) {
    this.#send = send;
    this.#eachStep = eachStep;
    this.#last = performance.now();
    this.#arm();
  }

  /** A sub-operation ended. */
  step(): void {
    if (this.#eachStep || performance.now() - this.#last >= PENDING_MIN_INTERVAL_MS) this.#fire();
  }

  /** No more Pending responses; resolves once the one being sent (if any) is out. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#inflight;
  }

  #arm(): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#fire(), PENDING_INTERVAL_MS);
  }

  #fire(): void {
    if (this.#stopped || this.#inflight) return; // the next one carries newer counts
    this.#last = performance.now();
    this.#inflight = this.#send().catch(() => {}).finally(() => {
      this.#inflight = null;
      this.#arm();
    });
  }
}

/** Runs a C-MOVE or C-GET request from identifier to final response. */
export async function runRetrieve(
  req: DimseRequest,
  ctx: ServiceContext,
  options: RetrieveOptions,
): Promise<void> {
  const started = performance.now();
  const sopClassUid = req.context.abstractSyntax;
  const transferSyntax = req.context.transferSyntax;
  const fields = { ...peerFields(ctx), ...options.logFields };
  const respond = responder(req, ctx, options.responseField);
  const audit = (status: number, query?: Query, counts?: SubOperationCounts, why?: string) =>
    options.audit?.record({
      EventID: "DICOM Instances Transferred",
      EventActionCode: "R",
      EventOutcomeIndicator: outcomeOf(status),
      EventOutcomeDescription: status === Status.Success
        ? undefined
        : `${statusText(status)}${why ? `: ${why}` : ""}`,
      EventTypeCode: options.name === "move" ? "C-MOVE" : "C-GET",
      UserID: ctx.association.callingAeTitle,
      NetworkAccessPointID: ctx.association.remote,
      DestinationUserID: options.destination ?? ctx.association.callingAeTitle,
      AssociationID: ctx.association.id,
      SOPClassUID: sopClassUid,
      QueryKeys: query ? queryKeys(query) : undefined,
      NumberOfInstances: counts ? counts.completed + counts.warning : undefined,
      NumberOfFailed: counts?.failed || undefined,
    });
  const refuse = async (status: number, comment: string, offendingElement?: number[]) => {
    audit(status, undefined, undefined, comment);
    ctx.logger.log("warn", `${options.name} refused: ${comment}`, {
      ...fields,
      status: statusText(status),
    });
    await respond(status, { errorComment: comment, offendingElement });
  };

  if (!req.dataset) {
    return await refuse(
      Status.CannotUnderstand,
      `C-${options.name.toUpperCase()}-RQ without identifier`,
    );
  }
  let identifier: Uint8Array;
  try {
    identifier = await req.dataset.collect(MAX_IDENTIFIER_BYTES);
  } catch {
    return await refuse(Status.CannotUnderstand, "identifier too large");
  }
  const parsed = parseQuery(identifier, transferSyntax, {
    model: modelOf(sopClassUid)!,
    caseInsensitivePn: options.caseInsensitivePn,
    retrieve: true,
  });
  if (!parsed.ok) return await refuse(parsed.status, parsed.comment, parsed.offendingElement);
  if (parsed.query.level === "PATIENT" && modelOf(sopClassUid) === "STUDY") {
    ctx.logger.log(
      "debug",
      `${options.name} at PATIENT level in the Study Root model: every study of the patient`,
      fields,
    );
  }
  const refusal = options.check?.();
  if (refusal) return await refuse(refusal.status, refusal.comment);

  const cancelled = ctx.cancelled;
  const instances: SubOperationTarget[] = [];
  try {
    const seen = new Set<string>();
    for await (const ref of options.index.instancesFor(parsed.query, cancelled)) {
      if (seen.has(ref.sopInstanceUid)) continue;
      seen.add(ref.sopInstanceUid);
      instances.push({
        sopInstanceUid: ref.sopInstanceUid,
        sopClassUid: ref.sopClassUid,
        transferSyntaxUid: ref.transferSyntaxUid,
      });
    }
  } catch (e) {
    const comment = `selecting instances failed: ${(e as Error).message}`.slice(0, 64);
    ctx.logger.log("error", comment, fields);
    return await respond(Status.UnableToProcess, { errorComment: comment });
  }

  const total = instances.length;
  const counts: SubOperationCounts = { remaining: total, completed: 0, failed: 0, warning: 0 };
  const failedUids: string[] = [];
  const countFields = (withRemaining: boolean): Partial<Command> => ({
    numberOfRemainingSuboperations: withRemaining ? clamp(counts.remaining) : undefined,
    numberOfCompletedSuboperations: clamp(counts.completed),
    numberOfFailedSuboperations: clamp(counts.failed),
    numberOfWarningSuboperations: clamp(counts.warning),
  });
  let wasCancelled = cancelled.aborted;
  let why: string | undefined;
  if (total > 0 && !wasCancelled) {
    const progress = new Progress(
      () => respond(Status.Pending, countFields(true)),
      total <= SMALL_RETRIEVE,
    );
    let session: RetrieveSession | string | null = null;
    try {
      session = await options.open(instances, cancelled);
      if (session === null) wasCancelled = true;
      else if (typeof session === "string") {
        why = session;
        counts.failed = total;
        counts.remaining = 0;
        for (const i of instances) failedUids.push(i.sopInstanceUid);
      } else {
        why = await sendAll(
          session,
          instances,
          counts,
          failedUids,
          cancelled,
          progress,
          ctx,
          fields,
        );
        wasCancelled = cancelled.aborted && counts.remaining > 0;
      }
    } finally {
      await progress.stop();
    }
  }

  const status = finalStatus(counts, wasCancelled);
  const dataset = failedUids.length ? failedListIdentifier(failedUids, transferSyntax) : undefined;
  await respond(status, {
    ...countFields(status === Status.Cancel),
    errorComment: why && status !== Status.Success ? why.slice(0, 64) : undefined,
  }, dataset);
  audit(status, parsed.query, counts, why);
  ctx.logger.log(status === Status.Success ? "info" : "warn", `${options.name} done`, {
    ...fields,
    level: parsed.query.level,
    instances: total,
    completed: counts.completed,
    failed: counts.failed,
    warning: counts.warning,
    remaining: status === Status.Cancel ? counts.remaining : undefined,
    status: statusText(status),
    ms: Math.round((performance.now() - started) * 10) / 10,
  });
}

/** The sub-operation loop; returns why the rest failed when the session was lost. */
async function sendAll(
  session: RetrieveSession,
  instances: readonly SubOperationTarget[],
  counts: SubOperationCounts,
  failedUids: string[],
  cancelled: AbortSignal,
  progress: Progress,
  ctx: ServiceContext,
  fields: Record<string, unknown>,
): Promise<string | undefined> {
  let lost: string | undefined;
  try {
    for (const [i, target] of instances.entries()) {
      if (cancelled.aborted) break; // C-CANCEL: stop after the sub-operation in flight
      let result: SubOperationResult;
      try {
        result = await session.store(target, instances.slice(i + 1, i + 1 + STORE_LOOKAHEAD));
      } catch (e) {
        lost = `association lost: ${(e as Error).message}`;
        ctx.logger.log("warn", `${lost}: ${instances.length - i} sub-operation(s) fail`, fields);
        for (const rest of instances.slice(i)) failedUids.push(rest.sopInstanceUid);
        counts.failed += instances.length - i;
        counts.remaining = 0;
        break;
      }
      counts.remaining--;
      if (result.outcome === "completed") counts.completed++;
      else if (result.outcome === "warning") counts.warning++;
      else {
        counts.failed++;
        failedUids.push(target.sopInstanceUid);
      }
      if (result.outcome !== "completed") {
        const level = result.outcome === "failed" && counts.failed <= LOGGED_FAILURES
          ? "warn"
          : "debug";
        ctx.logger.log(level, `sub-operation ${result.outcome}: ${result.reason ?? ""}`, {
          ...fields,
          sop_class: sopClassName(target.sopClassUid),
        });
      }
      progress.step();
    }
  } finally {
    await session.close(lost !== undefined).catch((e) =>
      ctx.logger.log("warn", `closing the sub-operations failed: ${(e as Error).message}`, fields)
    );
  }
  return lost;
}
