// Disk space: what a volume has free for an unprivileged user, and telling a full disk.

export /** Free space of the volume holding `path`, as an unprivileged user may use it. */
async function diskFreeBytes(path: string): Promise<number> {
  try {
    const { statfs } = await import("node:fs/promises");
    const s = await statfs(path);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    const out = await new Deno.Command("df", { args: ["-Pk", path], stdout: "piped" })
      .output();
    const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
    const available = Number(line.split(/\s+/)[3]);
    if (!out.success || !Number.isFinite(available)) {
      throw new Error(`cannot read free space of ${path}`);
    }
    return available * 1024;
  }
}

/** ENOSPC: the volume is full (or the user's quota is). */
export function isNoSpace(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  return code === "ENOSPC" || code === "EDQUOT" ||
    /os error (28|122)\b|No space left|database or disk is full/.test(e.message);
}
