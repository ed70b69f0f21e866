// Bundles the runtime-agnostic core (src/core) into one ESM file with esbuild:
// dist/minipacs-core.mjs. The core imports nothing from Deno or node:*, so the bundle
// runs under Node as well (tests/core/bundle_test.ts proves it).
import * as esbuild from "esbuild";
import { fileURLToPath as fromFileUrl } from "node:url";

const root = fromFileUrl(new URL("../", import.meta.url));
const outfile = Deno.args[0] ?? `${root}dist/minipacs-core.mjs`;

const result = await esbuild.build({
  entryPoints: [`${root}src/core/mod.ts`],
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  outfile,
  logLevel: "warning",
  metafile: true,
});
await esbuild.stop();
const inputs = Object.keys(result.metafile!.inputs);
const foreign = inputs.filter((i) => !i.startsWith("src/core/") && !i.includes("node_modules"));
if (foreign.length) {
  console.error(`the core must not import outside src/core: ${foreign.join(", ")}`);
  Deno.exit(1);
}
console.log(`bundled ${inputs.length} modules into ${outfile}`);
