// A decoding thread of decode_workers.ts: decodes (or, for compression at rest, compresses)
// one whole dataset per message with the core's codecs and sends the result back (its buffer
// handed over, not copied). A decode comes with a spare buffer, one a result was sent back in
// before: the result is written there, and the spare comes back unused when it is not.
import { compressDataset, type CompressionResult } from "../core/dicom/compression.ts";
import { transcodeWhole } from "../core/dicom/transcode_whole.ts";

export interface DecodeRequest {
  id: number;
  dataset: Uint8Array;
  from: string;
  to: string;
  limit: number;
  /** Compress losslessly into `to` instead of decoding. */
  compress?: boolean;
  /** A buffer to decode into (handed over). */
  spare?: ArrayBuffer;
}

export interface DecodeReply {
  id: number;
  /** The decoded dataset; null when over the limit. */
  result?: Uint8Array | null;
  compression?: CompressionResult;
  error?: string;
  /** The request's spare, when the result is not in it. */
  spare?: ArrayBuffer;
}

// Only inside a worker: the module is also imported for its types.
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  const scope = self as unknown as {
    onmessage: ((e: MessageEvent<DecodeRequest>) => void) | null;
    postMessage(message: DecodeReply, transfer?: Transferable[]): void;
  };
  scope.onmessage = async (e) => {
    const { id, dataset, from, to, limit, spare } = e.data;
    try {
      if (e.data.compress) {
        const compression = await compressDataset(dataset, from, to);
        const transfer = compression.compressed ? [compression.dataset.buffer as ArrayBuffer] : [];
        scope.postMessage({ id, compression }, transfer);
        return;
      }
      const result = await transcodeWhole(dataset, from, to, limit, spare);
      const buffer = result?.buffer as ArrayBuffer | undefined;
      const unused = spare && spare !== buffer && !spare.detached ? spare : undefined;
      const transfer = [buffer, unused].filter((b): b is ArrayBuffer => b !== undefined);
      scope.postMessage({ id, result, spare: unused }, transfer);
    } catch (err) {
      const unused = spare && !spare.detached ? spare : undefined;
      scope.postMessage(
        { id, error: (err as Error).message, spare: unused },
        unused ? [unused] : [],
      );
    }
  };
}
