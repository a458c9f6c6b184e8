// What the numbers were measured on: CPU, cores, memory, kernel, distribution, and the
// versions of the programs in the comparison.
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { run } from './proc.ts';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memory: string;
  readonly kernel: string;
  readonly os: string;
  readonly load: string;
  /** Program -> version line, for those installed. */
  readonly versions: ReadonlyMap<string, string>;
}

function cpuModel(): string {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.+)$/m.exec(text)?.[1];
    const flags = /^flags\s*:\s*(.+)$/m.exec(text)?.[1]?.split(' ') ?? [];
    const hyp = flags.includes('hypervisor') ? ', virtualised' : '';
    if (model !== undefined) return `${model.replace(/\s+/g, ' ').trim()}${hyp}`;
  } catch {
    // not Linux
  }
  return cpus()[0]?.model.trim() ?? 'unknown CPU';
}

function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function firstLine(program: string, args: readonly string[], pattern?: RegExp): Promise<string | undefined> {
  const r = await run(program, args, { timeoutMs: 10_000 });
  if (r.code === 127) return undefined;
  const text = `${r.stdout}\n${r.stderr}`;
  const line = pattern !== undefined ? pattern.exec(text)?.[0] : text.split('\n').find((l) => l.trim() !== '');
  return line?.trim();
}

export async function describeMachine(): Promise<Machine> {
  const versions = new Map<string, string>();
  versions.set('node', process.version);
  const probes: [string, string, string[], RegExp?][] = [
    ['postgres', 'psql', ['-h', '127.0.0.1', '-U', 'postgres', '-XAtc', 'SHOW server_version', 'postgres']],
    ['pgbench', 'pgbench', ['--version']],
    ['pgbouncer', 'pgbouncer', ['--version'], /PgBouncer \S+/],
    ['nginx', '/usr/sbin/nginx', ['-v'], /nginx\/\S+/],
    ['wrk', 'wrk', ['--version'], /wrk \S+/],
    ['OpenSSH', 'ssh', ['-V'], /OpenSSH_\S+/],
    ['socat', 'socat', ['-V'], /socat version \S+/],
  ];
  await Promise.all(
    probes.map(async ([name, program, args, pattern]) => {
      const v = await firstLine(program, args, pattern);
      if (v !== undefined) versions.set(name, name === 'postgres' ? `PostgreSQL ${v}` : v);
    }),
  );
  const [l1, l5, l15] = loadavg();
  return {
    cpu: cpuModel(),
    cores: availableParallelism(),
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    kernel: `Linux ${release()}`,
    os: osName(),
    load: `${(l1 ?? 0).toFixed(2)} / ${(l5 ?? 0).toFixed(2)} / ${(l15 ?? 0).toFixed(2)}`,
    versions: new Map([...versions].sort((a, b) => (a[0] === 'node' ? -1 : b[0] === 'node' ? 1 : a[0].localeCompare(b[0])))),
  };
}

export function machineLines(m: Machine): string[] {
  return [
    `CPU: ${m.cpu}, ${m.cores} cores available`,
    `memory: ${m.memory}; ${m.os}; ${m.kernel}`,
    `load average at the start (1/5/15 min): ${m.load}`,
    `versions: ${[...m.versions].map(([k, v]) => (v.toLowerCase().includes(k.toLowerCase()) ? v : `${k} ${v}`)).join(', ')}`,
  ];
}
