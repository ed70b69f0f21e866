// The copying of journal records into their home files' temp files, on a thread of its own
// (home_copier.ts starts it). On the thread that takes stores each step of a copy waited for
// that thread's next turn, behind every association's reads and writes: the materializer then
// kept up with little more than a third of what it copies when nothing else runs. Here the
// reads and writes are plain blocking calls; the fsyncs run on the I/O pool, several at once.
/// <reference lib="deno.worker" />
import { readAllSync, writeAllSync } from "./journal.ts";

/** One record to copy: bytes [offset, offset + length) of a segment into a new file `tmp`. */
export interface HomeCopyJob {
  segment: string;
  offset: number;
  length: number;
  tmp: string;
  /** The home file's modification time (the commit's), ms since the epoch; NaN: left as is. */
  mtimeMs: number;
}

export interface HomeCopyRequest {
  id: number;
  jobs: HomeCopyJob[];
  /** fsync each file before the reply. */
  durable: boolean;
}

/** Every job's file written (and synced when durable), or the first failure. */
export interface HomeCopyReply {
  id: number;
  /** Jobs not copied because their segment is gone (only if removed by hand). */
  missing?: number[];
  error?: { message: string; code?: string };
}

const CHUNK = 1024 * 1024;
const buffer = new Uint8Array(CHUNK);

/**
 * Copies every job; returns those skipped because their segment is gone. On a failure the temp
 * files made so far are removed and it throws.
 */
export async function copyHome(jobs: HomeCopyJob[], durable: boolean): Promise<number[]> {
  const readers = new Map<string, Deno.FsFile | null>();
  const made: { tmp: string; file: Deno.FsFile; synced?: Promise<void> }[] = [];
  const missing: number[] = [];
  try {
    for (const [k, job] of jobs.entries()) {
      let reader = readers.get(job.segment);
      if (reader === undefined) {
        try {
          reader = Deno.openSync(job.segment, { read: true });
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
          reader = null;
        }
        readers.set(job.segment, reader);
      }
      if (reader === null) {
        missing.push(k);
        continue;
      }
      const file = Deno.openSync(job.tmp, { write: true, createNew: true });
      const entry: (typeof made)[number] = { tmp: job.tmp, file };
      made.push(entry);
      reader.seekSync(job.offset, Deno.SeekMode.Start);
      for (let done = 0; done < job.length;) {
        const piece = buffer.subarray(0, Math.min(CHUNK, job.length - done));
        if (readAllSync(reader, piece) < piece.length) {
          throw new Error(`journal ${job.segment} shorter than its index says`);
        }
        writeAllSync(file, piece);
        done += piece.length;
      }
      if (Number.isFinite(job.mtimeMs)) {
        const when = new Date(job.mtimeMs);
        file.utimeSync(when, when);
      }
      // Its writeback starts now, while the next files are copied; all are awaited below.
      if (durable) (entry.synced = file.sync()).catch(() => {});
    }
    await Promise.all(made.map((m) => m.synced));
    return missing;
  } catch (e) {
    await Promise.allSettled(made.map((m) => m.synced));
    for (const m of made) {
      m.file.close();
      try {
        Deno.removeSync(m.tmp);
      } catch { /* already gone */ }
    }
    made.length = 0;
    throw e;
  } finally {
    for (const m of made) m.file.close();
    for (const r of readers.values()) r?.close();
  }
}

// Only when started as a worker (a test imports copyHome on its own thread).
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  self.onmessage = async (event: MessageEvent<HomeCopyRequest>) => {
    const { id, jobs, durable } = event.data;
    let reply: HomeCopyReply = { id };
    try {
      reply.missing = await copyHome(jobs, durable);
    } catch (e) {
      const err = e as Error & { code?: unknown };
      reply = {
        id,
        error: {
          message: err?.message ?? String(e),
          code: typeof err?.code === "string" ? err.code : undefined,
        },
      };
    }
    self.postMessage(reply);
  };
}
