// The core bundles with esbuild into one ESM file that runs under Node: proof that it
// imports nothing from Deno or node:* (the README's "Layout": src/core is runtime-free).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

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
