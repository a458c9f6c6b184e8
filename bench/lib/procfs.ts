// Resident memory and CPU time of a process, from /proc (Linux).
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck: number | undefined;

function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** Fields of /proc/<pid>/stat from field 3 (state) on: [1] is the ppid, [11] utime, [12] stime. */
function statFields(pid: number | string): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * User + system CPU seconds of a process; with `live`, plus those of its running children
 * (nginx's workers); with `reaped`, plus those of the children it has waited for (socat's
 * per-connection forks). Undefined when the process is gone.
 */
export function cpuSeconds(pid: number, children: 'none' | 'live' | 'reaped' = 'none'): number | undefined {
  const own = statFields(pid);
  if (own === undefined) return undefined;
  const ticks = (f: string[]): number => Number(f[11]) + Number(f[12]);
  let total = ticks(own);
  if (children === 'reaped') total += Number(own[13]) + Number(own[14]); // cutime, cstime
  if (children === 'live') {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const f = statFields(name);
      if (f !== undefined && Number(f[1]) === pid) total += ticks(f);
    }
  }
  return total / ticksPerSecond();
}

/** VmRSS of a process in KiB (undefined when it is gone). */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** The machine's busy and total CPU time (jiffies), from the first line of /proc/stat. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
}
