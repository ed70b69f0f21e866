// malloc_trim through FFI: there where glibc and the permission are, and simply absent (no
// error, nothing printed) without the permission.
import assert from "node:assert/strict";
import { LIBC_PATHS, openMallocTrim } from "../../src/app/malloc_trim.ts";

const MODULE = new URL("../../src/app/malloc_trim.ts", import.meta.url).href;

/** Runs openMallocTrim() in a `deno run` with these permissions; what it printed. */
async function probe(permissions: string[]) {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-trim-" });
  try {
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `import { openMallocTrim } from ${JSON.stringify(MODULE)};
const trim = openMallocTrim();
console.log(trim === null ? "absent" : typeof trim());\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...permissions, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout).trim(),
      stderr: new TextDecoder().decode(out.stderr).trim(),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** True on Linux with glibc at one of LIBC_PATHS. */
function glibcHere(): boolean {
  if (Deno.build.os !== "linux") return false;
  return LIBC_PATHS.some((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
}

Deno.test("openMallocTrim() is null, silently, when FFI is not permitted", async () => {
  const r = await probe(["--allow-read", "--allow-env"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "absent");
  assert.equal(r.stderr, "");
});

Deno.test("openMallocTrim() calls glibc's malloc_trim where FFI is allowed for libc", async () => {
  if (!glibcHere()) {
    console.log("skip: no glibc libc.so.6 at the usual paths here");
    return;
  }
  const r = await probe([`--allow-ffi=${LIBC_PATHS.join(",")}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "boolean");
});

Deno.test("openMallocTrim() is null for a library that is not there", () => {
  assert.equal(openMallocTrim(["/nonexistent/libc.so.6"]), null);
});
