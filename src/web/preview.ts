// Images for the pages: a stored object's first frame as a PNG (thumbnail or full size, with a
// window), computed from native (uncompressed) Pixel Data: Modality LUT (rescale) and a linear
// VOI window (PS3.3 C.11.1, C.11.2.1.2), MONOCHROME1 inverted, RGB as is. A compressed image is
// decoded first with the retrieve's decoders; one that none decodes gets a placeholder saying so.
import {
  type DataElement,
  decodeDatasetPart,
  encodingOf,
  numbersOf,
  textOf,
} from "../core/dicom/dataset.ts";
import { canDecodeFrames } from "../core/codecs/registry.ts";
import { decompressDataset } from "../core/dicom/decompression.ts";
import { decodeFileMetaInformation, encodeFileMetaInformation } from "../core/dicom/part10.ts";
import { EXPLICIT_VR_LE, TRANSFER_SYNTAXES } from "../core/dicom/transfer_syntaxes.ts";
import { LONG_VRS } from "../core/dicom/vr.ts";
import { crc32 } from "./zip.ts";

/** A VOI window (PS3.3 C.11.2.1.2): center and width in modality units. */
export interface Window {
  center: number;
  width: number;
}

export type Preview =
  | { kind: "png"; png: Uint8Array; width: number; height: number }
  | { kind: "none"; reason: string };

/** Window presets offered on the instance page (name, center, width). */
export const WINDOW_PRESETS: readonly [string, number, number][] = [
  ["Soft tissue", 40, 400],
  ["Lung", -600, 1500],
  ["Bone", 400, 1800],
  ["Brain", 40, 80],
];

const TS_NAMES: Record<string, string> = {
  "1.2.840.10008.1.2.4.50": "JPEG Baseline",
  "1.2.840.10008.1.2.4.51": "JPEG Extended",
  "1.2.840.10008.1.2.4.57": "JPEG Lossless",
  "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
  "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
  "1.2.840.10008.1.2.4.81": "JPEG-LS Near-lossless",
  "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
  "1.2.840.10008.1.2.4.91": "JPEG 2000",
  "1.2.840.10008.1.2.5": "RLE Lossless",
  "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
};

function first(elements: readonly DataElement[], tag: number): number | undefined {
  const el = elements.find((e) => e.tag === tag);
  if (!el) return undefined;
  const n = numbersOf(el);
  if (n.length) return n[0];
  const text = textOf(el, "").split("\\")[0].trim();
  return text !== "" && Number.isFinite(Number(text)) ? Number(text) : undefined;
}

function text(elements: readonly DataElement[], tag: number): string {
  const el = elements.find((e) => e.tag === tag);
  return el ? textOf(el, "").trim() : "";
}

/**
 * The first frame of a stored Part 10 object as an 8-bit PNG, scaled to fit `maxSize` (no
 * upscaling), or why there is none.
 */
