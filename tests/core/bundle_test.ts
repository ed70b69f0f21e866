// The core bundles with esbuild into one ESM file that runs under Node: proof that it
// imports nothing from Deno or node:* (the README's "Layout": src/core is runtime-free).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { transcodeDataset } from "../../src/core/dicom/transcode.ts";
import { convert, haveTools, nativeObject, REFERENCE_CODECS } from "../helpers/codec_corpus.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

async function hasNode(): Promise<boolean> {
  try {
    return (await new Deno.Command("node", { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

const node = await hasNode();
if (!node) console.log("SKIP: node is not installed; the cross-runtime bundle test is ignored");

Deno.test({
  name: "deno task bundle: the core bundle runs a PDU round trip and a header scan under Node",
  ignore: !node,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const out = `${dir}/core.mjs`;
      const b = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${root}scripts/bundle.ts`, out],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(b.success, new TextDecoder().decode(b.stderr));
      const bundle = await Deno.readTextFile(out);
      assert.doesNotMatch(bundle, /\bDeno\./, "no Deno API in the core");
      assert.doesNotMatch(bundle, /from\s+["']node:/, "no node: import in the core");
      const script = `
        import * as core from ${JSON.stringify(out)};
        const rq = {
          type: 1, protocolVersion: 1, calledAeTitle: "MINIPACS", callingAeTitle: "NODE",
          applicationContext: "1.2.840.10008.3.1.1.1",
          presentationContexts: [{ id: 1, abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: ["1.2.840.10008.1.2"] }],
          userInformation: { maxLength: 16384, implementationClassUid: "1.2.3", roleSelections: [],
            extendedNegotiations: [], commonExtendedNegotiations: [], unknown: [] },
        };
        const back = core.decodePdu(core.encodePdu(rq));
        const meta = core.encodeFileMetaInformation({ sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
          sopInstanceUid: "1.2.3.4", transferSyntaxUid: "1.2.840.10008.1.2.1",
          implementationClassUid: "1.2.276.0.7230010.3.0.3.6.4", implementationVersionName: "MINIPACS_2_0" });
        const decoded = core.decodeFileMetaInformation(meta).meta;
        console.log(JSON.stringify({ calling: back.callingAeTitle, ts: back.presentationContexts[0].transferSyntaxes[0],
          sop: decoded.sopInstanceUid, classes: core.STORAGE_SOP_CLASSES.size }));
      `;
      const n = await new Deno.Command("node", {
        args: ["--input-type=module", "-e", script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(n.success, new TextDecoder().decode(n.stderr));
      const result = JSON.parse(new TextDecoder().decode(n.stdout));
      assert.equal(result.calling, "NODE");
      assert.equal(result.ts, "1.2.840.10008.1.2");
      assert.equal(result.sop, "1.2.3.4");
      assert.ok(result.classes > 150);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const codecTools = haveTools("dcmcjpeg", "dcmcjpls", "dcmcrle", "dcmconv");

Deno.test({
  name:
    "deno task bundle: the core bundle decodes JPEG (8 and 12-bit), JPEG-LS, RLE and deflate under Node as under Deno",
  ignore: !node || !codecTools,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const out = `${dir}/core.mjs`;
      const b = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${root}scripts/bundle.ts`, out],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(b.success, new TextDecoder().decode(b.stderr));
      const files: string[] = [];
      for (const key of ["jpegBaseline", "jpegLs", "rle", "jpegLosslessSV1"] as const) {
        const spec = {
          rows: 32,
          columns: 24,
          samplesPerPixel: 3,
          bitsAllocated: 8,
          bitsStored: 8,
        } as const;
        await Deno.writeFile(`${dir}/${key}.dcm`, nativeObject(spec));
        await convert(REFERENCE_CODECS[key].encode, `${dir}/${key}.dcm`, `${dir}/${key}.c.dcm`);
        files.push(`${dir}/${key}.c.dcm`);
      }
      // 12-bit JPEG: its decoder is loaded from within the bundle when first needed.
      const twelve = {
        rows: 48,
        columns: 32,
        samplesPerPixel: 1,
        bitsAllocated: 16,
        bitsStored: 12,
      } as const;
      await Deno.writeFile(`${dir}/twelve.dcm`, nativeObject(twelve));
      await convert(REFERENCE_CODECS.jpegExtended12.encode, `${dir}/twelve.dcm`, `${dir}/12.c.dcm`);
      files.push(`${dir}/12.c.dcm`);
      await convert(["dcmconv", "+td"], `${dir}/rle.dcm`, `${dir}/deflated.dcm`);
      files.push(`${dir}/deflated.dcm`);
      // What Deno decodes: the lengths and a checksum of each decoded dataset.
      const sums = async (bytes: Uint8Array) => {
        const { meta, datasetOffset } = decodeFileMetaInformation(bytes);
        const source = (async function* () {
          yield bytes.subarray(datasetOffset);
        })();
        let length = 0;
        let sum = 0;
        for await (
          const p of transcodeDataset(source, meta.transferSyntaxUid, "1.2.840.10008.1.2")
        ) {
          for (const x of p) sum = (sum * 31 + x) >>> 0;
          length += p.length;
        }
        return { length, sum };
      };
      const expected = [];
      for (const f of files) expected.push(await sums(await Deno.readFile(f)));
      const script = `
        import * as core from ${JSON.stringify(out)};
        import { readFileSync } from "node:fs";
        const results = [];
        for (const f of ${JSON.stringify(files)}) {
          const bytes = new Uint8Array(readFileSync(f));
          const { meta, datasetOffset } = core.decodeFileMetaInformation(bytes);
          const source = (async function* () { yield bytes.subarray(datasetOffset); })();
          let length = 0, sum = 0;
          for await (const p of core.transcodeDataset(source, meta.transferSyntaxUid, "1.2.840.10008.1.2")) {
            for (const x of p) sum = (sum * 31 + x) >>> 0;
            length += p.length;
          }
          results.push({ length, sum });
        }
        console.log(JSON.stringify(results));
      `;
      const n = await new Deno.Command("node", {
        args: ["--input-type=module", "-e", script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(n.success, new TextDecoder().decode(n.stderr));
      const got = JSON.parse(new TextDecoder().decode(n.stdout));
      assert.deepEqual(got, expected);
      assert.ok(got.every((r: { length: number }) => r.length > 32 * 24 * 3));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
