import assert from "node:assert/strict";
import { compressDataset } from "../../../src/core/dicom/compression.ts";
import { decompressDataset } from "../../../src/core/dicom/decompression.ts";
import {
  type DataElement,
  decodeDatasetPart,
  encodeDataset,
  findElement,
  textOf,
} from "../../../src/core/dicom/dataset.ts";
import { EXPLICIT_VR_LE, IMPLICIT_VR_LE } from "../../../src/core/dicom/transfer_syntaxes.ts";

const JPEG_LS = "1.2.840.10008.1.2.4.80";
const J2K = "1.2.840.10008.1.2.4.90";
const RLE = "1.2.840.10008.1.2.5";
const text = (tag: number, vr: string, v: string): DataElement => {
  const raw = new TextEncoder().encode(v.length % 2 ? v + (vr === "UI" ? "\0" : " ") : v);
  return { tag, vr, value: raw };
};
const us = (tag: number, v: number): DataElement => ({
  tag,
  vr: "US",
  value: new Uint8Array([v & 0xff, v >> 8]),
});

/** A CT-like (16-bit, 12 stored, smooth with noise), MR-like or RGB image dataset. */
function image(
  kind: "ct" | "mr" | "rgb" | "float" | "signed",
  frames = 1,
  rows = 64,
  columns = 48,
): { elements: DataElement[]; pixels: Uint8Array } {
  const spp = kind === "rgb" ? 3 : 1;
  const bits = kind === "rgb" ? 8 : 16;
  const n = rows * columns * spp * frames;
  const pixels = new Uint8Array(n * (bits / 8));
  let seed = 7;
  const noise = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 8;
  for (let i = 0; i < n; i++) {
    const x = i % columns, y = Math.floor(i / columns) % rows;
    if (bits === 8) pixels[i] = x < columns / 2 ? 40 : (x * 3 + y * 2 + noise()) & 0xff;
    else {
      let v = kind === "ct" ? 1000 + x * 20 + y * 10 + noise() : 200 + ((x * y) % 300) + noise();
      if (kind === "signed") v = -1024 + x * 7 + noise();
      pixels[2 * i] = v & 0xff;
      pixels[2 * i + 1] = (v >> 8) & 0xff;
    }
  }
  const elements: DataElement[] = [
    text(0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.2"),
    text(0x00080018, "UI", "1.2.3.4.5"),
    text(0x00100010, "PN", "Test^Compression"),
    us(0x00280002, spp),
    text(0x00280004, "CS", kind === "rgb" ? "RGB" : "MONOCHROME2"),
    ...(kind === "rgb" ? [us(0x00280006, 0)] : []),
    ...(frames > 1 ? [text(0x00280008, "IS", String(frames))] : []),
    us(0x00280010, rows),
    us(0x00280011, columns),
    us(0x00280100, bits),
    us(0x00280101, kind === "ct" ? 12 : bits),
    us(0x00280102, kind === "ct" ? 11 : bits - 1),
    us(0x00280103, kind === "signed" ? 1 : 0),
    {
      tag: kind === "float" ? 0x7fe00008 : 0x7fe00010,
      vr: kind === "float" ? "OF" : bits === 8 ? "OB" : "OW",
      value: pixels,
    },
  ];
  return { elements, pixels };
}

async function decodeBack(dataset: Uint8Array, from: string, to: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const source = (async function* () {
    yield dataset;
  })();
  for await (const p of decompressDataset(source, from, to)) parts.push(p.slice());
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (all.set(p, at), at += p.length);
  return all;
}

function pixelDataOf(dataset: Uint8Array, ts: string): Uint8Array {
  const explicit = ts !== IMPLICIT_VR_LE;
  const { end, stopped } = decodeDatasetPart(dataset, { explicitVr: explicit, littleEndian: true });
  assert.ok(stopped, "Pixel Data is there");
  const dv = new DataView(dataset.buffer, dataset.byteOffset + end);
  const length = dv.getUint32(explicit ? 8 : 4, true);
  const start = end + (explicit ? 12 : 8);
  return dataset.subarray(start, start + length);
}

for (const ts of [JPEG_LS, J2K, RLE]) {
  for (const kind of ["ct", "mr", "rgb", "signed"] as const) {
    Deno.test(`compressDataset(): ${kind} into ${ts} is smaller and decodes to the same pixels`, async () => {
      for (const from of [EXPLICIT_VR_LE, IMPLICIT_VR_LE]) {
        const { elements, pixels } = image(kind, kind === "mr" ? 3 : 1);
        const dataset = encodeDataset(elements, {
          explicitVr: from === EXPLICIT_VR_LE,
          littleEndian: true,
        });
        const result = await compressDataset(dataset, from, ts);
        assert.ok(result.compressed, JSON.stringify(result));
        assert.ok(result.dataset.length < dataset.length, "smaller than it came");
        const back = await decodeBack(result.dataset, ts, from);
        assert.deepEqual(pixelDataOf(back, from), pixels);
        const header = decodeDatasetPart(back, {
          explicitVr: from === EXPLICIT_VR_LE,
          littleEndian: true,
        }).elements;
        const photometric = findElement(header, 0x00280004)!;
        assert.equal(textOf(photometric, "").trim(), kind === "rgb" ? "RGB" : "MONOCHROME2");
        assert.equal(textOf(findElement(header, 0x00100010)!, "").trim(), "Test^Compression");
      }
    });
  }
}

Deno.test("compressDataset(): what cannot be compressed losslessly is kept, with the reason", async () => {
  const float = encodeDataset(image("float").elements, { explicitVr: true, littleEndian: true });
  const f = await compressDataset(float, EXPLICIT_VR_LE, JPEG_LS);
  assert.equal(f.compressed, false);
  const ct = encodeDataset(image("ct").elements, { explicitVr: true, littleEndian: true });
  const big = await compressDataset(ct, "1.2.840.10008.1.2.2", JPEG_LS);
  assert.equal(big.compressed, false);
  const ybr = image("rgb");
  ybr.elements[4] = text(0x00280004, "CS", "YBR_FULL");
  const y = await compressDataset(
    encodeDataset(ybr.elements, { explicitVr: true, littleEndian: true }),
    EXPLICIT_VR_LE,
    RLE,
  );
  assert.equal(y.compressed, false);
  assert.match((y as { reason: string }).reason, /YBR_FULL/);
});
