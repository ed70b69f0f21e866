// What the core needs from the outside world. Interfaces only: adapters in src/net,
// src/storage and tests implement them. The core imports no Deno.* and no node:*.
import type { Query, QueryRow } from "./query/query.ts";
import type { FileAttributes } from "./query/response.ts";
import type { CertificateIdentity } from "./security/certificate_name.ts";

/** What TLS established about a connection (PS3.15 B.9). */
export interface TransportSecurity {
  /** "TLSv1.3", "TLSv1.2". */
  protocol: string;
  cipher: string;
  /** The peer's verified certificate; absent when it sent none. */
  peer?: CertificateIdentity & { subject: string };
}

/** A byte stream to one peer (a TCP socket in production, a pipe in tests). */
export interface Connection {
  /** Peer address for logs, e.g. "127.0.0.1:51234". */
  readonly remote: string;
  /** Set on TLS connections; absent on plain TCP. */
  readonly security?: TransportSecurity;
  /**
   * The next chunk received, or null once the peer closed. A chunk is valid only until the
   * next read() (the adapter may reuse its buffer); chunks may split or join PDUs arbitrarily.
   */
  read(): Promise<Uint8Array | null>;
  /**
   * Writes all bytes in one write (one or more whole PDUs). Rejects if the socket is gone.
   * Once it resolves the bytes are no longer needed: the caller may reuse their buffer.
   */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes the socket; pending reads resolve null. Safe to call twice. */
  close(): void;
}

/** Opens outgoing connections (C-MOVE sub-associations, the SCU helpers). */
export interface Connector {
  connect(host: string, port: number, timeoutMs: number): Promise<Connection>;
}

export type LogLevel = "error" | "warn" | "info" | "debug";

/** One line per event; fields hold assoc id, peer AE/address. No PHI at info level. */
export interface Logger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

/** Attributes of one stored object that the index keeps (values decoded to Unicode). */
export interface InstanceRecord {
  // Patient
  patientId: string;
  patientName: string;
  patientBirthDate: string;
  patientSex: string;
  otherPatientIds: string;
  // Study
  studyInstanceUid: string;
  studyDate: string;
  studyTime: string;
  accessionNumber: string;
  studyId: string;
  studyDescription: string;
  referringPhysicianName: string;
  // Series
  seriesInstanceUid: string;
  modality: string;
  seriesNumber: string;
  seriesDescription: string;
  bodyPartExamined: string;
  seriesDate: string;
  seriesTime: string;
  // Instance
  sopInstanceUid: string;
  sopClassUid: string;
  instanceNumber: string;
  transferSyntaxUid: string;
  specificCharacterSet: string;
}

/** What is known of an incoming C-STORE before its dataset arrives. */
export interface IncomingObject {
  assocId: string;
  callingAeTitle: string;
  /** The peer's address, for the audit trail. */
  remote?: string;
  /** Set for a STOW-RS store: the HTTP user who sent it (else a C-STORE). */
  httpUser?: string;
  /** From the command's Affected SOP Class/Instance UID. */
  sopClassUid: string;
  sopInstanceUid: string;
  /** The negotiated transfer syntax of the presentation context. */
  transferSyntaxUid: string;
}

/**
 * "series-in-other-study": the Series Instance UID is already filed under another Study
 * Instance UID; the object is refused rather than moving that series (and its study) away.
 */
export type CommitResult =
  | "stored"
  | "duplicate-ignored"
  | "duplicate-rejected"
  | "series-in-other-study";

/** Receives one object's dataset bytes as they arrive, then commits or discards it. */
export interface ObjectWriter {
  /**
   * Appends dataset bytes (exactly as received). Returns nothing when they were taken at once
   * (the usual case: no promise to wait for per fragment), a promise when they must wait.
   */
  write(chunk: Uint8Array): void | Promise<void>;
  /** Makes the object durable and indexed; resolves only once it would survive power loss. */
  commit(record: InstanceRecord): Promise<CommitResult>;
  /** Discards everything written; leaves nothing behind. */
  abort(): Promise<void>;
}

/** Where objects live (journal + Part 10 files); implemented in src/storage. */
export interface ObjectStore {
  /** Free bytes on the storage volume. */
  freeBytes(): Promise<number>;
  /** Starts receiving an object. One writer at a time per association. */
  begin(incoming: IncomingObject): Promise<ObjectWriter>;
  /** The association is over: its journal segment takes no more records. */
  endAssociation(assocId: string): Promise<void>;
}

/** Where a stored instance's Part 10 bytes are (as the index says): in a journal segment or
 * in its home file. */
export interface InstanceLocation {
  kind: "journal" | "home";
  /** Relative to the storage root, "/"-separated. */
  path: string;
  /** Offset of the Part 10 bytes in the file (0 for a home file). */
  offset: number;
  /** Length of the Part 10 bytes. */
  length: number;
}

/** A stored instance a query or retrieve selected. */
export interface InstanceRef {
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  location: InstanceLocation;
}

export interface FindOptions {
  /**
   * Matches in the order their entities were first stored (QIDO-RS paging: a later page
   * neither repeats nor skips a match; new entities come last). Costs a sort.
   */
  ordered?: boolean;
}

/** The read side of the index for C-FIND, C-MOVE and C-GET; implemented in src/storage. */
export interface QueryIndex {
  /**
   * The entities at the query's level that match every key the index holds, one row at a time
   * (read lazily: memory stays flat however many match). Each row holds query.fields. Stops
   * early once `signal` is aborted.
   */
  find(query: Query, signal?: AbortSignal, options?: FindOptions): AsyncIterable<QueryRow>;
  /** Every stored instance under the entities the query matches (C-MOVE / C-GET). */
  instancesFor(query: Query, signal?: AbortSignal): AsyncIterable<InstanceRef>;
  /**
   * Top-level attributes of a stored instance's header (up to Pixel Data): the given tags
   * and Specific Character Set. Null when the instance is gone.
   */
  readAttributes(sopInstanceUid: string, tags: readonly number[]): Promise<FileAttributes | null>;
}

/** A stored object's Part 10 bytes (preamble, file meta, dataset), streamed from disk. */
export interface StoredObjectStream {
  stream: ReadableStream<Uint8Array>;
  /**
   * Instead of the stream: reads all `length` bytes into the start of `into` (at least that
   * long) and returns them there.
   */
  readAll?(into: Uint8Array): Promise<Uint8Array>;
  length: number;
  transferSyntaxUid: string;
  sopClassUid: string;
}

/**
 * Decodes a whole compressed or deflated dataset (no file meta) from `from` into the
 * uncompressed `to`, off the thread that runs the associations (src/app/decode_workers.ts); null
 * when the result is over `limit` bytes. Rejects with the reason when it cannot be decoded.
 */
export interface ObjectDecoder {
  decode(dataset: Uint8Array, from: string, to: string, limit: number): Promise<Uint8Array | null>;
  /** Gives a result of decode() back once its bytes are copied or sent: its buffer is reused. */
  release?(result: Uint8Array): void;
}

/** Reads stored objects back for C-MOVE / C-GET sub-operations; implemented in src/storage. */
export interface ObjectReader {
  /** Null when the instance is no longer stored. */
  readObject(sopInstanceUid: string): Promise<StoredObjectStream | null>;
}
