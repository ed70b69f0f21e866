// Reads the Part 10 files a peer wrote (storescp, getscu, minipacs get) by SOP Instance UID.
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";

export interface ReceivedPart10 {
  path: string;
  transferSyntaxUid: string;
  sopClassUid: string;
  /** The dataset after the file meta. */
  dataset: Uint8Array;
}

/** Every readable Part 10 file directly in `dir`, by SOP Instance UID. */
export async function readPart10Dir(dir: string): Promise<Map<string, ReceivedPart10>> {
  const out = new Map<string, ReceivedPart10>();
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile) continue;
    const path = `${dir}/${e.name}`;
    const bytes = await Deno.readFile(path);
    try {
      const { meta, datasetOffset } = decodeFileMetaInformation(bytes);
      out.set(meta.sopInstanceUid, {
        path,
        transferSyntaxUid: meta.transferSyntaxUid,
        sopClassUid: meta.sopClassUid,
        dataset: bytes.subarray(datasetOffset),
      });
    } catch { /* not a Part 10 file */ }
  }
  return out;
}

/** The dataset of a Part 10 file on disk. */
export async function datasetOf(path: string): Promise<Uint8Array> {
  const bytes = await Deno.readFile(path);
  return bytes.subarray(decodeFileMetaInformation(bytes).datasetOffset);
}
