// Storage SOP Class SCP: C-STORE streamed into the object store (PS3.4 Annex B, PS3.7 9.1.1).
// The dataset is never gathered in memory: each fragment goes to the journal as it arrives,
// and the header scanner reads the attributes the index needs on the way past.
import { CommandField, NO_DATASET } from "../dimse/command.ts";
import { Status } from "../dimse/status.ts";
import { HeaderError, HeaderScanner } from "../dicom/header_scanner.ts";
import {
  NON_PATIENT_STORAGE_SOP_CLASSES,
  sopClassName,
  STORAGE_SOP_CLASSES,
} from "../dicom/sop_classes.ts";
import { isSupportedTransferSyntax } from "../dicom/transfer_syntaxes.ts";
import { trimUid } from "../dicom/uid.ts";
import type { ObjectStore, ObjectWriter } from "../ports.ts";
import type { SupportedSyntax } from "../ul/negotiation.ts";
import type { DimseRequest, DimseService, ServiceContext } from "../dimse/service_contract.ts";
import { peerFields } from "./service.ts";

export interface StorageServiceOptions {
  store: ObjectStore;
  /** "all" standard storage classes, or the UIDs to accept. */
  sopClasses: "all" | readonly string[];
  /** Below this many free bytes a store is refused with 0xA700 before anything is written. */
  minFreeBytes: number;
  /** Patient's Name and ID in the store log line (log.phi); never by default. */
  logPhi?: boolean;
  /**
   * C-GET, where we send on the caller's storage contexts: true for a transfer syntax any
   * stored image can be sent in (the store SCU's producesTransferSyntax()). Absent: the first
   * proposed syntax is taken.
   */
  producesTransferSyntax?(uid: string): boolean;
  /** Called after each store (metrics, status page). */
  onStored?(info: { status: number; bytes: number; ms: number; sopClassUid: string }): void;
}

/** Thrown inside handle() to end a store with a DIMSE failure status. */
class StoreFailure extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export class StorageService implements DimseService {
  readonly name = "store";
  readonly commandFields = [CommandField.CStoreRq];
  #options: StorageServiceOptions;

  constructor(options: StorageServiceOptions) {
    this.#options = options;
  }

  /** The storage classes we accept, each with every standard transfer syntax. */
  *syntaxes(): Iterable<SupportedSyntax> {
    // "all": every patient-level storage class. Non-patient objects (hanging protocols,
    // color palettes...) have no study to file them under and are not accepted.
    const uids = this.#options.sopClasses === "all"
      ? [...STORAGE_SOP_CLASSES.keys()].filter((uid) => !NON_PATIENT_STORAGE_SOP_CLASSES.has(uid))
      : this.#options.sopClasses;
    for (const uid of uids) {
      yield {
        abstractSyntax: uid,
        acceptsTransferSyntax: isSupportedTransferSyntax,
        acceptsScpRole: true,
        producesTransferSyntax: this.#options.producesTransferSyntax,
      };
    }
  }

