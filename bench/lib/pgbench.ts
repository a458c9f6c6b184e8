// pgbench runs and what they print: tps from its summary, p50/p99 from its per-transaction
// logs (`-l`, sampled with --sampling-rate so that logging costs the client little).
// https://www.postgresql.org/docs/current/pgbench.html#PGBENCH-OPTIONS
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run, runOk } from './proc.ts';
import { percentileSorted } from './stats.ts';

export interface PgTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** For the gateway: the agent's token. */
  readonly password?: string;
}

export interface PgbenchOptions {
  readonly clients: number;
  readonly threads: number;
  readonly seconds: number;
  /** `-t`: this many transactions per client instead of `seconds` (smoke runs). */
  readonly transactions?: number;
  readonly mode: 'simple' | 'extended' | 'prepared';
  /** `-S`: the built-in select-only script; otherwise the default TPC-B-like one. */
  readonly selectOnly: boolean;
  /** Share of transactions logged for the percentiles (0 < rate <= 1). */
  readonly samplingRate: number;
  /** A folder for the per-transaction logs (a subfolder per run, removed after parsing). */
  readonly logDir: string;
}

export interface PgbenchResult {
  readonly tps: number;
  readonly transactions: number;
  readonly failed: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Logged transactions the percentiles come from. */
  readonly samples: number;
}

/** libpq's environment: the token as the password, and no TLS on any path (the same wire for all). */
export function libpqEnv(target: PgTarget): NodeJS.ProcessEnv {
  return { PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '30', ...(target.password !== undefined ? { PGPASSWORD: target.password } : { PGPASSWORD: '' }) };
}

const targetArgs = (t: PgTarget): string[] => ['-h', t.host, '-p', String(t.port), '-U', t.user, t.database];

export function pgbenchArgs(opts: Omit<PgbenchOptions, 'logDir'>, logPrefix?: string): string[] {
  return [
    '-n', // no vacuum before the run: the harness vacuums directly, the same for every path
    '-c', String(opts.clients),
    '-j', String(opts.threads),
    ...(opts.transactions !== undefined ? ['-t', String(opts.transactions)] : ['-T', String(opts.seconds)]),
    '-M', opts.mode,
    ...(opts.selectOnly ? ['-S'] : []),
    ...(logPrefix !== undefined ? ['-l', `--log-prefix=${logPrefix}`, `--sampling-rate=${opts.samplingRate}`] : []),
  ];
}

export async function pgbenchInit(target: PgTarget, scale: number): Promise<void> {
  await runOk('pgbench', ['-i', '-q', '-s', String(scale), ...targetArgs(target)], { env: libpqEnv(target), timeoutMs: 30 * 60_000 });
}

export async function pgbench(target: PgTarget, opts: PgbenchOptions): Promise<PgbenchResult> {
  const dir = mkdtempSync(join(opts.logDir, 'run-'));
  try {
    const r = await run('pgbench', [...pgbenchArgs(opts, join(dir, 'pgbench_log')), ...targetArgs(target)], { env: libpqEnv(target), cwd: dir, timeoutMs: (opts.seconds * 3 + 120) * 1000 });
    const summary = parsePgbenchSummary(r.stdout);
    if (r.code !== 0 || summary === undefined) throw new Error(`pgbench exited ${String(r.code)}:\n${(r.stderr + r.stdout).slice(-3000)}`);
    const latencies = readLatencies(dir);
    return { ...summary, p50Ms: percentileSorted(latencies, 50) / 1000, p99Ms: percentileSorted(latencies, 99) / 1000, samples: latencies.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function parsePgbenchSummary(stdout: string): { tps: number; transactions: number; failed: number } | undefined {
  const tps = /^tps = ([\d.]+) \(without initial connection time\)/m.exec(stdout) ?? /^tps = ([\d.]+)/m.exec(stdout);
  const processed = /number of transactions actually processed: (\d+)/.exec(stdout);
  if (tps === null || processed === null) return undefined;
  return { tps: Number(tps[1]), transactions: Number(processed[1]), failed: Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0) };
}

/**
 * Latencies (µs) of the logged transactions, sorted. Each line of a pgbench log is
 * `client_id transaction_no time script_no time_epoch time_us [schedule_lag]`; `time` is the
 * latency in µs, or `failed`/`skipped`.
 */
export function readLatencies(dir: string): Float64Array {
  const values: number[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.startsWith('pgbench_log')) continue;
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      const first = line.indexOf(' ');
      const second = line.indexOf(' ', first + 1);
      const third = line.indexOf(' ', second + 1);
      if (third < 0) continue;
      const us = Number(line.slice(second + 1, third));
      if (Number.isFinite(us)) values.push(us);
    }
  }
  return Float64Array.from(values).sort();
}
