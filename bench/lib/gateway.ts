// Portcullis as the benchmarks run it: its own process (`node bin/portcullis.js start`), so that
// its CPU time and resident memory are its own and it does not share an event loop with the
// harness. A temp folder holds the configuration, the SQLite store (recordings and audit
// included), generated keys and the log. Tokens are issued with `portcullis token issue`
// before the start (the first command also generates the keys).
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from './cleanup.ts';
import { cpuSeconds, rssKiB } from './procfs.ts';
import { runOk, startService, type Service } from './proc.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'portcullis.js');
const START_TIMEOUT_MS = 90_000;

export interface TokenSpec {
  readonly subject: string;
  readonly groups: readonly string[];
}

export interface GatewayOptions {
  /** Protocol listeners to open on free ports (`postgres`, `http`, `ssh`); the admin API always. */
  readonly listen: readonly string[];
  /** `connections:` and `policies:` (and any other top-level keys), appended to the base. */
  readonly yaml: string;
  /** Tokens to issue, by name. */
  readonly tokens: Readonly<Record<string, TokenSpec>>;
  readonly env?: NodeJS.ProcessEnv;
  /** pino level (default info, as in production). */
  readonly logLevel?: string;
}

export interface GatewayProcess {
  readonly pid: number;
  readonly apiUrl: string;
  readonly ports: ReadonlyMap<string, number>;
  readonly tokens: Readonly<Record<string, string>>;
  readonly dir: string;
  readonly service: Service;
  rssKiB(): number | undefined;
  cpuSeconds(): number | undefined;
  /** The Prometheus text of GET /metrics. */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function startGatewayProcess(opts: GatewayOptions): Promise<GatewayProcess> {
  const dir = tempDir('pcs-bench-gw-');
  const configFile = join(dir, 'portcullis.yaml');
  const listen = ['api: "127.0.0.1:0"', ...opts.listen.map((p) => `${p}: "127.0.0.1:0"`)].join(', ');
  writeFileSync(
    configFile,
    `listen: { ${listen} }
store: "sqlite:${join(dir, 'portcullis.db')}"
data_dir: "${dir}"
vault: { master_key_file: "${join(dir, 'master.key')}", generate_if_missing: true }
identity: { local_issuer: {} }
log: { level: ${opts.logLevel ?? 'info'} }
shutdown: { grace: 2s }
${opts.yaml}`,
    { mode: 0o600 },
  );
  const env = { ...opts.env, PORTCULLIS_LOG_LEVEL: opts.logLevel ?? 'info' };

  const tokens: Record<string, string> = {};
  for (const [name, spec] of Object.entries(opts.tokens)) {
    const r = await runOk(process.execPath, [BIN, 'token', 'issue', '--config', configFile, '--subject', spec.subject, ...spec.groups.flatMap((g) => ['--group', g]), '--ttl', '12h'], { env: { ...env, PORTCULLIS_LOG_LEVEL: 'warn' }, cwd: ROOT });
    const token = /^[\w-]+\.[\w-]+\.[\w-]+$/m.exec(r.stdout)?.[0];
    if (token === undefined) throw new Error(`portcullis token issue printed no token:\n${r.stdout}${r.stderr}`);
    tokens[name] = token;
  }

  const logFile = join(dir, 'gateway.log');
  const fd = openSync(logFile, 'a');
  const service = startService(process.execPath, [BIN, 'start', '--config', configFile], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const log = (): string => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };

  // Ready when the banner lists every listener.
  const until = Date.now() + START_TIMEOUT_MS;
  let apiUrl: string | undefined;
  const ports = new Map<string, number>();
  for (;;) {
    const text = log();
    if (text.includes('Portcullis is running')) {
      apiUrl = /admin API:\s+(http:\/\/\S+)/.exec(text)?.[1];
      for (const p of opts.listen) {
        const port = new RegExp(`^\\s+${p}:\\s+127\\.0\\.0\\.1:(\\d+)\\s*$`, 'm').exec(text)?.[1];
        if (port !== undefined) ports.set(p, Number(port));
      }
      if (apiUrl !== undefined && ports.size === opts.listen.length) break;
    }
    if (service.child.exitCode !== null || service.child.signalCode !== null || Date.now() > until) {
      await service.stop();
      throw new Error(`the gateway did not start (listeners ${opts.listen.join(', ')}); its log:\n${log().slice(-6000)}`);
    }
    await sleep(100);
  }

  return {
    pid: service.pid,
    apiUrl,
    ports,
    tokens,
    dir,
    service,
    rssKiB: () => rssKiB(service.pid),
    cpuSeconds: () => cpuSeconds(service.pid),
    metrics: async () => (await fetch(`${apiUrl}/metrics`)).text(),
    stop: () => service.stop('SIGTERM', 15_000),
  };
}

/**
 * Hits and misses of the SQL analysis caches, if the gateway exports them as
 * `portcullis_sql_analysis_cache_lookups_total{result="hit"|"miss", ...}` (summed over other
 * labels); undefined when it exports no such metric.
 */
export function analysisCacheCounts(metrics: string): { hits: number; misses: number } | undefined {
  let found = false;
  let hits = 0;
  let misses = 0;
  for (const line of metrics.split('\n')) {
    const m = /^portcullis_sql_analysis_cache_lookups_total\{([^}]*)\}\s+(\S+)/.exec(line);
    if (m === null) continue;
    found = true;
    const result = /result="(\w+)"/.exec(m[1] as string)?.[1];
    if (result === 'hit') hits += Number(m[2]);
    else if (result === 'miss') misses += Number(m[2]);
  }
  return found ? { hits, misses } : undefined;
}

/** The value of one sample of the Prometheus text, e.g. `portcullis_sessions_active{protocol="postgres"}`; undefined when absent. */
export function metricValue(metrics: string, sample: string): number | undefined {
  for (const line of metrics.split('\n')) {
    if (line.startsWith(sample) && line.charAt(sample.length) === ' ') return Number(line.slice(sample.length + 1).trim().split(' ')[0]);
  }
  return undefined;
}
