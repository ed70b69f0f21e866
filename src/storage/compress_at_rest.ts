// Compression at rest: the materializer writes an uncompressed image's home file in a lossless
// transfer syntax (storage.compress_to), once the codec has checked that every frame decodes
// back to the bytes it came from; anything else keeps the bytes as they arrived.
// Type only: the codecs (and their WebAssembly) load only when compression is asked for.
import type { CompressionResult } from "../core/dicom/compression.ts";
import {
  decodeFileMetaInformation,
  encodeFileMetaInformation,
  type FileMeta,
} from "../core/dicom/part10.ts";
import { EXPLICIT_VR_LE, IMPLICIT_VR_LE } from "../core/dicom/transfer_syntaxes.ts";
import type { Logger } from "../core/ports.ts";
import { readAt } from "./journal.ts";
import type { MaterializeJob } from "./materializer.ts";

/** Objects larger than this are stored as received: compression works on the whole object. */
export const MAX_COMPRESSED_OBJECT = 256 * 1024 * 1024;
/** Enough of a record to read its file meta. */
const META_PEEK = 4096;

/** Runs compressDataset() (on worker threads in the server). */
export type Compressor = (
  dataset: Uint8Array,
  from: string,
  to: string,
) => Promise<CompressionResult>;

export interface AtRestCompression {
  /** The lossless transfer syntax uncompressed images are stored in. */
  to: string;
  compressor: Compressor;
  logger: Logger;
}

/** compressDataset() on the calling thread, its codecs loaded on first use. */
export const compressOnThisThread: Compressor = async (dataset, from, to) =>
  (await import("../core/dicom/compression.ts")).compressDataset(dataset, from, to);

/**
 * The object of a record compressed losslessly into compressTo, as a whole Part 10 file;
 * null when it is stored as received (not an uncompressed image that compresses losslessly,
 * too large, or a check that failed: a warning).
 */
export async function compressRecord(
  job: MaterializeJob,
  reader: Deno.FsFile,
  { to, compressor, logger }: AtRestCompression,
): Promise<{ bytes: Uint8Array; transferSyntaxUid: string; ms: number } | null> {
  const started = performance.now();
  const keep = (reason: string, level: "debug" | "warn" = "debug") => {
    logger.log(level, `stored as received, not compressed: ${reason}`, {
      sop_instance: level === "warn" ? job.sopInstanceUid : undefined,
    });
    return null;
  };
  const head = new Uint8Array(Math.min(META_PEEK, job.length));
  if (await readAt(reader, job.offset, head) < head.length) {
    throw new Error(`journal ${job.segment} shorter than its index says`);
  }
  let meta: FileMeta;
  try {
    meta = decodeFileMetaInformation(head).meta;
  } catch (e) {
    return keep(`file meta: ${(e as Error).message}`);
  }
  // What compressDataset() takes (canCompressFrom()); anything else is not even read whole.
  if (meta.transferSyntaxUid !== IMPLICIT_VR_LE && meta.transferSyntaxUid !== EXPLICIT_VR_LE) {
    return keep(`in ${meta.transferSyntaxUid}`);
  }
  if (job.length > MAX_COMPRESSED_OBJECT) return keep(`over ${MAX_COMPRESSED_OBJECT} bytes`);
  const whole = new Uint8Array(job.length);
  if (await readAt(reader, job.offset, whole) < whole.length) {
    throw new Error(`journal ${job.segment} shorter than its index says`);
  }
  const { datasetOffset } = decodeFileMetaInformation(whole);
  let result;
  try {
    result = await compressor(whole.subarray(datasetOffset), meta.transferSyntaxUid, to);
  } catch (e) {
    return keep(`the codec failed: ${(e as Error).message}`, "warn");
  }
  if (!result.compressed) {
    return keep(result.reason, result.mismatch ? "warn" : "debug");
  }
  const header = encodeFileMetaInformation({ ...meta, transferSyntaxUid: to });
  const bytes = new Uint8Array(header.length + result.dataset.length);
  bytes.set(header);
  bytes.set(result.dataset, header.length);
  const ms = performance.now() - started;
  return { bytes, transferSyntaxUid: to, ms };
}
