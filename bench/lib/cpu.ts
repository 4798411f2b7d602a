/**
 * CPU time used by each process of a run (the servers and the load generator itself) over a measured
 * interval, as a percentage of one core: 100 = one core busy the whole time. On a machine where the
 * servers and the load generator share few cores, this tells who the bottleneck is.
 *
 * Child processes are read from /proc/<pid>/stat (Linux); elsewhere they are left out.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clockTicksPerSecond: number | null = null;

/** Clock ticks per second of /proc's CPU figures (CLK_TCK). */
export function ticksPerSecond(): number {
  if (clockTicksPerSecond === null) {
    try {
      clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim()) || 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  return clockTicksPerSecond;
}

/** User + system CPU ticks in a /proc `stat` line (a process's or a thread's). */
export function statTicks(stat: string): number {
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** User + system CPU seconds of process `pid` so far, or null when it cannot be read. */
export function processCpuSeconds(pid: number): number | null {
  try {
    return statTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) / ticksPerSecond();
  } catch {
    return null;
  }
}

/** Busy CPU seconds of the whole machine so far (all cores; idle and iowait excluded), or null. */
export function machineBusySeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const [, ...ticks] = line.trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    const busy = ticks.slice(0, 8).reduce((a, b) => a + b, 0) - ticks[3] - ticks[4];
    return busy / ticksPerSecond();
  } catch {
    return null;
  }
}

/** Per-label CPU use in % of one core over the interval; labels that could not be read are absent. */
export type CpuShares = Record<string, number>;

/** The label of this process (the load generator) in CpuShares. */
export const SELF_LABEL = 'bench';
/**
 * The label of everything else the machine ran meanwhile (machine busy time minus the processes
 * above): other people's tests on a shared machine, the kernel's own work. Large values mean the
 * numbers of this run are not to be trusted.
 */
export const OTHER_LABEL = 'other';

export class CpuMeter {
  private started: { wallNs: bigint; self: NodeJS.CpuUsage; machine: number | null; children: Map<string, number> } | null = null;

  /** `pids()` is read at `begin`: the processes to watch, by label (e.g. 'n1'). */
  constructor(private readonly pids: () => ReadonlyMap<string, number>) {
    ticksPerSecond();
  }

  begin(): void {
    const children = new Map<string, number>();
    for (const [label, pid] of this.pids()) {
      const s = processCpuSeconds(pid);
      if (s !== null) children.set(label, s);
    }
    this.started = { wallNs: process.hrtime.bigint(), self: process.cpuUsage(), machine: machineBusySeconds(), children };
  }

  end(): CpuShares {
    const start = this.started;
    if (!start) return {};
    this.started = null;
    const wallSeconds = Number(process.hrtime.bigint() - start.wallNs) / 1e9;
    if (wallSeconds <= 0) return {};
    const pct = (seconds: number) => Math.round((seconds / wallSeconds) * 1000) / 10;
    const shares: CpuShares = {};
    let ours = 0;
    for (const [label, before] of start.children) {
      const pid = this.pids().get(label);
      const after = pid === undefined ? null : processCpuSeconds(pid);
      if (after === null) continue;
      shares[label] = pct(after - before);
      ours += after - before;
    }
    const self = process.cpuUsage(start.self);
    shares[SELF_LABEL] = pct((self.user + self.system) / 1e6);
    ours += (self.user + self.system) / 1e6;
    const machine = machineBusySeconds();
    if (machine !== null && start.machine !== null) shares[OTHER_LABEL] = Math.max(0, pct(machine - start.machine - ours));
    return shares;
  }
}
