// CPU time from /proc (Linux): a benchmark's server process, and the whole machine, so that a
// round's rate can be read beside what the host took from it (steal, on a shared VM).

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

/** The machine's CPU time so far (all cores), in ms: busy, idle (with I/O wait) and stolen. */
export interface MachineCpu {
  busyMs: number;
  idleMs: number;
  /** The part of idleMs with a disk read or write outstanding (a sync being waited for). */
  iowaitMs: number;
  /** Time a virtual machine's cores waited for the host: another guest ran. */
  stealMs: number;
}

/** The first line of /proc/stat; NaN fields without /proc. */
export function machineCpu(): MachineCpu {
  try {
    const f = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1)
      .map(Number);
    // user nice system idle iowait irq softirq steal, in ticks of 10 ms.
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
    return {
      busyMs: (user + nice + system + irq + softirq) * 10,
      idleMs: (idle + iowait) * 10,
      iowaitMs: iowait * 10,
      stealMs: (steal ?? 0) * 10,
    };
  } catch {
    return { busyMs: NaN, idleMs: NaN, iowaitMs: NaN, stealMs: NaN };
  }
}

/** What the machine did between two readings: busy ms, and the busy/idle/stolen shares. */
export interface CpuUse {
  busyMs: number;
  busy: number;
  idle: number;
  /** The part of `idle` spent with disk I/O outstanding. */
  iowait: number;
  steal: number;
}

export function cpuUse(from: MachineCpu, to: MachineCpu): CpuUse {
  const busyMs = to.busyMs - from.busyMs;
  const idleMs = to.idleMs - from.idleMs;
  const stealMs = to.stealMs - from.stealMs;
  const all = busyMs + idleMs + stealMs;
  const iowait = (to.iowaitMs - from.iowaitMs) / all;
  return { busyMs, busy: busyMs / all, idle: idleMs / all, iowait, steal: stealMs / all };
}