export async function renderPreview(
  bytes: Uint8Array,
  options: { maxSize?: number; window?: Window; fullRange?: boolean } = {},
): Promise<Preview> {
  let meta;
  try {
    meta = decodeFileMetaInformation(bytes);
  } catch {
    return { kind: "none", reason: "not a readable DICOM file" };
  }
  const tsUid = meta.meta.transferSyntaxUid;
  const ts = TRANSFER_SYNTAXES.get(tsUid);
  if (ts?.encapsulated && canDecodeFrames(tsUid)) {
    // Decoded as a retrieve decodes it (core/dicom/decompression.ts), then drawn as native.
    const parts: Uint8Array[] = [];
    try {
      const source = (async function* () {
        yield bytes.subarray(meta.datasetOffset);
      })();
      for await (const piece of decompressDataset(source, tsUid, EXPLICIT_VR_LE)) {
        parts.push(piece.slice());
      }
    } catch (e) {
      const name = TS_NAMES[tsUid] ?? tsUid;
      return { kind: "none", reason: `${name} that cannot be decoded: ${(e as Error).message}` };
    }
    const head = encodeFileMetaInformation({
      sopClassUid: meta.meta.sopClassUid,
      sopInstanceUid: meta.meta.sopInstanceUid,
      transferSyntaxUid: EXPLICIT_VR_LE,
      implementationClassUid: meta.meta.implementationClassUid || "1.2.3",
      implementationVersionName: meta.meta.implementationVersionName || "",
    });
    const native = new Uint8Array(head.length + parts.reduce((n, p) => n + p.length, 0));
    native.set(head);
    let at = head.length;
    for (const p of parts) {
      native.set(p, at);
      at += p.length;
    }
    return await renderPreview(native, options);
  }
  if (!ts || ts.encapsulated || ts.deflated) {
    return {
      kind: "none",
      reason: `compressed (${TS_NAMES[tsUid] ?? tsUid}): no decoder for previews yet`,
    };
  }
  const dataset = bytes.subarray(meta.datasetOffset);
  let part;
  try {
    part = decodeDatasetPart(dataset, encodingOf(tsUid), { allowTruncated: true });
  } catch (e) {
    return { kind: "none", reason: `the dataset cannot be read: ${(e as Error).message}` };
  }
  if (!part.stopped) return { kind: "none", reason: "no image (no Pixel Data)" };
  const el = part.elements;
  const rows = first(el, 0x00280010) ?? 0;
  const columns = first(el, 0x00280011) ?? 0;
  const bits = first(el, 0x00280100) ?? 0;
  const samples = first(el, 0x00280002) ?? 1;
  const signed = first(el, 0x00280103) === 1;
  const planar = first(el, 0x00280006) === 1;
  const photometric = text(el, 0x00280004).toUpperCase();
  if (!rows || !columns) return { kind: "none", reason: "no image size (Rows, Columns)" };
  if (!(bits === 8 || bits === 16) || !(samples === 1 || samples === 3)) {
    return { kind: "none", reason: `${bits} bits, ${samples} samples: not previewed` };
  }
  if (samples === 3 && (bits !== 8 || !photometric.startsWith("RGB"))) {
    return { kind: "none", reason: `${photometric} color: not previewed` };
  }
  // The Pixel Data element header where decoding stopped.
  const at = part.end;
  const dv = new DataView(dataset.buffer, dataset.byteOffset, dataset.byteLength);
  const vr = String.fromCharCode(dataset[at + 4], dataset[at + 5]);
  const headerLength = ts.explicitVr ? (LONG_VRS.has(vr) ? 12 : 8) : 8;
  const length = ts.explicitVr && LONG_VRS.has(vr)
    ? dv.getUint32(at + 8, ts.littleEndian)
    : dv.getUint32(at + 4, ts.littleEndian);
  const frameBytes = rows * columns * samples * (bits / 8);
  if (
    length === 0xffffffff || length < frameBytes || at + headerLength + frameBytes > dataset.length
  ) {
    return { kind: "none", reason: "Pixel Data shorter than one frame" };
  }
  const pixels = dataset.subarray(at + headerLength, at + headerLength + frameBytes);
  const scale = Math.min(1, (options.maxSize ?? Infinity) / Math.max(rows, columns));
  const width = Math.max(1, Math.round(columns * scale));
  const height = Math.max(1, Math.round(rows * scale));
  const channels = samples === 3 ? 3 : 1;
  const out = new Uint8Array(width * height * channels);
  const pdv = new DataView(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  if (channels === 3) {
    for (let y = 0; y < height; y++) {
      const sy = Math.min(rows - 1, Math.floor(y / scale));
      for (let x = 0; x < width; x++) {
        const sx = Math.min(columns - 1, Math.floor(x / scale));
        for (let c = 0; c < 3; c++) {
          const i = planar ? c * rows * columns + sy * columns + sx : (sy * columns + sx) * 3 + c;
          out[(y * width + x) * 3 + c] = pixels[i];
        }
      }
    }
  } else {
    const slope = first(el, 0x00281053) ?? 1;
    const intercept = first(el, 0x00281052) ?? 0;
    const raw = (i: number) =>
      bits === 8
        ? (signed ? (pixels[i] << 24) >> 24 : pixels[i])
        : signed
        ? pdv.getInt16(i * 2, ts.littleEndian)
        : pdv.getUint16(i * 2, ts.littleEndian);
    let window = options.window;
    const fileCenter = first(el, 0x00281050);
    const fileWidth = first(el, 0x00281051);
    if (
      !window && !options.fullRange && fileCenter !== undefined && fileWidth !== undefined &&
      fileWidth > 0
    ) {
      window = { center: fileCenter, width: fileWidth };
    }
    if (!window) {
      // No window anywhere: the full range of the values in the frame.
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < rows * columns; i++) {
        const v = raw(i) * slope + intercept;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      window = { center: (lo + hi) / 2, width: Math.max(1, hi - lo) };
    }
    const c = window.center - 0.5;
    const w = Math.max(1, window.width - 1);
    const invert = photometric === "MONOCHROME1";
    for (let y = 0; y < height; y++) {
      const sy = Math.min(rows - 1, Math.floor(y / scale));
      for (let x = 0; x < width; x++) {
        const sx = Math.min(columns - 1, Math.floor(x / scale));
        const v = raw(sy * columns + sx) * slope + intercept;
        let g = v <= c - w / 2 ? 0 : v > c + w / 2 ? 255 : ((v - c) / w + 0.5) * 255;
        if (invert) g = 255 - g;
        out[y * width + x] = Math.round(g);
      }
    }
  }
  return { kind: "png", png: await encodePng(out, width, height, channels), width, height };
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** An 8-bit grayscale or RGB PNG (filter 0 on every row, zlib through CompressionStream). */
export async function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
): Promise<Uint8Array> {
  const stride = width * channels;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const zlib = new Uint8Array(
    await new Response(new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate")))
      .arrayBuffer(),
  );
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr.set([8, channels === 3 ? 2 : 0, 0, 0, 0], 8);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const escapeXml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The image shown instead of a preview: a grey box saying why there is none. */
export function placeholderSvg(reason: string, size: number): string {
  const words = reason.split(" ");
  const lines: string[] = [];
  for (const w of words) {
    const last = lines.at(-1);
    if (last !== undefined && (last + " " + w).length <= 18) {
      lines[lines.length - 1] = `${last} ${w}`;
    } else lines.push(w);
  }
  const dy = 14;
  const top = size / 2 - ((lines.length - 1) * dy) / 2;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}">` +
    `<rect width="${size}" height="${size}" fill="#2a2f36"/>` +
    lines.map((l, i) =>
      `<text x="${size / 2}" y="${
        top + i * dy
      }" fill="#c9d2de" font-family="sans-serif" font-size="11" text-anchor="middle">${
        escapeXml(l)
      }</text>`
    ).join("") + `<title>${escapeXml(reason)}</title></svg>`;
}
