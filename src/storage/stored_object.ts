// Reading a stored object back: its Part 10 bytes from the journal segment or home file the
// index points at, streamed or read at once, or a byte range of it.
import { decodeFileMetaInformation } from "../core/dicom/part10.ts";
import type { StoredInstance } from "./instance_rows.ts";
import { isNotFound } from "./layout.ts";

export interface StoredObject {
  /** The Part 10 bytes: preamble, DICM, file meta, dataset as received. */
  stream: ReadableStream<Uint8Array>;
  /** Instead of the stream: all the bytes at once, into the start of `into`. */
  readAll(into: Uint8Array): Promise<Uint8Array>;
  length: number;
  transferSyntaxUid: string;
  sopClassUid: string;
}

/** A stored object's file, open at the location its index row names. */
export interface OpenedObject {
  row: StoredInstance;
  file: Deno.FsFile;
  /** Ends the lease on a journal segment being read (it is not reused meanwhile). */
  release?: () => void;
}

/**
 * Opens the file of a stored object; null when it is not stored. Retries a few times: the
 * materializer may move the object between lookup and open.
 */
export async function openStoredObject(
  root: string,
  sopInstanceUid: string,
  find: (sopInstanceUid: string) => StoredInstance | undefined,
  lease: (journalPath: string) => (() => void) | undefined,
): Promise<OpenedObject | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const row = find(sopInstanceUid);
    if (!row) return null;
    // A journal segment being read is not reused (it would be overwritten under us).
    const release = row.location.kind === "journal" ? lease(row.location.path) : undefined;
    try {
      const file = await Deno.open(`${root}/${row.location.path}`, { read: true });
      return { row, file, release };
    } catch (e) {
      release?.();
      if (isNotFound(e)) continue;
      throw e;
    }
  }
  throw new Error(`stored object ${sopInstanceUid} is indexed but its file is missing`);
}

/** The object's whole bytes as a stream or read at once; the file is closed after. */
export function storedObjectOf({ row, file, release }: OpenedObject): StoredObject {
  const range = rangeReader(file, row.location.offset, row.location.length, release);
  return {
    stream: range.stream,
    readAll: range.readAll,
    length: row.location.length,
    transferSyntaxUid: row.record.transferSyntaxUid,
    sopClassUid: row.record.sopClassUid,
  };
}

/** Enough bytes for any file meta written here. */
const META_PEEK = 4096;

/**
 * The transfer syntax of the bytes at the object's location. The index has the syntax the
 * object was received in; a home file compressed at rest (shorter than what was received)
 * says its own in its file meta, read here. On failure the file is closed.
 */
export async function storedSyntax({ row, file, release }: OpenedObject): Promise<string> {
  if (row.location.kind !== "home" || row.location.length === row.meta.size) {
    return row.record.transferSyntaxUid;
  }
  try {
    const head = new Uint8Array(Math.min(META_PEEK, row.location.length));
    await file.seek(row.location.offset, Deno.SeekMode.Start);
    await readFully(file, head);
    return decodeFileMetaInformation(head).meta.transferSyntaxUid;
  } catch (e) {
    file.close();
    release?.();
    throw e;
  }
}

/**
 * Bytes [start, start + length) of the object (cut at its end), with its size and the commit
 * seq of the copy read; the file is closed after.
 */
export async function readObjectRange(
  { row, file, release }: OpenedObject,
  start: number,
  length: number,
): Promise<{ bytes: Uint8Array; total: number; seq: number }> {
  try {
    const total = row.location.length;
    const from = Math.min(Math.max(0, start), total);
    const bytes = new Uint8Array(Math.max(0, Math.min(length, total - from)));
    await file.seek(row.location.offset + from, Deno.SeekMode.Start);
    await readFully(file, bytes);
    return { bytes, total, seq: row.meta.seq };
  } finally {
    file.close();
    release?.();
  }
}

/** Fills `into` from the file's position; throws when the file ends first. */
async function readFully(file: Deno.FsFile, into: Uint8Array): Promise<void> {
  let n = 0;
  while (n < into.length) {
    const got = await file.read(into.subarray(n));
    if (got === null) throw new Error("stored object is shorter than indexed");
    n += got;
  }
}

/** Bytes per read when streaming a stored object out (C-MOVE, C-GET, downloads). */
const STREAM_CHUNK = 1024 * 1024;

/**
 * `length` bytes from `offset`, as a stream or read at once into a given buffer (one or the
 * other); the file is then closed and `release` called.
 */
export function rangeReader(
  file: Deno.FsFile,
  offset: number,
  length: number,
  release?: () => void,
): { stream: ReadableStream<Uint8Array>; readAll(into: Uint8Array): Promise<Uint8Array> } {
  let done = 0;
  let closed = false;
  let positioned = false;
  const close = () => {
    if (!closed) {
      file.close();
      release?.();
    }
    closed = true;
  };
  const readAll = async (into: Uint8Array): Promise<Uint8Array> => {
    if (closed) throw new Error("stored object already read");
    if (into.length < length) throw new Error("buffer too small for the stored object");
    const out = into.subarray(0, length);
    try {
      await file.seek(offset, Deno.SeekMode.Start);
      await readFully(file, out);
      return out;
    } finally {
      close();
    }
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (done >= length) {
          close();
          controller.close();
          return;
        }
        // One seek, then sequential reads in large pieces.
        if (!positioned) {
          await file.seek(offset, Deno.SeekMode.Start);
          positioned = true;
        }
        const chunk = new Uint8Array(Math.min(STREAM_CHUNK, length - done));
        await readFully(file, chunk);
        done += chunk.length;
        controller.enqueue(chunk);
      } catch (e) {
        close();
        controller.error(e);
      }
    },
    cancel() {
      close();
    },
  }, { highWaterMark: 0 }); // nothing is read before it is asked for: readAll may be used
  return { stream, readAll };
}
