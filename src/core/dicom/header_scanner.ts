// Streaming scan of a dataset's top-level attributes, up to Pixel Data, in bounded memory.
// Element encoding: PS3.5 7.1 (explicit/implicit VR), 7.3 (byte order), 7.5 (sequences),
// 6.2.2 (UN of undefined length), A.5 (deflate).

import type { InstanceRecord } from "../ports.ts";
import { concatBytes } from "./bytes.ts";
import { decodeString } from "./charset.ts";
import { Tag, tagString } from "./tags.ts";
import { EXPLICIT_VR_LE, TRANSFER_SYNTAXES } from "./transfer_syntaxes.ts";
import { isPlainUid, trimUid } from "./uid.ts";
import { LONG_VRS, SHORT_VRS } from "./vr.ts";

export interface ScannedHeader {
  /** Decoded via charset.ts; missing attributes as "". */
  record: Omit<InstanceRecord, "transferSyntaxUid">;
  /** Raw values of the wanted top-level tags (tag number 0xGGGGEEEE -> bytes). */
  values: Map<number, Uint8Array>;
  sawPixelData: boolean;
}

export class HeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HeaderError";
  }
}

type RecordKey = keyof Omit<InstanceRecord, "transferSyntaxUid">;
type Kind = "uid" | "text" | "pn";

/** Record fields: tag and how the value is decoded. */
const FIELDS: ReadonlyArray<readonly [RecordKey, number, Kind]> = [
  ["patientId", Tag.PatientID, "text"],
  ["patientName", Tag.PatientName, "pn"],
  ["patientBirthDate", Tag.PatientBirthDate, "text"],
  ["patientSex", Tag.PatientSex, "text"],
  ["otherPatientIds", Tag.OtherPatientIDs, "text"],
  ["studyInstanceUid", Tag.StudyInstanceUID, "uid"],
  ["studyDate", Tag.StudyDate, "text"],
  ["studyTime", Tag.StudyTime, "text"],
  ["accessionNumber", Tag.AccessionNumber, "text"],
  ["studyId", Tag.StudyID, "text"],
  ["studyDescription", Tag.StudyDescription, "text"],
  ["referringPhysicianName", Tag.ReferringPhysicianName, "pn"],
  ["seriesInstanceUid", Tag.SeriesInstanceUID, "uid"],
  ["modality", Tag.Modality, "text"],
  ["seriesNumber", Tag.SeriesNumber, "text"],
  ["seriesDescription", Tag.SeriesDescription, "text"],
  ["bodyPartExamined", Tag.BodyPartExamined, "text"],
  ["seriesDate", Tag.SeriesDate, "text"],
  ["seriesTime", Tag.SeriesTime, "text"],
  ["sopInstanceUid", Tag.SOPInstanceUID, "uid"],
  ["sopClassUid", Tag.SOPClassUID, "uid"],
  ["instanceNumber", Tag.InstanceNumber, "text"],
];

const REQUIRED: ReadonlyArray<readonly [RecordKey, string]> = [
  ["sopClassUid", "SOP Class UID (0008,0016)"],
  ["sopInstanceUid", "SOP Instance UID (0008,0018)"],
  ["studyInstanceUid", "Study Instance UID (0020,000D)"],
  ["seriesInstanceUid", "Series Instance UID (0020,000E)"],
];

/** Top-level tags kept by default: those InstanceRecord needs, plus Specific Character Set. */
export const DEFAULT_WANTED: ReadonlySet<number> = new Set([
  Tag.SpecificCharacterSet,
  ...FIELDS.map(([, tag]) => tag),
]);

const DEFAULT_MAX_VALUE_BYTES = 64 * 1024;
const UNDEFINED_LENGTH = 0xffffffff;
/** Open undefined-length sequences plus items; real objects nest a handful deep. */
const MAX_DEPTH = 128;
/** Compressed bytes per write to the inflater: bounds each inflated chunk (deflate ratio <= 1032). */
const INFLATE_PIECE = 8 * 1024;
/** An open undefined-length sequence or item; `implicit` once inside a UN (PS3.5 6.2.2). */
interface Container {
  kind: "sequence" | "item";
  implicit: boolean;
}

/** Reading an element header, skipping a value, or collecting a wanted value. */
type State = "header" | "skip" | "collect";

/**
 * Finds the attributes the index needs in a dataset fed chunk by chunk. Keeps only a header's
 * worth of carry-over bytes, the stack of open sequences and the wanted values (each at most
 * maxValueBytes); everything else is skipped by counting. Stops at top-level Pixel Data.
 */
