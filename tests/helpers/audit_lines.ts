// The audit trail's JSON lines as a site would read them back.

export type AuditLine = Record<string, unknown>;

/** Every line of the audit file so far (none when it is not there yet). */
export async function auditLines(path: string): Promise<AuditLine[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

/** The first line matching `pred`, waiting up to about 5 s for it to be written. */
export async function waitForLine(
  path: string,
  pred: (l: AuditLine) => boolean,
): Promise<AuditLine> {
  for (let i = 0; i < 100; i++) { // bounded: about 5 s
    const found = (await auditLines(path)).find(pred);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no audit line matched in ${path}:\n${await Deno.readTextFile(path)}`);
}
