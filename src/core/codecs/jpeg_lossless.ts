// JPEG Lossless, Non-Hierarchical (Process 14, any predictor, and its Selection Value 1 form;
// PS3.5 8.2.1, A.4.1), decoded by npm jpeg-lossless-decoder-js (JavaScript, 2 to 16 bits).
// No colour transform is applied by lossless JPEG: the Photometric Interpretation stays.
import { Decoder } from "jpeg-lossless-decoder-js";
import { CodecError, type FrameDecoder, frameLength, nativeFrame } from "./codec.ts";

export function jpegLosslessDecoder(): FrameDecoder {
  return {
    decode(frame, image, into) {
      if (image.samplesPerPixel > 1 && image.bitsAllocated > 8) {
        throw new CodecError("lossless JPEG colour with more than 8 bits is not supported");
      }
      const decoder = new Decoder();
      let out: ArrayBufferView;
      try {
        const copy = frame.slice(); // the decoder reads an ArrayBuffer from offset 0
        out = decoder.decode(copy.buffer, 0, copy.length, image.bitsAllocated / 8);
      } catch (e) {
        throw new CodecError(`lossless JPEG decoder failed: ${(e as Error).message ?? e}`);
      }
      const f = (decoder as unknown as { frame: { dimX: number; dimY: number } }).frame;
      if (f.dimX !== image.columns || f.dimY !== image.rows) {
        throw new CodecError(
          `lossless JPEG frame is ${f.dimX}x${f.dimY}, the dataset says ` +
            `${image.columns}x${image.rows}`,
        );
      }
      const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      if (bytes.length < frameLength(image)) {
        throw new CodecError(`lossless JPEG decoded ${bytes.length} bytes, too few`);
      }
      return nativeFrame(bytes, image.bitsAllocated / 8, image, into);
    },
  };
}
