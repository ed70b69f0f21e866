// glibc's malloc_trim(0) through Deno's FFI: gives the C heap's free pages back to the system.
// glibc keeps what SQLite, the TLS stack and Deno's own buffers freed, in the main heap and in
// each thread's arena, for the next allocation; after a large C-FIND answer at a million
// instances that was several MiB of resident memory that an idle server held on to.
//
// Only where it can be: Linux with glibc, and FFI permitted for that libc file (the compiled
// executable and `deno task start` allow exactly LIBC_PATHS). Elsewhere (musl has no
// malloc_trim, macOS, Windows, no --allow-ffi) it is simply not available: nothing is
// printed, nothing fails.

/** Where glibc's libc.so.6 lies on the usual distributions (Debian and Ubuntu, Fedora, Arch). */
export const LIBC_PATHS = [
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/lib64/libc.so.6",
  "/usr/lib/libc.so.6",
] as const;

/** Returns malloc_trim(0), or null where it cannot be called (then each later call is free). */
export function openMallocTrim(paths: readonly string[] = LIBC_PATHS): (() => boolean) | null {
  if (Deno.build.os !== "linux") return null;
  for (const path of paths) {
    try {
      if (Deno.permissions.querySync({ name: "ffi", path }).state !== "granted") continue;
      const lib = Deno.dlopen(path, {
        malloc_trim: { parameters: ["usize"], result: "i32" },
      });
      return () => lib.symbols.malloc_trim(0n) === 1;
    } catch {
      // Not there, not glibc (no such symbol), or FFI refused: try the next, then give up.
    }
  }
  return null;
}