export class HeaderScanner {
  readonly #explicitVr: boolean;
  readonly #littleEndian: boolean;
  readonly #wanted: ReadonlySet<number>;
  readonly #maxValueBytes: number;
  readonly #wholeDataset: boolean;
  readonly #encapsulated: boolean;
  readonly #values = new Map<number, Uint8Array>();
  readonly #stack: Container[] = [];

  #state: State = "header";
  readonly #head = new Uint8Array(12);
  readonly #headView = new DataView(this.#head.buffer);
  #headHave = 0;
  #headNeed = 8;
  #remaining = 0;
  #collectTag = 0;
  #collectParts: Uint8Array[] = [];
  #position = 0; // dataset bytes consumed, for error messages
  #sawPixelData = false;
  #error: string | undefined;

  // Deflated transfer syntaxes: the inflater, its output pump and the held-back last byte.
  #inflater?: WritableStreamDefaultWriter<BufferSource>;
  #pump?: Promise<void>;
  #heldByte: Uint8Array<ArrayBuffer> | undefined;
  #inflaterStopped = false;
  #finished = false;

  /**
   * wanted: top-level tags to keep (default: those InstanceRecord needs, plus (0008,0005));
   * maxValueBytes: values longer than this are not kept (default 64 KiB). An unknown transfer
   * syntax is read as Explicit VR Little Endian (as every encapsulated syntax is).
   * wholeDataset: parse to the end rather than stop at Pixel Data, so that finish() fails
   * for a dataset that cannot be read back (a length past the end, an undelimited
   * sequence or item) or whose indexed UIDs are not valid UIDs (PS3.5 9.1).
   */
  constructor(
    transferSyntaxUid: string,
    options: { wanted?: ReadonlySet<number>; maxValueBytes?: number; wholeDataset?: boolean } = {},
  ) {
    const ts = TRANSFER_SYNTAXES.get(transferSyntaxUid) ?? TRANSFER_SYNTAXES.get(EXPLICIT_VR_LE)!;
    this.#explicitVr = ts.explicitVr;
    this.#littleEndian = ts.littleEndian;
    this.#wanted = options.wanted ?? DEFAULT_WANTED;
    this.#maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    this.#wholeDataset = options.wholeDataset ?? false;
    this.#encapsulated = ts.encapsulated;
    if (ts.deflated) this.#startInflater();
  }

