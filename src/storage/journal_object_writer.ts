// The ObjectWriter of one incoming object: its bytes are appended to the association's journal
// segment; commit hands the finished record to the store, abort cuts it off.
import type { CommitResult, IncomingObject, InstanceRecord, ObjectWriter } from "../core/ports.ts";
import type { SegmentWriter } from "./segment_writer.ts";

/** The segment and the object in progress of one association. */
export interface AssociationState {
  segment?: SegmentWriter;
  writer?: JournalObjectWriter;
}

/** What a writer needs of the store: committing its finished record, counting bytes written. */
export interface RecordCommitter {
  /** The free space gauge's count of what was written since its last statfs (free_space.ts). */
  readonly freeSpace: { noteWritten(bytes: number): void };
  commitRecord(
    writer: JournalObjectWriter,
    segment: SegmentWriter,
    record: InstanceRecord,
  ): Promise<CommitResult>;
}

type WriterState = "open" | "committing" | "done";

export class JournalObjectWriter implements ObjectWriter {
  readonly incoming: IncomingObject;
  segment: SegmentWriter | undefined;
  #store: RecordCommitter;
  #assoc: AssociationState;
  #state: WriterState = "open";
  #committing: Promise<unknown> | undefined;

  constructor(store: RecordCommitter, assoc: AssociationState, incoming: IncomingObject) {
    this.#store = store;
    this.#assoc = assoc;
    this.incoming = incoming;
  }

  /** Copies the bytes into the journal's buffer (written out whenever it fills); throws on failure. */
  write(chunk: Uint8Array): void {
    if (this.#state !== "open" || !this.segment) throw new Error("object writer is closed");
    if (chunk.length === 0) return;
    this.#store.freeSpace.noteWritten(chunk.length);
    this.segment.append(chunk);
  }

  async commit(record: InstanceRecord): Promise<CommitResult> {
    if (this.#state !== "open" || !this.segment) throw new Error("object writer is closed");
    this.#state = "committing";
    const segment = this.segment;
    const run = (async () => {
      try {
        return await this.#store.commitRecord(this, segment, record);
      } catch (e) {
        // Nothing is left behind: the record is cut off and never replayed.
        await segment.discardRecord().catch(() => {});
        throw e;
      } finally {
        this.#finish();
      }
    })();
    this.#committing = run;
    return await run;
  }

  async abort(): Promise<void> {
    if (this.#state === "committing") {
      await this.#committing?.catch(() => {});
      return;
    }
    if (this.#state !== "open") return;
    this.#finish();
    await this.segment?.discardRecord();
  }

  #finish(): void {
    this.#state = "done";
    if (this.#assoc.writer === this) this.#assoc.writer = undefined;
  }
}
