// CPU time a benchmark's server process has used, read from /proc (Linux).

/** CPU time (user + system) of a process so far, in ms; NaN without /proc. */
export function cpuMsOf(pid: number): number {
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
    // utime and stime, in clock ticks of 10 ms.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}
