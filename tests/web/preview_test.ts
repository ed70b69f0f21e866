// Previews: a native image becomes a PNG of its size (or scaled down), windowed; a compressed one is
// decoded first; one no decoder reads gets a placeholder that says why.
import assert from "node:assert/strict";
import { writeDemo } from "../../src/cli/demo.ts";
import { encodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { placeholderSvg, renderPreview } from "../../src/web/preview.ts";
import { hasTool, run } from "../helpers/server.ts";

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

Deno.test({
  name: "renderPreview() decodes JPEG and JPEG-LS images; says why one without a decoder has none",
  ignore: !hasTool("dcmcjpeg") || !hasTool("dcmcjpls"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-preview-" });
    try {
      const files = await writeDemo(dir, {
        implementationClassUid: "1.2.3",
        implementationVersionName: "T",
      });
      const us = files.find((f) => f.modality === "US")!; // 8 bits: JPEG Baseline
      const ct = files.find((f) => f.modality === "CT")!; // 16 bits: JPEG-LS lossless
      assert.equal((await run("dcmcjpeg", ["+eb", us.path, `${dir}/us.jpg.dcm`])).code, 0);
      assert.equal((await run("dcmcjpls", ["+el", ct.path, `${dir}/ct.jls.dcm`])).code, 0);
      for (const name of ["us.jpg.dcm", "ct.jls.dcm"]) {
        const p = await renderPreview(await Deno.readFile(`${dir}/${name}`));
        assert.equal(p.kind, "png", `${name}: ${p.kind === "none" ? p.reason : ""}`);
        if (p.kind === "png") assert.deepEqual(pngSize(p.png), [128, 128]);
      }
      // The lossless one looks exactly as the uncompressed original does.
      const a = await renderPreview(await Deno.readFile(`${dir}/ct.jls.dcm`));
      const b = await renderPreview(await Deno.readFile(ct.path));
      assert.ok(a.kind === "png" && b.kind === "png");
      assert.deepEqual(a.png, b.png);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    // A video syntax: no decoder, a placeholder that says so.
    const meta = encodeFileMetaInformation({
      sopClassUid: "1.2.840.10008.5.1.4.1.1.7",
      sopInstanceUid: "1.2.3.4",
      transferSyntaxUid: "1.2.840.10008.1.2.4.100",
      implementationClassUid: "1.2.3",
      implementationVersionName: "T",
    });
    const p = await renderPreview(meta);
    const reason = p.kind === "none" ? p.reason : "";
    assert.match(
      reason,
      /^compressed \(1\.2\.840\.10008\.1\.2\.4\.100\): no decoder for previews yet$/,
    );
    const svg = placeholderSvg(reason, 128);
    assert.match(svg, /^<svg /);
    assert.match(svg, /<title>compressed \(1\.2\.840\.10008\.1\.2\.4\.100\): no decoder/);
  },
});
