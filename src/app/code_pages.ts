// The executable's code and read-only data, unmapped from the process when the server goes
// idle (madvise MADV_DONTNEED through Deno's FFI). Deno's binary is about 100 MiB; the pages a
// day's work touched stay mapped, about 45 MiB of an idle server's resident memory, though
// nothing runs them. They are clean copies of the file: dropping them loses nothing, and the
// next work faults back what it runs from the OS page cache (minor faults, no disk read while
// the file stays cached).
//
// Which pages: the executable's loadable segments that are not writable, found from its
// program header table (System V ABI, ELF) and where it was loaded (getauxval AT_PHDR). A
// writable segment, including the part relocated then write-protected (RELRO), holds private
// copies of its pages and is never touched; an executable with text relocations (DT_TEXTREL,
// whose code pages were written at load) is left alone entirely.
//
// Only where it can be: Linux with glibc (LIBC_PATHS) on a 64-bit ELF, and FFI permitted for
// libc, as for malloc_trim. Elsewhere it is simply not available.
import { LIBC_PATHS } from "./malloc_trim.ts";

/** madvise(2) advice: drop the pages; a private file mapping reads them again from the file. */
const MADV_DONTNEED = 4;
const AT_PHDR = 3n;
const AT_PHNUM = 5n;
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_PHDR = 6;
const DT_TEXTREL = 22n;
const DT_FLAGS = 30n;
const DF_TEXTREL = 4n;
const PF_W = 2;
const PAGE = 4096n;
/** The ELF header and program header table are in the file's first bytes. */
const HEADER_BYTES = 64 * 1024;

/** One program header (Elf64_Phdr) as far as this needs it. */
export interface Segment {
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
}

/**
 * The program headers of a 64-bit little-endian ELF file from its first bytes (the ELF header
 * and the table it points to); null when the bytes are not that or too short.
 */
export function readSegments(file: Uint8Array): Segment[] | null {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const elf = file.length >= 64 && dv.getUint32(0) === 0x7f454c46 && file[4] === 2 && file[5] === 1;
  if (!elf) return null; // not ELF, not 64-bit, or not little-endian
  const offset = Number(dv.getBigUint64(32, true));
  const size = dv.getUint16(54, true);
  const count = dv.getUint16(56, true);
  if (size < 56 || offset + size * count > file.length) return null;
  const out: Segment[] = [];
  for (let i = 0; i < count; i++) {
    const at = offset + i * size;
    out.push({
      type: dv.getUint32(at, true),
      flags: dv.getUint32(at + 4, true),
      offset: dv.getBigUint64(at + 8, true),
      vaddr: dv.getBigUint64(at + 16, true),
      filesz: dv.getBigUint64(at + 32, true),
      memsz: dv.getBigUint64(at + 40, true),
    });
  }
  return out;
}

/** True when a dynamic section (Elf64_Dyn pairs) asks for text relocations. */
export function hasTextRelocations(dynamic: Uint8Array): boolean {
  const dv = new DataView(dynamic.buffer, dynamic.byteOffset, dynamic.byteLength);
  for (let at = 0; at + 16 <= dynamic.length; at += 16) {
    const tag = dv.getBigInt64(at, true);
    if (tag === 0n) break; // DT_NULL
    if (tag === DT_TEXTREL) return true;
    if (tag === DT_FLAGS && (dv.getBigUint64(at + 8, true) & DF_TEXTREL) !== 0n) return true;
  }
  return false;
}

/**
 * The address ranges [start, end) of the loaded, non-writable segments, page-aligned, given
 * where the program headers are in memory (AT_PHDR); empty when the headers do not say where
 * the executable was loaded (no PT_PHDR).
 */
export function readOnlyRanges(segments: readonly Segment[], phdrAddress: bigint): [
  bigint,
  bigint,
][] {
  const self = segments.find((s) => s.type === PT_PHDR);
  if (!self) return [];
  const bias = phdrAddress - self.vaddr;
  return segments
    .filter((s) => s.type === PT_LOAD && (s.flags & PF_W) === 0 && s.memsz > 0n)
    .map((s) => {
      const start = (bias + s.vaddr) & ~(PAGE - 1n);
      const end = (bias + s.vaddr + s.memsz + PAGE - 1n) & ~(PAGE - 1n);
      return [start, end];
    });
}

/**
 * Returns a release of the executable's code pages (the bytes of the ranges advised), or null
 * where it cannot run.
 */
export function openCodePageRelease(
  paths: readonly string[] = LIBC_PATHS,
): (() => number) | null {
  if (Deno.build.os !== "linux") return null;
  for (const path of paths) {
    try {
      if (Deno.permissions.querySync({ name: "ffi", path }).state !== "granted") continue;
      // madvise takes the address as a plain number: a pointer object would need FFI beyond
      // libc. The headers are read from the file itself, for the same reason.
      const lib = Deno.dlopen(path, {
        madvise: { parameters: ["usize", "usize", "i32"], result: "i32" },
        getauxval: { parameters: ["u64"], result: "u64" },
      });
      const phdr = BigInt(lib.symbols.getauxval(AT_PHDR));
      const count = Number(lib.symbols.getauxval(AT_PHNUM));
      const file = Deno.openSync(Deno.execPath(), { read: true });
      let segments: Segment[] | null;
      let textRelocations = true;
      try {
        segments = readSegments(readAt(file, 0, HEADER_BYTES));
        const dynamic = segments?.find((g) => g.type === PT_DYNAMIC);
        if (dynamic && dynamic.filesz < 1024n * 1024n) {
          const bytes = readAt(file, Number(dynamic.offset), Number(dynamic.filesz));
          textRelocations = hasTextRelocations(bytes);
        }
      } finally {
        file.close();
      }
      // The file must be the one running (the same number of program headers) and dynamic
      // without text relocations.
      if (phdr === 0n || !segments || segments.length !== count || textRelocations) return null;
      const ranges = readOnlyRanges(segments, phdr);
      if (ranges.length === 0) return null;
      return () => {
        let bytes = 0;
        for (const [start, end] of ranges) {
          if (lib.symbols.madvise(start, end - start, MADV_DONTNEED) === 0) {
            bytes += Number(end - start);
          }
        }
        return bytes;
      };
    } catch {
      // Not there, not glibc, or FFI refused: try the next, then give up.
    }
  }
  return null;
}

/** Up to `length` bytes of the file from `position`. */
function readAt(file: Deno.FsFile, position: number, length: number): Uint8Array {
  file.seekSync(position, Deno.SeekMode.Start);
  const bytes = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = file.readSync(bytes.subarray(done));
    if (n === null || n === 0) break;
    done += n;
  }
  return bytes.subarray(0, done);
}
