// The idle release of the executable's code pages: only its loaded segments that are not
// writable are dropped, and a process that dropped them holds less and runs on.
import assert from "node:assert/strict";
import { hasTextRelocations, readOnlyRanges, readSegments } from "../../src/app/code_pages.ts";
import { LIBC_PATHS } from "../../src/app/malloc_trim.ts";

/** A 64-bit little-endian ELF header and program header table: [type, flags, vaddr, memsz]. */
function elf(headers: [number, number, number, number][]): Uint8Array {
  const bytes = new Uint8Array(64 + 56 * headers.length);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(0, 0x7f454c46);
  bytes[4] = 2; // ELFCLASS64
  bytes[5] = 1; // little-endian
  dv.setBigUint64(32, 64n, true); // e_phoff
  dv.setUint16(54, 56, true); // e_phentsize
  dv.setUint16(56, headers.length, true); // e_phnum
  headers.forEach(([type, flags, vaddr, memsz], i) => {
    const at = 64 + 56 * i;
    dv.setUint32(at, type, true);
    dv.setUint32(at + 4, flags, true);
    dv.setBigUint64(at + 16, BigInt(vaddr), true);
    dv.setBigUint64(at + 40, BigInt(memsz), true);
  });
  return bytes;
}

Deno.test("readOnlyRanges() takes the loaded segments that are not writable, where they lie", () => {
  const R = 4, W = 2, X = 1;
  const segments = readSegments(elf([
    [6, R, 0x40, 0x230], // PT_PHDR
    [1, R, 0x0, 0x1800], // rodata
    [1, R | X, 0x2000, 0x3100], // code
    [1, R | W, 0x6000, 0x1000], // relocated data (RELRO) and data: never
    [2, R | W, 0x6100, 0x200], // PT_DYNAMIC
  ]))!;
  assert.equal(segments.length, 5);
  // Loaded at 0x555500000000: the program headers are there + 0x40.
  const ranges = readOnlyRanges(segments, 0x555500000040n);
  assert.deepEqual(ranges, [
    [0x555500000000n, 0x555500002000n],
    [0x555500002000n, 0x555500006000n],
  ]);
  assert.equal(readSegments(new TextEncoder().encode("#!/bin/sh\n".padEnd(80))), null);
  assert.deepEqual(readOnlyRanges(segments.filter((s) => s.type !== 6), 0x1000n), []);
});

Deno.test("hasTextRelocations() reads DT_TEXTREL and DF_TEXTREL up to DT_NULL", () => {
  const dynamic = (pairs: [bigint, bigint][]) => {
    const bytes = new Uint8Array(16 * pairs.length);
    const dv = new DataView(bytes.buffer);
    pairs.forEach(([tag, value], i) => {
      dv.setBigInt64(16 * i, tag, true);
      dv.setBigUint64(16 * i + 8, value, true);
    });
    return bytes;
  };
  assert.equal(hasTextRelocations(dynamic([[1n, 5n], [30n, 8n], [0n, 0n]])), false);
  assert.equal(hasTextRelocations(dynamic([[1n, 5n], [22n, 0n], [0n, 0n]])), true);
  assert.equal(hasTextRelocations(dynamic([[30n, 4n | 8n], [0n, 0n]])), true);
  assert.equal(hasTextRelocations(dynamic([[0n, 0n], [22n, 0n]])), false, "after DT_NULL");
});

const glibc = Deno.build.os === "linux" && LIBC_PATHS.some((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

Deno.test({
  name: "a process that dropped its code pages holds less and runs on",
  ignore: !glibc,
  async fn() {
    const module = new URL("../../src/app/code_pages.ts", import.meta.url).href;
    const dir = await Deno.makeTempDir({ prefix: "minipacs-code-pages-" });
    try {
      const script = `${dir}/probe.ts`;
      await Deno.writeTextFile(
        script,
        `import { openCodePageRelease } from ${JSON.stringify(module)};
const release = openCodePageRelease();
if (!release) throw new Error("not available");
const before = Deno.memoryUsage().rss;
release();
const after = Deno.memoryUsage().rss;
// Work after the release: the code it needs faults back in and runs.
const sum = JSON.parse(JSON.stringify([1, 2, 3])).reduce((a: number, b: number) => a + b, 0);
const text = new TextDecoder().decode(await Deno.readFile(${JSON.stringify(script)}));
console.log(JSON.stringify({ before, after, sum, read: text.length > 0 }));\n`,
      );
      // The permissions the shipped server has: read, and FFI for libc alone.
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-prompt", "--allow-read", `--allow-ffi=${LIBC_PATHS.join(",")}`, script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      const r = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.deepEqual([r.sum, r.read], [6, true]);
      const mib = (n: number) => (n / 1048576).toFixed(1);
      assert.ok(
        r.after < r.before - 8 * 1048576,
        `resident ${mib(r.before)} -> ${mib(r.after)} MiB`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
