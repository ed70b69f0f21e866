// A reader thread for reindex_readers_test.ts that reads two batches and then throws, as a
// thread that dies part way through a reindex would.
/// <reference lib="deno.worker" />
import { readHomeFiles, type ReindexReadRequest } from "../../src/storage/reindex_reader_worker.ts";

let batches = 0;
self.onmessage = async (event: MessageEvent<ReindexReadRequest>) => {
  if (++batches > 2) throw new Error("reader thread broke on its third batch");
  const { id, paths } = event.data;
  self.postMessage({ id, results: await readHomeFiles(paths) });
};
