// The reading side of reindex, on a thread of its own (reindex_readers.ts starts it): opens
// each home file, decodes its file meta (PS3.10 7.1) and scans the dataset header, while the
// reindex thread writes the rows of the files read before. One reindex thread doing both kept
// the second core idle: reads and SQLite writes each took about half of its time.
/// <reference lib="deno.worker" />
import { decodeFileMetaInformation, type FileMeta } from "../core/dicom/part10.ts";
import { HeaderScanner } from "../core/dicom/header_scanner.ts";
import type { InstanceRecord } from "../core/ports.ts";
import { readAllSync } from "./journal.ts";

/** What reindex needs of a home file: small, so it crosses between threads cheaply. */
export interface HomeFile {
  record: InstanceRecord;
  /** Source Application Entity Title of the file meta, if any. */
  sourceAeTitle?: string;
  size: number;
  /** Modification time, ms since the epoch. */
  mtime: number;
}

/** One file of a batch: what was read, or why it could not be. */
export type HomeFileResult = { home: HomeFile } | { error: string };

export interface ReindexReadRequest {
  id: number;
  /** Absolute paths of home files, in walk order. */
  paths: string[];
}

/** One result per path of the request, in the same order. */
export interface ReindexReadReply {
  id: number;
  results: HomeFileResult[];
}

const READ_CHUNK = 64 * 1024;
const MAX_META = 1024 * 1024;

/**
 * Reads the file meta and scans the dataset header of one Part 10 file. Reads go on from
 * where the last ended and stop at the size the file had when opened: for a small file one
 * open, one stat and one read. They are synchronous: on files the OS has cached an I/O thread
 * hop per call cost more than the call (100,000 files: 35 CPU-s with 16 files read ahead
 * asynchronously, 23 CPU-s like this).
 */
export async function readHomeFile(path: string): Promise<HomeFile> {
  const file = Deno.openSync(path, { read: true });
  try {
    const stat = file.statSync();
    let head = new Uint8Array(Math.min(READ_CHUNK, Math.max(stat.size, 1)));
    let have = readAllSync(file, head);
    let decoded: { meta: FileMeta; datasetOffset: number } | undefined;
    // The file meta is small; allow it to be larger than the first chunk, up to MAX_META.
    for (;;) {
      try {
        decoded = decodeFileMetaInformation(head.subarray(0, have));
        if (decoded.datasetOffset < have || have < head.length) break;
      } catch (e) {
        if (have < head.length || have >= stat.size || head.length >= MAX_META) throw e;
      }
      const bigger = new Uint8Array(head.length * 4);
      bigger.set(head.subarray(0, have));
      have += readAllSync(file, bigger.subarray(have));
      head = bigger;
    }
    const { meta, datasetOffset } = decoded;
    const scanner = new HeaderScanner(meta.transferSyntaxUid);
    await scanner.push(head.subarray(datasetOffset, have));
    let position = have;
    const chunk = new Uint8Array(READ_CHUNK);
    // Bounded by the file size: each read advances or ends the loop.
    while (!scanner.stopped && position < stat.size) {
      const n = readAllSync(file, chunk);
      if (n === 0) break;
      await scanner.push(chunk.subarray(0, n));
      position += n;
    }
    const { record } = await scanner.finish();
    return {
      size: stat.size,
      // The materializer set the file time to the commit time: it orders versions.
      mtime: stat.mtime?.getTime() ?? Date.now(),
      sourceAeTitle: meta.sourceAeTitle,
      record: {
        ...record,
        sopInstanceUid: meta.sopInstanceUid || record.sopInstanceUid,
        sopClassUid: meta.sopClassUid || record.sopClassUid,
        transferSyntaxUid: meta.transferSyntaxUid,
      },
    };
  } finally {
    file.close();
  }
}

/** Reads every file of a batch; a file that cannot be read gets its reason, not a throw. */
export async function readHomeFiles(paths: string[]): Promise<HomeFileResult[]> {
  const results: HomeFileResult[] = [];
  for (const path of paths) {
    try {
      results.push({ home: await readHomeFile(path) });
    } catch (e) {
      results.push({ error: e instanceof Error ? e.message : String(e) });
    }
  }
  return results;
}

// Only when started as a worker (reindex.ts imports readHomeFiles on its own thread too).
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  self.onmessage = async (event: MessageEvent<ReindexReadRequest>) => {
    const { id, paths } = event.data;
    self.postMessage({ id, results: await readHomeFiles(paths) } satisfies ReindexReadReply);
  };
}
