// Query/Retrieve FIND SCP for the Patient Root and Study Root information models
// (PS3.4 C.4.1, C.6.1, C.6.2; PS3.7 9.1.2). Matches stream out as they are read from the
// index: one Pending response each, then the final status.
import { type Command, CommandField } from "../dimse/command.ts";
import { Status, statusText } from "../dimse/status.ts";
import { EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE } from "../dicom/transfer_syntaxes.ts";
import type { QueryIndex } from "../ports.ts";
import { type AuditTrail, outcomeOf, queryKeys } from "../audit.ts";
import { modelOf, QR_SOP_CLASSES } from "../query/keys.ts";
import { elementsMatch } from "../query/matching.ts";
import { parseQuery, type Query } from "../query/query.ts";
import { type FileAttributes, ResponseBuilder } from "../query/response.ts";
import type { AcceptedContext, SupportedSyntax } from "../ul/negotiation.ts";
import type {
  DimseRequest,
  DimseService,
  OutgoingMessage,
  ServiceContext,
} from "../dimse/service_contract.ts";
import { peerFields, responder, responseCommand } from "./service.ts";

export interface FindServiceOptions {
  /** Each query, answered or refused, as a "Query" audit record (PS3.15 A.5.3.10). */
  audit?: AuditTrail;
  index: QueryIndex;
  /** Our AE title: Retrieve AE Title (0008,0054) of every match. */
  aeTitle: string;
  /** `[query] case_insensitive_pn` */
  caseInsensitivePn: boolean;
  /** `[query] max_results`: more matches end in a refusal (0 = unlimited). */
  maxResults: number;
}

/** Identifiers are a few keys; anything near this is not a query. */
const MAX_IDENTIFIER_BYTES = 1024 * 1024;
const FIND_SOP_CLASSES = [QR_SOP_CLASSES.PatientRootFind, QR_SOP_CLASSES.StudyRootFind];
const FIND_TRANSFER_SYNTAXES = new Set([IMPLICIT_VR_LE, EXPLICIT_VR_LE, EXPLICIT_VR_BE]);

/**
 * True when combined date-time matching was agreed for the context (PS3.4 C.5.1.1.1, byte 2 of
 * the C-FIND application information), once the association layer records what it accepted.
 */
function combinedDateTimeAgreed(context: AcceptedContext): boolean {
  const info = context.extendedNegotiation;
  return info !== undefined && info.length > 1 && info[1] === 1;
}

/**
 * Our answer to a requestor's C-FIND SOP Class Extended Negotiation (PS3.4 C.5.1.1.1, D.3.3.5):
 * relational queries declined, combined date-time matching accepted when asked, fuzzy semantic
 * person name matching, timezone adjustment and the rest declined. For the association layer,
 * which then records the reply as the context's `extendedNegotiation`.
 */
export function findExtendedNegotiationReply(info: Uint8Array): Uint8Array {
  const reply = new Uint8Array(Math.min(info.length, 5));
  if (info.length > 1 && info[1] === 1) reply[1] = 1;
  return reply;
}

export class FindService implements DimseService {
  readonly name = "find";
  readonly commandFields = [CommandField.CFindRq];
  readonly #options: FindServiceOptions;

  constructor(options: FindServiceOptions) {
    this.#options = options;
  }

  *syntaxes(): Iterable<SupportedSyntax> {
    for (const uid of FIND_SOP_CLASSES) {
      yield {
        abstractSyntax: uid,
        acceptsTransferSyntax: (ts) => FIND_TRANSFER_SYNTAXES.has(ts),
        extendedNegotiation: findExtendedNegotiationReply,
      };
    }
  }

