// Bundles the runtime-agnostic core (src/core) into one ESM file with esbuild:
// dist/minipacs-core.mjs. The core imports nothing from Deno or node:*, so the bundle
// runs under Node as well (tests/core/bundle_test.ts proves it).
//
// npm packages are taken from Deno's npm cache at the versions deno.json pins (esbuild knows
// no import map). The Emscripten glue of the WebAssembly codecs mentions Node's fs and path
// for loading .wasm files from disk; the core hands them their bytes instead, so those two
// resolve to an empty module here.
import * as esbuild from "esbuild";
import { fileURLToPath as fromFileUrl } from "node:url";

const root = fromFileUrl(new URL("../", import.meta.url));
const outfile = Deno.args[0] ?? `${root}dist/minipacs-core.mjs`;

const imports: Record<string, string> =
  JSON.parse(await Deno.readTextFile(`${root}deno.json`)).imports;
const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
const npmCache = `${JSON.parse(new TextDecoder().decode(info.stdout)).denoDir}/npm/` +
  "registry.npmjs.org";

/** The file a bare specifier names, through deno.json's imports and the package's exports. */
async function resolveNpm(specifier: string): Promise<string | undefined> {
  const key =
    Object.keys(imports).filter((k) =>
      k === specifier || (k.endsWith("/") && specifier.startsWith(k))
    ).sort((a, b) => b.length - a.length)[0];
  if (!key) return undefined;
  const target = imports[key] + specifier.slice(key.length);
  const m = /^npm:\/?(@[^/@]+\/[^/@]+|[^/@]+)@([^/]+)\/?(.*)$/.exec(target);
  if (!m) return undefined;
  const [, name, version, sub] = m;
  const dir = `${npmCache}/${name}/${version}`;
  const pkg = JSON.parse(await Deno.readTextFile(`${dir}/package.json`));
  const file = condition(pkg.exports?.[sub ? `./${sub}` : "."]) ??
    (sub ? `./${sub}` : pkg.module ?? pkg.main ?? "index.js");
  return `${dir}/${file}`;
}

/** The file of a package.json "exports" entry for an ES module on no particular platform. */
function condition(entry: unknown): string | undefined {
  if (typeof entry === "string") return entry;
  if (!entry || typeof entry !== "object") return undefined;
  const conditions = entry as Record<string, unknown>;
  for (const name of ["import", "default", "require"]) {
    if (name in conditions) return condition(conditions[name]);
  }
  return undefined;
}

const npm: esbuild.Plugin = {
  name: "deno-npm",
  setup(build) {
    build.onResolve({ filter: /^(fs|path)$/ }, (args) => ({ path: args.path, namespace: "empty" }));
    build.onLoad({ filter: /.*/, namespace: "empty" }, () => ({ contents: "", loader: "js" }));
    build.onResolve({ filter: /^[@a-z]/ }, async (args) => {
      const path = await resolveNpm(args.path);
      return path ? { path } : undefined;
    });
  },
};

const result = await esbuild.build({
  entryPoints: [`${root}src/core/mod.ts`],
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  outfile,
  logLevel: "warning",
  metafile: true,
  plugins: [npm],
  define: { __dirname: '"/"' },
});
await esbuild.stop();
const inputs = Object.keys(result.metafile!.inputs);
const foreign = inputs.filter((i) =>
  !i.startsWith("src/core/") && !i.includes("node_modules") && !i.includes(npmCache.slice(1)) &&
  !i.startsWith("empty:")
);
if (foreign.length) {
  console.error(`the core must not import outside src/core: ${foreign.join(", ")}`);
  Deno.exit(1);
}
console.log(`bundled ${inputs.length} modules into ${outfile}`);
