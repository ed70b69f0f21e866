// A decoding thread of decode_workers.ts: decodes one whole dataset per message with the
// core's codecs and sends the result back (its buffer handed over, not copied).
import { transcodeWhole } from "../core/dicom/transcode.ts";

export interface DecodeRequest {
  id: number;
  dataset: Uint8Array;
  from: string;
  to: string;
  limit: number;
}

export interface DecodeReply {
  id: number;
  /** The decoded dataset; null when over the limit. */
  result?: Uint8Array | null;
  error?: string;
}

// Only inside a worker: the module is also imported for its types.
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  const scope = self as unknown as {
    onmessage: ((e: MessageEvent<DecodeRequest>) => void) | null;
    postMessage(message: DecodeReply, transfer?: Transferable[]): void;
  };
  scope.onmessage = async (e) => {
    const { id, dataset, from, to, limit } = e.data;
    try {
      const result = await transcodeWhole(dataset, from, to, limit);
      scope.postMessage({ id, result }, result ? [result.buffer as ArrayBuffer] : []);
    } catch (err) {
      scope.postMessage({ id, error: (err as Error).message });
    }
  };
}