  async handle(req: DimseRequest, ctx: ServiceContext): Promise<void> {
    const started = performance.now();
    const sopClassUid = req.context.abstractSyntax;
    const fields = peerFields(ctx);
    const respond = responder(req, ctx, CommandField.CFindRsp);
    const audit = (status: number, query?: Query, matches?: number, comment?: string) =>
      this.#options.audit?.record({
        EventID: "Query",
        EventActionCode: "E",
        EventOutcomeIndicator: outcomeOf(status),
        EventOutcomeDescription: status === Status.Success
          ? undefined
          : `${statusText(status)}${comment ? `: ${comment}` : ""}`,
        UserID: ctx.association.callingAeTitle,
        NetworkAccessPointID: ctx.association.remote,
        AssociationID: ctx.association.id,
        SOPClassUID: sopClassUid,
        QueryKeys: query ? queryKeys(query) : undefined,
        NumberOfMatches: matches,
      });
    const refuse = async (status: number, comment: string, offendingElement?: number[]) => {
      audit(status, undefined, undefined, comment);
      ctx.logger.log("warn", `find refused: ${comment}`, { ...fields, status: statusText(status) });
      await respond(status, { errorComment: comment, offendingElement });
    };

    if (!req.dataset) return await refuse(Status.CannotUnderstand, "C-FIND-RQ without identifier");
    let identifier: Uint8Array;
    try {
      identifier = await req.dataset.collect(MAX_IDENTIFIER_BYTES);
    } catch {
      return await refuse(Status.CannotUnderstand, "identifier too large");
    }
    const model = modelOf(sopClassUid)!;
    let query: Query;
    let builder: ResponseBuilder;
    try {
      const parsed = parseQuery(identifier, req.context.transferSyntax, {
        model,
        caseInsensitivePn: this.#options.caseInsensitivePn,
        combinedDateTime: combinedDateTimeAgreed(req.context),
      });
      if (!parsed.ok) return await refuse(parsed.status, parsed.comment, parsed.offendingElement);
      query = parsed.query;
      builder = new ResponseBuilder(query, {
        aeTitle: this.#options.aeTitle,
        transferSyntaxUid: req.context.transferSyntax,
      });
    } catch (e) {
      ctx.logger.log("error", `find failed: ${(e as Error).message}`, fields);
      return await refuse(Status.UnableToProcess, "query cannot be processed");
    }
    const pending = query.unmatchedKeys.length ? Status.PendingWarning : Status.Pending;
    const max = this.#options.maxResults;
    const cancelled = ctx.cancelled;
    const out = new ResponseQueue(req, ctx);
    let matches = 0;
    let status: number = Status.Success;
    let comment: string | undefined;
    try {
      for await (const row of this.#options.index.find(query, cancelled)) {
        if (cancelled.aborted) break;
        let file: FileAttributes | undefined;
        if (query.fileTags.length) {
          file = (await this.#options.index.readAttributes(row.sopInstanceUid, query.fileTags)) ??
            undefined;
          if (
            query.fileMatches.length &&
            (!file || !elementsMatch(query.fileMatches, file.elements, file.specificCharacterSet))
          ) continue;
        }
        if (max > 0 && matches >= max) {
          status = Status.RefusedOutOfResources;
          comment = `more than ${max} matches: query too broad, narrow it`;
          break;
        }
        matches++;
        await out.add(pending, builder.build(row, file));
      }
    } catch (e) {
      // A write that failed (the peer went away) fails the final response below as well.
      status = Status.UnableToProcess;
      comment = `query failed: ${(e as Error).message}`.slice(0, 64);
      ctx.logger.log("error", comment, fields);
    }
    if (cancelled.aborted && status === Status.Success) status = Status.Cancel;
    await out.end(status, comment);
    audit(status, query, matches, comment);
    ctx.logger.log(status === Status.RefusedOutOfResources ? "warn" : "info", "find done", {
      ...fields,
      model,
      level: query.level,
      matches,
      status: statusText(status),
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
  }
}

/** Identifier bytes of pending responses held while one write is under way. */
const MAX_QUEUED_BYTES = 64 * 1024;

/**
 * The responses to one C-FIND, sent as they come without waiting for each to be written: the
 * first goes out at once, and those built while a write is under way go together in the next
 * one (ServiceContext.sendAll), so a burst of matches costs a few writes instead of one each.
 * Past MAX_QUEUED_BYTES waiting, the next match waits for the write (the peer's pace).
 */
class ResponseQueue {
  readonly #req: DimseRequest;
  readonly #ctx: ServiceContext;
  #queued: OutgoingMessage[] = [];
  #queuedBytes = 0;
  /** The write under way, if any. */
  #writing: Promise<void> | null = null;
  /** A write that failed: every later call throws it. */
  #error: Error | null = null;

  constructor(req: DimseRequest, ctx: ServiceContext) {
    this.#req = req;
    this.#ctx = ctx;
  }

  /** Queues a pending response; waits only while too much is already waiting. */
  async add(status: number, identifier: Uint8Array): Promise<void> {
    if (this.#error) throw this.#error;
    this.#queued.push({ command: this.#command(status, {}, true), dataset: identifier });
    this.#queuedBytes += identifier.length;
    if (this.#writing === null) this.#flush();
    else if (this.#queuedBytes >= MAX_QUEUED_BYTES) {
      await this.#writing;
      if (this.#error) throw this.#error;
      if (this.#writing === null && this.#queued.length) this.#flush();
    }
  }

  /** The final response, after (and with) whatever still waits; resolves once written. */
  async end(status: number, errorComment?: string): Promise<void> {
    while (this.#writing) await this.#writing;
    if (this.#error) throw this.#error;
    const final = { command: this.#command(status, errorComment ? { errorComment } : {}, false) };
    const messages = [...this.#queued, final];
    this.#queued = [];
    this.#queuedBytes = 0;
    await this.#send(messages);
  }

  #command(status: number, extra: Partial<Command>, hasDataset: boolean): Command {
    return responseCommand(this.#req, CommandField.CFindRsp, status, extra, hasDataset);
  }

  /** Starts writing what is queued; the next add() or end() sees when it is done. */
  #flush(): void {
    const messages = this.#queued;
    this.#queued = [];
    this.#queuedBytes = 0;
    const writing = this.#send(messages).catch((e: Error) => {
      this.#error ??= e;
    }).finally(() => {
      if (this.#writing === writing) this.#writing = null;
    });
    this.#writing = writing;
  }

  async #send(messages: OutgoingMessage[]): Promise<void> {
    const ctx = this.#ctx;
    if (ctx.sendAll) return await ctx.sendAll(messages);
    for (const m of messages) await ctx.send(m.command, m.dataset);
  }
}
