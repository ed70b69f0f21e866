// Rendered images (PS3.18 8.3.5.1, 9.5): a native frame turned into 8-bit grey or RGB through
// the Modality LUT's rescale and a linear VOI window (PS3.3 C.11.1, C.11.2.1.2), then scaled
// into the requested viewport and encoded as PNG or JPEG.
import jpeg from "jpeg-js";
import { type DataElement, findElement, textOf } from "./dataset.ts";
import type { ImagePixelInfo } from "./instance_header.ts";
import { encodePng } from "./png.ts";

export interface RenderedImage {
  width: number;
  height: number;
  channels: 1 | 3;
  pixels: Uint8Array;
}

export interface RenderOptions {
  /** window=center,width from the request; else the object's first window, else min/max. */
  window?: { center: number; width: number };
  /** Fit into this many columns and rows, keeping the aspect ratio (no enlargement). */
  viewport?: { width: number; height: number };
}

export class RenderError extends Error {}

function firstNumber(elements: readonly DataElement[], tag: number): number | undefined {
  const el = findElement(elements, tag);
  if (!el) return undefined;
  const n = Number(textOf(el, "").split("\\")[0].trim());
  return Number.isFinite(n) && textOf(el, "").trim() !== "" ? n : undefined;
}

/** Reads one stored sample (little endian) as a signed or unsigned number of bitsStored bits. */
function sampleReader(info: ImagePixelInfo, frame: Uint8Array): (i: number) => number {
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const bits = info.bitsStored;
  const signed = info.pixelRepresentation === 1;
  const mask = bits >= 32 ? 0xffffffff : (1 << bits) - 1;
  const sign = bits >= 32 ? 0 : 1 << (bits - 1);
  const fix = (v: number) => {
    const m = (v & mask) >>> 0;
    return signed && (m & sign) ? m - (mask + 1) : m;
  };
  switch (info.bitsAllocated) {
    case 8:
      return (i) => fix(frame[i]);
    case 16:
      return (i) => fix(dv.getUint16(i * 2, true));
    case 32:
      return (i) => signed ? dv.getInt32(i * 4, true) : dv.getUint32(i * 4, true);
    default:
      throw new RenderError(`${info.bitsAllocated} bits allocated cannot be rendered`);
  }
}

/** Renders a native frame (little endian samples) of an image. */
export function renderFrame(
  frame: Uint8Array,
  info: ImagePixelInfo,
  elements: readonly DataElement[],
  options: RenderOptions = {},
): RenderedImage {
  const { rows, columns } = info;
  const n = rows * columns;
  const colour = info.samplesPerPixel === 3;
  if (info.samplesPerPixel !== 1 && !colour) {
    throw new RenderError(`${info.samplesPerPixel} samples per pixel cannot be rendered`);
  }
  const sample = sampleReader(info, frame);
  const needed = n * info.samplesPerPixel * (info.bitsAllocated / 8);
  if (frame.length < needed) throw new RenderError("the frame is shorter than its image");
  let pixels: Uint8Array;
  if (colour) {
    pixels = new Uint8Array(n * 3);
    const planar = info.planarConfiguration === 1;
    const ybr = info.photometricInterpretation.startsWith("YBR_FULL");
    const shift = Math.max(0, info.bitsStored - 8);
    for (let p = 0; p < n; p++) {
      const at = (s: number) => sample(planar ? s * n + p : p * 3 + s) >> shift;
      let r = at(0), g = at(1), b = at(2);
      if (ybr) { // PS3.3 C.7.6.3.1.2
        const y = r, cb = g - 128, cr = b - 128;
        r = y + 1.402 * cr;
        g = y - 0.344136 * cb - 0.714136 * cr;
        b = y + 1.772 * cb;
      }
      pixels[p * 3] = clamp(r);
      pixels[p * 3 + 1] = clamp(g);
      pixels[p * 3 + 2] = clamp(b);
    }
  } else {
    const slope = firstNumber(elements, 0x00281053) ?? 1;
    const intercept = firstNumber(elements, 0x00281052) ?? 0;
    const values = new Float64Array(n);
    let min = Infinity, max = -Infinity;
    for (let p = 0; p < n; p++) {
      const v = sample(p) * slope + intercept;
      values[p] = v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    let center: number, width: number;
    const stored = {
      center: firstNumber(elements, 0x00281050),
      width: firstNumber(elements, 0x00281051),
    };
    if (options.window) ({ center, width } = options.window);
    else if (stored.center !== undefined && stored.width !== undefined && stored.width >= 1) {
      center = stored.center;
      width = stored.width;
    } else {
      center = (min + max) / 2 + 0.5;
      width = Math.max(1, max - min + 1);
    }
    const invert = info.photometricInterpretation === "MONOCHROME1";
    pixels = new Uint8Array(n);
    const low = center - 0.5 - (width - 1) / 2;
    const high = center - 0.5 + (width - 1) / 2;
    for (let p = 0; p < n; p++) {
      const x = values[p];
      let y: number;
      if (x <= low) y = 0;
      else if (x > high) y = 255;
      else y = ((x - (center - 0.5)) / Math.max(1, width - 1) + 0.5) * 255;
      pixels[p] = invert ? 255 - clamp(y) : clamp(y);
    }
  }
  const image: RenderedImage = { width: columns, height: rows, channels: colour ? 3 : 1, pixels };
  return options.viewport ? fitInto(image, options.viewport) : image;
}

function clamp(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

/** Scales down (nearest sample) to fit the viewport, keeping the aspect ratio. */
function fitInto(image: RenderedImage, viewport: { width: number; height: number }): RenderedImage {
  const scale = Math.min(1, viewport.width / image.width, viewport.height / image.height);
  if (scale >= 1) return image;
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const c = image.channels;
  const out = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(image.height - 1, Math.floor(y / scale));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(image.width - 1, Math.floor(x / scale));
      for (let k = 0; k < c; k++) {
        out[(y * width + x) * c + k] = image.pixels[(sy * image.width + sx) * c + k];
      }
    }
  }
  return { width, height, channels: c, pixels: out };
}

/** Encodes a rendered image as image/png or image/jpeg (quality 1-100). */
export async function encodeRendered(
  image: RenderedImage,
  mediaType: "image/png" | "image/jpeg",
  quality = 90,
): Promise<Uint8Array> {
  if (mediaType === "image/png") {
    return await encodePng(image.pixels, image.width, image.height, image.channels);
  }
  const n = image.width * image.height;
  const rgba = new Uint8Array(n * 4);
  for (let p = 0; p < n; p++) {
    if (image.channels === 1) {
      const v = image.pixels[p];
      rgba[p * 4] = rgba[p * 4 + 1] = rgba[p * 4 + 2] = v;
    } else {
      rgba[p * 4] = image.pixels[p * 3];
      rgba[p * 4 + 1] = image.pixels[p * 3 + 1];
      rgba[p * 4 + 2] = image.pixels[p * 3 + 2];
    }
    rgba[p * 4 + 3] = 255;
  }
  const encoded = jpeg.encode({ data: rgba, width: image.width, height: image.height }, quality);
  return new Uint8Array(encoded.data.buffer, encoded.data.byteOffset, encoded.data.byteLength);
}