  async handle(req: DimseRequest, ctx: ServiceContext): Promise<void> {
    const started = performance.now();
    const cmd = req.command;
    const sopClassUid = trimUid(cmd.affectedSopClassUid ?? "");
    const sopInstanceUid = trimUid(cmd.affectedSopInstanceUid ?? "");
    const transferSyntaxUid = req.context.transferSyntax;
    const fields = peerFields(ctx);
    let status: number = Status.Success;
    let comment: string | undefined;
    let writer: ObjectWriter | undefined;
    let stored: { studyInstanceUid: string; patientName: string; patientId: string } | undefined;
    const dataset = req.dataset;
    try {
      if (!dataset) throw new StoreFailure(Status.CannotUnderstand, "C-STORE-RQ without a dataset");
      if (sopClassUid !== req.context.abstractSyntax) {
        throw new StoreFailure(
          Status.CannotUnderstand,
          "Affected SOP Class UID differs from the presentation context",
        );
      }
      const free = await this.#options.store.freeBytes();
      if (free < this.#options.minFreeBytes) {
        throw new StoreFailure(
          Status.RefusedOutOfResources,
          `free space ${Math.floor(free / 1048576)} MB is below min_free_mb`,
        );
      }
      try {
        writer = await this.#options.store.begin({
          assocId: ctx.association.id,
          callingAeTitle: ctx.association.callingAeTitle,
          remote: ctx.association.remote,
          httpUser: ctx.association.httpUser,
          sopClassUid,
          sopInstanceUid,
          transferSyntaxUid,
        });
      } catch (e) {
        // No journal segment could be created (a full disk, min_free_mb = 0): a failed write.
        throw new StoreFailure(
          Status.RefusedOutOfResources,
          `journal not writable: ${(e as Error).message}`,
        );
      }
      // Parsed to its end on the way past: what cannot be read back is never acknowledged.
      const scanner = new HeaderScanner(transferSyntaxUid, { wholeDataset: true });
      const target = writer;
      const writeFailed = (e: unknown) =>
        new StoreFailure(Status.RefusedOutOfResources, `write failed: ${(e as Error).message}`);
      const store = (chunk: Uint8Array): void | Promise<void> => {
        let written;
        try {
          written = target.write(chunk);
        } catch (e) {
          throw writeFailed(e);
        }
        if (written) return written.catch((e) => Promise.reject(writeFailed(e)));
      };
      // Each fragment is scanned and handed to the writer as the reader gets it, with no turn
      // of the event loop unless one of them returns a promise (a deflated dataset, a writer
      // that waits).
      await dataset.forEach((chunk) => {
        const scanned = scanner.push(chunk);
        if (scanned) return scanned.then(() => store(chunk));
        return store(chunk);
      });
      // The association ended (A-ABORT, lost connection) before the last fragment: what
      // arrived is not the whole object and must never be committed.
      if (dataset.cancelled) {
        throw new StoreFailure(Status.ProcessingFailure, "association ended mid-dataset");
      }
      let header;
      try {
        header = await scanner.finish();
      } catch (e) {
        if (e instanceof HeaderError) {
          throw new StoreFailure(Status.CannotUnderstand, (e as Error).message);
        }
        throw e;
      }
      const record = { ...header.record, transferSyntaxUid };
      stored = record;
      if (record.sopInstanceUid !== sopInstanceUid || record.sopClassUid !== sopClassUid) {
        throw new StoreFailure(
          Status.DataSetDoesNotMatchSopClass,
          "dataset SOP Class/Instance UID differs from the command",
        );
      }
      let result;
      try {
        result = await writer.commit(record);
      } catch (e) {
        throw new StoreFailure(
          Status.RefusedOutOfResources,
          `commit failed: ${(e as Error).message}`,
        );
      }
      writer = undefined;
      if (result === "duplicate-rejected") {
        status = Status.DuplicateSopInstance;
        comment = "SOP Instance already stored (duplicates = reject)";
      } else if (result === "series-in-other-study") {
        status = Status.CannotUnderstand;
        comment = "Series Instance UID already belongs to another study";
        ctx.logger.log("warn", "series reused under another study: refused", {
          ...fields,
          series: record.seriesInstanceUid,
          study: record.studyInstanceUid,
        });
      }
    } catch (e) {
      if (!(e instanceof StoreFailure)) throw e;
      status = e.status;
      comment = e.message.slice(0, 64);
      await writer?.abort().catch(() => {});
      // Answer only once the peer has sent the whole dataset: drain and discard the rest.
      if (dataset && !dataset.cancelled) { for await (const _ of dataset) { /* discarded */ } }
    }
    const bytes = dataset?.bytesReceived ?? 0;
    const ms = performance.now() - started;
    await ctx.send({
      commandField: CommandField.CStoreRsp,
      commandDataSetType: NO_DATASET,
      messageIdBeingRespondedTo: cmd.messageId ?? 0,
      affectedSopClassUid: sopClassUid,
      affectedSopInstanceUid: sopInstanceUid,
      status,
      errorComment: comment,
    });
    this.#options.onStored?.({ status, bytes, ms, sopClassUid });
    // One line per object (PS3.4 B.2.3 status): who sent what, where it was filed.
    const line = {
      ...fields,
      sop_class: sopClassName(sopClassUid),
      sop_instance: sopInstanceUid,
      study: stored?.studyInstanceUid,
      status: `0x${status.toString(16).padStart(4, "0")}`,
      bytes,
      ms: Math.round(ms * 10) / 10,
      ...(this.#options.logPhi && stored
        ? { patient_name: stored.patientName, patient_id: stored.patientId }
        : {}),
    };
    if (status === Status.Success) ctx.logger.log("info", "stored", line);
    else ctx.logger.log("warn", `store failed: ${comment}`, line);
  }
}
