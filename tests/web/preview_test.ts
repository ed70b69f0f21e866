// Previews: a native image becomes a PNG of its size (or scaled down), windowed; a compressed
// one gets a placeholder that says why.
import assert from "node:assert/strict";
import { writeDemo } from "../../src/cli/demo.ts";
import { encodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { placeholderSvg, renderPreview } from "../../src/web/preview.ts";

const pngSize = (png: Uint8Array) => {
  const dv = new DataView(png.buffer, png.byteOffset);
  return [dv.getUint32(16), dv.getUint32(20)];
};

Deno.test("renderPreview() draws a native image as a PNG, scaled to fit, windowed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-preview-" });
  try {
    const files = await writeDemo(dir, {
      implementationClassUid: "1.2.3",
      implementationVersionName: "T",
    });
    const cr = files.find((f) => f.modality === "CR")!; // 256 x 256, 16 bits
    const bytes = await Deno.readFile(cr.path);
    const full = await renderPreview(bytes);
    assert.equal(full.kind, "png");
    if (full.kind !== "png") return;
    assert.deepEqual(pngSize(full.png), [256, 256]);
    const thumb = await renderPreview(bytes, { maxSize: 128 });
    assert.ok(thumb.kind === "png" && pngSize(thumb.png)[0] === 128);
    // Another window gives other pixels.
    const bone = await renderPreview(bytes, { window: { center: 400, width: 1800 } });
    assert.ok(bone.kind === "png");
    assert.notDeepEqual(bone.png, full.png);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("renderPreview() says why a compressed image has no preview", async () => {
  const meta = encodeFileMetaInformation({
    sopClassUid: "1.2.840.10008.5.1.4.1.1.7",
    sopInstanceUid: "1.2.3.4",
    transferSyntaxUid: "1.2.840.10008.1.2.4.90",
    implementationClassUid: "1.2.3",
    implementationVersionName: "T",
  });
  const p = await renderPreview(meta);
  assert.deepEqual(p, {
    kind: "none",
    reason: "compressed (JPEG 2000 Lossless): no decoder for previews yet",
  });
  const svg = placeholderSvg(p.kind === "none" ? p.reason : "", 128);
  assert.match(svg, /^<svg /);
  assert.match(
    svg,
    /<title>compressed \(JPEG 2000 Lossless\): no decoder for previews yet<\/title>/,
  );
});