  /**
   * True once the data is bad, or (unless wholeDataset) once top-level Pixel Data was reached:
   * later bytes are ignored.
   */
  get stopped(): boolean {
    return (this.#sawPixelData && !this.#wholeDataset) || this.#error !== undefined;
  }

  /**
   * Feeds dataset bytes (no file meta) in arrival order, any chunking. Never throws: a
   * malformed dataset is reported by finish(). Chunks are not kept; the caller may reuse them
   * once it returns (or the promise it returns, for a deflated dataset, settles).
   */
  push(chunk: Uint8Array): void | Promise<void> {
    if (this.stopped || this.#finished || chunk.length === 0) {
      if (this.stopped) this.#stopInflater();
      return;
    }
    // Returns nothing unless the dataset is deflated: no promise per fragment to wait for.
    if (!this.#inflater) return this.#consume(chunk);
    return this.#pushDeflated(chunk);
  }

  async #pushDeflated(chunk: Uint8Array): Promise<void> {
    const inflater = this.#inflater!;
    // Hold back the last byte: a trailing pad after the deflate stream (PS3.5 A.5) must be
    // written on its own, so an inflater that rejects it has already delivered the data.
    let bytes = chunk;
    if (this.#heldByte) {
      bytes = new Uint8Array(chunk.length + 1);
      bytes.set(this.#heldByte);
      bytes.set(chunk, 1);
    }
    this.#heldByte = bytes.slice(bytes.length - 1);
    const body = bytes.subarray(0, bytes.length - 1);
    for (let i = 0; i < body.length && !this.stopped; i += INFLATE_PIECE) {
      try {
        await inflater.write(body.slice(i, i + INFLATE_PIECE));
      } catch {
        this.#fail("deflated dataset is corrupt");
      }
    }
    if (this.stopped) this.#stopInflater();
  }

  /**
   * All bytes pushed. Returns the header, or throws HeaderError if the dataset is malformed or
   * lacks SOP Class, SOP Instance, Study Instance or Series Instance UID.
   */
  async finish(): Promise<ScannedHeader> {
    if (!this.#finished) {
      this.#finished = true;
      if (this.#inflater) await this.#finishInflater();
      if (!this.stopped) {
        if (this.#state !== "header" || this.#headHave > 0) {
          this.#fail(`dataset ends inside an element at byte ${this.#position}`);
        } else if (this.#stack.length > 0) {
          const open = this.#stack[this.#stack.length - 1].kind;
          this.#fail(`dataset ends inside an undefined-length ${open} (no delimiter)`);
        }
      }
    }
    if (this.#error !== undefined) throw new HeaderError(this.#error);
    return this.#result();
  }

  #result(): ScannedHeader {
    const charsetBytes = this.#values.get(Tag.SpecificCharacterSet);
    const specificCharacterSet = charsetBytes ? trimText(decodeString(charsetBytes, "")) : "";
    const record = { specificCharacterSet } as Omit<InstanceRecord, "transferSyntaxUid">;
    for (const [field, tag, kind] of FIELDS) {
      const raw = this.#values.get(tag);
      if (!raw) record[field] = "";
      else if (kind === "uid") record[field] = trimUid(decodeString(raw, ""));
      else record[field] = trimText(decodeString(raw, specificCharacterSet, kind === "pn"));
    }
    const missing = REQUIRED.filter(([field]) => record[field] === "").map(([, name]) => name);
    if (missing.length > 0) throw new HeaderError(`dataset lacks ${missing.join(", ")}`);
    if (this.#wholeDataset) {
      // The UIDs the index is keyed by: digits and dots, at most 64 characters, no NUL.
      const bad = REQUIRED.filter(([field]) => !isPlainUid(record[field])).map(([, name]) => name);
      if (bad.length > 0) throw new HeaderError(`invalid UID in ${bad.join(", ")}`);
    }
    return { record, values: this.#values, sawPixelData: this.#sawPixelData };
  }

  #fail(message: string): void {
    this.#error ??= message;
  }

  #consume(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.length && !this.stopped) {
      const available = chunk.length - offset;
      if (this.#state === "skip") {
        const n = Math.min(this.#remaining, available);
        offset += n;
        this.#advance(n);
        continue;
      }
      if (this.#state === "collect") {
        const n = Math.min(this.#remaining, available);
        this.#collectParts.push(chunk.slice(offset, offset + n));
        offset += n;
        this.#advance(n);
        continue;
      }
      const n = Math.min(this.#headNeed - this.#headHave, available);
      this.#head.set(chunk.subarray(offset, offset + n), this.#headHave);
      this.#headHave += n;
      this.#position += n;
      offset += n;
      if (this.#headHave === this.#headNeed) this.#onHeaderBytes();
    }
  }

  /** n value bytes consumed in Skip or Collect. */
  #advance(n: number): void {
    this.#remaining -= n;
    this.#position += n;
    if (this.#remaining > 0) return;
    if (this.#state === "collect") {
      this.#values.set(this.#collectTag, concatBytes(this.#collectParts));
      this.#collectParts = [];
    }
    this.#state = "header";
  }

  #onHeaderBytes(): void {
    const top = this.#stack[this.#stack.length - 1];
    const implicit = top?.implicit || !this.#explicitVr;
    const le = top?.implicit || this.#littleEndian;
    const view = this.#headView;
    const tag = ((view.getUint16(0, le) << 16) | view.getUint16(2, le)) >>> 0;
    const start = this.#position - this.#headHave;

    // Items and delimiters have no VR in any transfer syntax (PS3.5 7.5).
    if (tag >>> 16 === 0xfffe || implicit) {
      this.#headHave = 0;
      this.#element(tag, null, view.getUint32(4, le), start);
      return;
    }
    const vr = String.fromCharCode(this.#head[4], this.#head[5]);
    if (LONG_VRS.has(vr)) {
      if (this.#headNeed === 8) {
        this.#headNeed = 12; // 2 reserved bytes + 4-byte length follow
        return;
      }
      this.#headNeed = 8;
      this.#headHave = 0;
      this.#element(tag, vr, view.getUint32(8, le), start);
    } else if (SHORT_VRS.has(vr)) {
      this.#headHave = 0;
      this.#element(tag, vr, view.getUint16(6, le), start);
    } else {
      this.#fail(`bad VR ${JSON.stringify(vr)} for ${tagString(tag)} at byte ${start}`);
    }
  }

  /** One element header read; vr is null for implicit VR and for items/delimiters. */
  #element(tag: number, vr: string | null, length: number, start: number): void {
    const top = this.#stack[this.#stack.length - 1];
    if (tag === Tag.Item) {
      if (top?.kind !== "sequence") {
        return this.#fail(`item outside a sequence: ${where(tag, start)}`);
      }
      if (length === UNDEFINED_LENGTH) this.#open({ kind: "item", implicit: top.implicit });
      else this.#skip(length); // a defined-length item (or fragment) is skipped whole
      return;
    }
    if (tag === Tag.ItemDelimitationItem) {
      if (top?.kind !== "item") {
        return this.#fail(`item delimiter outside an item: ${where(tag, start)}`);
      }
      this.#stack.pop();
      return;
    }
    if (tag === Tag.SequenceDelimitationItem) {
      if (top?.kind !== "sequence") {
        return this.#fail(`sequence delimiter outside a sequence: ${where(tag, start)}`);
      }
      this.#stack.pop();
      return;
    }
    if (top?.kind === "sequence") {
      return this.#fail(`element directly inside a sequence: ${where(tag, start)}`);
    }
    if (
      !top &&
      (tag === Tag.PixelData || tag === Tag.FloatPixelData || tag === Tag.DoubleFloatPixelData)
    ) {
      this.#sawPixelData = true;
      if (!this.#wholeDataset) return;
      // Native Pixel Data has a defined length; only encapsulated may be undefined (PS3.5 A.4).
      if (length === UNDEFINED_LENGTH && !(this.#encapsulated && tag === Tag.PixelData)) {
        return this.#fail(`undefined length for native pixel data: ${where(tag, start)}`);
      }
    }
    if (length === UNDEFINED_LENGTH) {
      // SQ, UN (implicit VR LE inside), encapsulated pixel data in a nested icon, or any
      // element in implicit VR (a private sequence). Walked to its delimiter, never kept.
      const allowed = vr === null || vr === "SQ" || vr === "UN" ||
        ((vr === "OB" || vr === "OW") && tag === Tag.PixelData);
      if (!allowed) return this.#fail(`undefined length for VR ${vr}: ${where(tag, start)}`);
      this.#open({ kind: "sequence", implicit: (top?.implicit ?? false) || vr === "UN" });
      return;
    }
    if (!top && this.#wanted.has(tag) && length <= this.#maxValueBytes) {
      if (length === 0) {
        this.#values.set(tag, new Uint8Array(0));
        return;
      }
      this.#state = "collect";
      this.#collectTag = tag;
      this.#remaining = length;
      return;
    }
    this.#skip(length);
  }

  #open(container: Container): void {
    if (this.#stack.length >= MAX_DEPTH) {
      return this.#fail(`sequences nested deeper than ${MAX_DEPTH} at byte ${this.#position}`);
    }
    this.#stack.push(container);
  }

  #skip(length: number): void {
    if (length === 0) return;
    this.#state = "skip";
    this.#remaining = length;
  }

  #startInflater(): void {
    const stream = new DecompressionStream("deflate-raw");
    this.#inflater = stream.writable.getWriter();
    const reader = stream.readable.getReader();
    this.#pump = (async () => {
      // Bounded: ends when the inflater closes or errors.
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        if (!this.stopped) this.#consume(value);
      }
    })();
    this.#pump.catch(() => {}); // errors surface through write() and #finishInflater()
  }

  #stopInflater(): void {
    if (!this.#inflater || this.#inflaterStopped) return;
    this.#inflaterStopped = true;
    this.#inflater.abort().catch(() => {});
  }

  async #finishInflater(): Promise<void> {
    const inflater = this.#inflater!;
    if (this.stopped) return this.#stopInflater();
    const clean = () => this.#state === "header" && this.#headHave === 0 && !this.#stack.length;
    try {
      if (this.#heldByte) await inflater.write(this.#heldByte);
      await inflater.close();
      await this.#pump;
    } catch {
      // Everything before the last byte was inflated and parsed; a complete dataset followed
      // by a pad byte or junk is accepted, a cut one is not.
      await this.#pump?.catch(() => {});
      if (!clean()) this.#fail("deflated dataset is corrupt or truncated");
    }
  }
}

/** Where a failure is, built only for one (for every element it cost about 1% of the thread). */
function where(tag: number, start: number): string {
  return `${tagString(tag)} at byte ${start}`;
}

/** Strips trailing spaces and NULs (PS3.5 6.2: padding). */
function trimText(text: string): string {
  return text.replace(/[ \0]+$/, "");
}
