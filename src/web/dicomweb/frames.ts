// Decoded frames of a stored object for WADO-RS /frames, /rendered and /thumbnail
// (PS3.18 8.7.3.5.2): only the frames asked for are read and decoded, one by one, with the
// codec of the stored transfer syntax (PS3.5 A.4); native objects' frames are read as stored.
import { CodecError, type FrameDecoder, frameLength } from "../../core/codecs/codec.ts";
import { canDecodeFrames, frameDecoder } from "../../core/codecs/registry.ts";
import type { DataElement } from "../../core/dicom/dataset.ts";
import {
  decodedHeader,
  DecompressionError,
  imageDescription,
} from "../../core/dicom/decompression.ts";
import {
  isEncapsulated,
  type ObjectSource,
  readFrames,
  type ReadHeader,
  readHeader,
  UnreadableObject,
} from "./instances.ts";

/** Frames in native form (little endian), and the attributes that describe them now. */
export interface NativeFrames {
  frames: Uint8Array[];
  /** The header's elements, with Photometric Interpretation etc. as decoded. */
  elements: DataElement[];
  read: ReadHeader;
}

/** A stored syntax whose frames cannot be decoded here (no codec): answered 406. */
export class NotDecodable extends Error {}

/** True when frames of objects stored in `ts` can be sent native. */
export function framesDecodable(ts: string): boolean {
  return !isEncapsulated(ts) || canDecodeFrames(ts);
}

/**
 * The frames `numbers` of a stored instance, decoded when encapsulated; null when the
 * instance is not stored. Throws FrameRequestError (from readFrames), NotDecodable and
 * UnreadableObject.
 */
export async function nativeFrames(
  source: ObjectSource,
  sopInstanceUid: string,
  numbers: readonly number[],
): Promise<NativeFrames | null> {
  const read = await readHeader(source, sopInstanceUid);
  if (!read) return null;
  const ts = read.header.meta.transferSyntaxUid;
  const stored = await readFrames(source, sopInstanceUid, read, numbers);
  if (!isEncapsulated(ts)) return { frames: stored, elements: read.header.elements, read };
  if (!canDecodeFrames(ts)) throw new NotDecodable(`frames in ${ts} cannot be decoded here`);
  let decoder: FrameDecoder;
  let image;
  try {
    image = imageDescription(read.header.elements);
    decoder = await frameDecoder(ts);
  } catch (e) {
    if (e instanceof DecompressionError) throw new NotDecodable(e.message);
    throw e;
  }
  const length = frameLength(image);
  const frames = stored.map((frame, i) => {
    try {
      const pixels = decoder.decode(frame, image);
      if (pixels.length !== length) {
        throw new CodecError(`decoded to ${pixels.length} bytes, not ${length}`);
      }
      return pixels;
    } catch (e) {
      if (e instanceof CodecError) {
        throw new UnreadableObject(`frame ${numbers[i]} cannot be decoded: ${e.message}`);
      }
      throw e;
    }
  });
  return { frames, elements: decodedHeader(read.header.elements, image, ts), read };
}
