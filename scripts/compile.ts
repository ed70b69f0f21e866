// `deno task compile [--target T] [--output FILE]`: one self-contained executable of
// src/main.ts (default dist/minipacs) with the narrowest permissions the server needs.
//
// deno compile appends the program to "denort", Deno's runtime-only binary. It takes it from
// $DENO_DIR/dl/release/v<version>/denort-<target>.zip, downloading it there on first use;
// where nothing can be downloaded, point DENORT_BIN at a denort binary of the same Deno
// version (Deno reads that variable itself; note that it then ignores --target).
import { V8_FLAGS } from "./v8_flags.ts";
import { LIBC_PATHS } from "../src/app/malloc_trim.ts";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath as fromFileUrl } from "node:url";

const ROOT = fromFileUrl(new URL("../", import.meta.url));

/**
 * What the executable may do, fixed at compile time (no prompts at run time):
 * network (DICOM, HTTP, outgoing C-MOVE/SCU), read and write (config, storage), the
 * environment variable MINIPACS_CONFIG only, statfs for the free-space check, and glibc's
 * libc.so.6 through FFI (malloc_trim when idle, src/app/malloc_trim.ts; no other library). No
 * --allow-run: with statfs allowed the `df` fallback is never needed.
 */
export const PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env=MINIPACS_CONFIG",
  "--allow-sys=statfs",
  `--allow-ffi=${LIBC_PATHS.join(",")}`,
];

/**
 * Modules loaded dynamically, which deno compile cannot find by itself: the decoding worker, the
 * materializer's copy thread and reindex's reader threads (started with new Worker()).
 * Everything else is imported statically, the WebAssembly codecs included
 * (src/core/codecs/wasm/*.ts, from scripts/embed_wasm.ts): the executable never reads a .wasm
 * file.
 */
export const INCLUDES: string[] = [
  "src/app/decode_worker.ts",
  "src/storage/home_copy_worker.ts",
  "src/storage/reindex_reader_worker.ts",
];

export interface CompileOptions {
  target?: string;
  output?: string;
}

/** The `deno compile` arguments for these options. */
export function compileArgs(o: CompileOptions = {}): string[] {
  return [
    "compile",
    ...PERMISSIONS,
    V8_FLAGS,
    ...INCLUDES.flatMap((i) => ["--include", i]),
    ...(o.target ? ["--target", o.target] : []),
    "--output",
    o.output ?? `${ROOT}dist/minipacs`,
    `${ROOT}src/main.ts`,
  ];
}

/** Deno's cache folder, as `deno info` reports it. */
export async function denoDir(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
  } catch {
    return undefined;
  }
}

export type DenortRuntime = { source: "DENORT_BIN" | "cache"; path: string };

/** The denort deno compile will use for `target` without downloading, or null. */
export async function findDenort(target = Deno.build.target): Promise<DenortRuntime | null> {
  const env = Deno.env.get("DENORT_BIN");
  if (env) return (await isFile(env)) ? { source: "DENORT_BIN", path: env } : null;
  const dir = await denoDir();
  if (!dir) return null;
  const cached = `${dir}/dl/release/v${Deno.version.deno}/denort-${target}.zip`;
  return (await isFile(cached)) ? { source: "cache", path: cached } : null;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { target: { type: "string" }, output: { type: "string" } },
      strict: true,
    }));
  } catch (e) {
    console.error(
      `compile: ${(e as Error).message}\nUsage: deno task compile [--target T] [--output FILE]`,
    );
    return 2;
  }
  const env = Deno.env.get("DENORT_BIN");
  if (env && !(await isFile(env))) {
    console.error(`compile: DENORT_BIN=${env} is not a file`);
    return 1;
  }
  if (env && values.target && values.target !== Deno.build.target) {
    console.error(
      `compile: warning: DENORT_BIN is set, so deno compile uses it whatever --target says; ` +
        `it must be a denort built for ${values.target}`,
    );
  }
  if (!(await findDenort(values.target))) {
    console.error(
      `compile: no cached denort for ${values.target ?? Deno.build.target}: deno compile will ` +
        "download it; without network access set DENORT_BIN to a denort binary of Deno " +
        Deno.version.deno,
    );
  }
  // A relative --output is taken from where `deno task` was called (INIT_CWD), not the repo.
  const from = Deno.env.get("INIT_CWD") ?? Deno.cwd();
  const args = compileArgs({ ...values, output: values.output && resolve(from, values.output) });
  const output = args[args.indexOf("--output") + 1];
  await Deno.mkdir(dirname(output), { recursive: true });
  console.error(`deno ${args.join(" ")}`);
  const status = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT }).spawn().status;
  return status.code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
