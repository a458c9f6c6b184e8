// PostgreSQL: pgbench (select-only and TPC-B-like, 8 clients, -M simple and -M prepared) and
// a large result read whole, each against the server directly, through pgbouncer (session
// pooling) and through Portcullis with a realistic policy (the read-only building block, the
// writes pgbench makes, two mask rules) and its recording and audit on.
import type { Socket } from 'node:net';
import pg from 'pg';
import { firstTimeAnalysisTable } from '../lib/analysis.ts';
import { tempDir } from '../lib/cleanup.ts';
import { comparisonTable, interleave, type Measurement, type PathSpec } from '../lib/compare.ts';
import { CUSTOMERS_QUERY, customersSql } from '../lib/customers.ts';
import { analysisCacheCounts, startGatewayProcess } from '../lib/gateway.ts';
import { libpqEnv, pgbench, pgbenchInit, type PgTarget } from '../lib/pgbench.ts';
import { startPgbouncer } from '../lib/pgbouncer.ts';
import { startTcpPipe } from '../lib/tcp-pipe.ts';
import { adminSql, createDatabase, PG } from '../lib/postgres.ts';
import { cpuSeconds } from '../lib/procfs.ts';
import { ensureCommands, run } from '../lib/proc.ts';
import type { Section, SectionOptions } from '../lib/section.ts';
import { fmt, median, percentile } from '../lib/stats.ts';

const CLIENTS = 8;
const THREADS = 2;
/** --smoke: transactions per client (-t) instead of a duration, to keep the check short. */
const SMOKE_TRANSACTIONS = 20;

/** The policy of the agent: Portcullis's read-only building block, pgbench's writes, two mask rules. */
const RULES = `    rules:
      - { name: read-only, match: { sql: { effect: [read] } }, then: allow }
      - { name: pgbench-writes, match: { sql: { effect: [write], tables: ["public.pgbench_*"], unbounded: false } }, then: allow }
      - { then: deny, reason: the benchmark agent reads and runs pgbench }`;
export const PG_MASKS = ['{ column: "*.*.ssn", with: redact }', '{ detector: email, with: partial }'] as const;

function gatewayYaml(db: string): string {
  const upstream = `{ host: ${PG.host}, port: ${PG.port}, database: ${db}, user: ${PG.user}, tls: disable }`;
  return `connections:
  - { name: bench-db, type: postgres, upstream: ${upstream} }
  - { name: bench-db-no-masks, type: postgres, upstream: ${upstream} }
policies:
  - name: bench-agent
    subjects: { groups: [agents] }
    connections: [bench-db]
    masks:
${PG_MASKS.map((m) => `      - ${m}`).join('\n')}
${RULES}
  - name: bench-agent-no-masks
    subjects: { groups: [agents] }
    connections: [bench-db-no-masks]
${RULES}
`;
}

interface PgbenchWorkload {
  readonly name: string;
  readonly unit: string;
  readonly selectOnly: boolean;
  readonly mode: 'simple' | 'prepared';
}

const WORKLOADS: readonly PgbenchWorkload[] = [
  { name: 'select-only, -M simple', unit: 'tps', selectOnly: true, mode: 'simple' },
  { name: 'select-only, -M prepared', unit: 'tps', selectOnly: true, mode: 'prepared' },
  { name: 'TPC-B-like, -M simple', unit: 'tps', selectOnly: false, mode: 'simple' },
  { name: 'TPC-B-like, -M prepared', unit: 'tps', selectOnly: false, mode: 'prepared' },
];

export const pgSection: Section = async (opts) => {
  const missing = await ensureCommands({ psql: 'postgresql-client', pgbench: 'postgresql-client', pgbouncer: 'pgbouncer' }, opts.log);
  if (missing.includes('psql') || missing.includes('pgbench')) throw new Error('psql and pgbench are needed (apt-get install -y postgresql-client)');
  try {
    await adminSql('SELECT 1');
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable on ${PG.host}:${PG.port} as ${PG.user} with trust auth: ${err instanceof Error ? err.message : String(err)}`);
  }
  const scale = opts.smoke ? 1 : 10;
  const resultRows = opts.smoke ? 2_000 : 100_000;
  const samplingRate = opts.smoke ? 1 : 0.2;

  const db = await createDatabase('pcs_bench');
  const direct: PgTarget = { host: PG.host, port: PG.port, user: PG.user, database: db };
  opts.log(`pg: database ${db}: pgbench -i -s ${scale} and ${fmt(resultRows)} customers; starting pgbouncer and the gateway`);
  const [, gw, bouncer, pipe] = await Promise.all([
    (async () => {
      await pgbenchInit(direct, scale);
      await adminSql(customersSql(resultRows), db);
      await adminSql('VACUUM ANALYZE customers', db);
    })(),
    startGatewayProcess({ listen: ['postgres'], yaml: gatewayYaml(db), tokens: { agent: { subject: 'bench-agent', groups: ['agents'] } } }),
    missing.includes('pgbouncer') ? Promise.resolve(undefined) : startPgbouncer({ databases: [db], poolMode: 'session' }),
    startTcpPipe({ host: PG.host, port: PG.port }),
  ]);
  const gwPort = gw.ports.get('postgres') as number;
  const viaGateway = (database: string): PgTarget => ({ host: '127.0.0.1', port: gwPort, user: 'agent', database, password: gw.tokens.agent as string });
  const targets: Record<string, PgTarget> = {
    direct,
    ...(bouncer !== undefined ? { pgbouncer: { ...direct, port: bouncer.port } } : {}),
    'node-pipe': { ...direct, port: pipe.port },
    portcullis: viaGateway('bench-db'),
    'portcullis-no-masks': viaGateway('bench-db-no-masks'),
  };
  const proxyPid = (key: string): number | undefined => (key === 'pgbouncer' ? bouncer?.service.pid : key === 'node-pipe' ? pipe.service.pid : key.startsWith('portcullis') ? gw.pid : undefined);

  const paths: PathSpec[] = [
    { key: 'direct', label: 'direct', role: 'direct' },
    ...(bouncer !== undefined ? [{ key: 'pgbouncer', label: 'pgbouncer (session)', role: 'peer' as const }] : []),
    { key: 'node-pipe', label: 'Node.js TCP pipe (reference)', role: 'reference' },
    { key: 'portcullis', label: 'portcullis', role: 'portcullis' },
  ];

  // Every path answers the same, and the policy lets pgbench through.
  for (const p of paths) {
    const t = targets[p.key] as PgTarget;
    const r = await run('psql', ['-h', t.host, '-p', String(t.port), '-U', t.user, '-d', t.database, '-XAtc', 'SELECT count(*) FROM pgbench_accounts'], { env: libpqEnv(t) });
    if (r.code !== 0 || Number(r.stdout.trim()) !== scale * 100_000) throw new Error(`pg: ${p.label} answered ${JSON.stringify(r.stdout.trim())} (exit ${String(r.code)}): ${r.stderr}`);
  }

  const logDir = tempDir('pcs-bench-pgbench-');
  let cache = { hits: 0, misses: 0, seen: false };
  const readCache = async (): Promise<{ hits: number; misses: number } | undefined> => analysisCacheCounts(await gw.metrics());
  const resetHistory = async (w: PgbenchWorkload): Promise<void> => {
    if (w.selectOnly) return;
    // What pgbench does before a run unless -n; done directly so that every path starts alike.
    await adminSql('VACUUM pgbench_branches, pgbench_tellers', db);
    await adminSql('TRUNCATE pgbench_history', db);
  };
  const runPgbench = async (w: PgbenchWorkload, p: PathSpec, seconds: number): Promise<Measurement> => {
    await resetHistory(w);
    const pid = proxyPid(p.key);
    const before = p.role === 'portcullis' ? await readCache() : undefined;
    const cpu0 = pid !== undefined ? cpuSeconds(pid) : undefined;
    const r = await pgbench(targets[p.key] as PgTarget, { clients: CLIENTS, threads: THREADS, seconds, ...(opts.smoke ? { transactions: SMOKE_TRANSACTIONS } : {}), mode: w.mode, selectOnly: w.selectOnly, samplingRate, logDir });
    const cpu1 = pid !== undefined ? cpuSeconds(pid) : undefined;
    if (r.failed > 0) throw new Error(`pg: ${w.name} via ${p.label}: ${r.failed} failed transactions`);
    const after = before !== undefined ? await readCache() : undefined;
    if (before !== undefined && after !== undefined) cache = { hits: cache.hits + after.hits - before.hits, misses: cache.misses + after.misses - before.misses, seen: true };
    return {
      throughput: r.tps,
      p50: r.p50Ms,
      p99: r.p99Ms,
      ...(cpu0 !== undefined && cpu1 !== undefined && r.transactions > 0 ? { proxyCpuPerOp: ((cpu1 - cpu0) * 1e6) / r.transactions } : {}),
    };
  };

  if (opts.warmup > 0) {
    opts.log(`pg: warm-up, ${opts.warmup} s per workload and path`);
    for (const w of WORKLOADS) for (const p of paths) await runPgbench(w, p, opts.warmup);
  }
  opts.log('pg: pgbench');
  cache = { hits: 0, misses: 0, seen: false };
  const pgbenchRows = await interleave(opts.rounds, WORKLOADS, paths, (w, p) => runPgbench(w, p, opts.duration), opts.log);
  const hitRate = cache.seen ? (cache.hits + cache.misses > 0 ? `${fmt((cache.hits / (cache.hits + cache.misses)) * 100, 2)}% (${fmt(cache.hits)} hits, ${fmt(cache.misses)} misses)` : 'no lookups counted') : 'n/a (the gateway exports no analysis-cache metric)';

  opts.log(`pg: ${fmt(resultRows)}-row result`);
  const large = await largeResult(opts, targets, paths, resultRows, proxyPid);

  const analysis = await firstTimeAnalysisTable(opts.smoke ? 50 : 500);

  const shape = `-n -c ${CLIENTS} -j ${THREADS} ${opts.smoke ? `-t ${SMOKE_TRANSACTIONS}` : `-T ${opts.duration}`} -M simple|prepared [-S] -l --sampling-rate=${samplingRate}`;
  return {
    name: 'PostgreSQL',
    tables: [
      comparisonTable(`PostgreSQL: pgbench, ${CLIENTS} clients, scale ${scale}, ${opts.smoke ? `${SMOKE_TRANSACTIONS} transactions per client` : `${opts.duration} s`} per run, median of ${opts.rounds} interleaved round(s)`, pgbenchRows, [
        `analysis cache hit rate in the gateway over its pgbench runs: ${hitRate} (target > 99%)`,
        'targets (issue 8): select-only at least 0.9x pgbouncer, p99 at most 1.5x pgbouncer\'s',
      ]),
      large.table,
      analysis,
    ],
    setup: [
      `pgbench ${shape} (-S for select-only); p50/p99 from the per-transaction logs, ${samplingRate === 1 ? 'every transaction' : `a ${fmt(samplingRate * 100)}% sample`}; before each TPC-B-like run the harness vacuums branches and tellers and truncates history directly, as pgbench does without -n`,
      `direct: PostgreSQL on ${PG.host}:${PG.port}, no TLS on any path (PGSSLMODE=disable)`,
      `pgbouncer: ${bouncer?.describe ?? 'not installed: no peer row'}`,
      `Node.js TCP pipe (reference, pgbench only): ${pipe.describe}; what any Node.js proxy costs before it reads a byte`,
      `portcullis: its own process (node bin/portcullis.js start), log level info, recording and audit on (SQLite store), the token as the password; policy of the agent: rules read-only ({ match: { sql: { effect: [read] } }, then: allow }), pgbench's writes (effect write on public.pgbench_*, bounded), default deny; masks ${PG_MASKS.join(', ')}`,
      'proxy CPU/op: user + system CPU of pgbouncer or of the gateway process per transaction (or per query for the large result), from /proc',
      ...large.setup,
    ],
  };
};

/** One query returning `rows` rows, read whole with node-postgres in this process, for `duration` seconds per run. */
async function largeResult(opts: SectionOptions, targets: Record<string, PgTarget>, basePaths: readonly PathSpec[], rows: number, proxyPid: (key: string) => number | undefined): Promise<{ table: ReturnType<typeof comparisonTable>; setup: string[] }> {
  const paths: PathSpec[] = [
    ...basePaths.filter((p) => p.role === 'direct' || p.role === 'peer'),
    { key: 'portcullis-no-masks', label: 'portcullis, no masks', role: 'portcullis' },
    { key: 'portcullis', label: 'portcullis, 2 mask rules', role: 'portcullis' },
  ];
  const clients = new Map<string, pg.Client>();
  try {
    for (const p of paths) {
      const t = targets[p.key] as PgTarget;
      const client = new pg.Client({ host: t.host, port: t.port, user: t.user, database: t.database, ...(t.password !== undefined ? { password: t.password } : {}), ssl: false });
      client.on('error', () => undefined); // a server going away at the end
      await client.connect();
      clients.set(p.key, client);
    }
    const query = async (key: string): Promise<{ ms: number; bytes: number; rows: unknown[][] }> => {
      const client = clients.get(key) as pg.Client;
      const socket = (client as unknown as { connection: { stream: Socket } }).connection.stream;
      const before = socket.bytesRead;
      const t0 = process.hrtime.bigint();
      const r = await client.query<unknown[]>({ text: CUSTOMERS_QUERY, rowMode: 'array' });
      return { ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes: socket.bytesRead - before, rows: r.rows };
    };

    // Checks (and a warm-up): the same rows on every path, the masks applied through Portcullis.
    const baseline = await query('direct');
    if (baseline.rows.length !== rows) throw new Error(`pg: the large result has ${baseline.rows.length} rows, not ${rows}`);
    const clear = JSON.stringify(baseline.rows.slice(0, 50));
    for (const p of paths.slice(1)) {
      const r = await query(p.key);
      if (r.rows.length !== rows) throw new Error(`pg: ${p.label} returned ${r.rows.length} rows`);
      if (p.key === 'portcullis') {
        const leaks = r.rows.filter((row, i) => row[3] !== '****' || row[2] === baseline.rows[i]?.[2]);
        if (leaks.length > 0) throw new Error(`pg: ${p.label} left ${leaks.length} rows unmasked, e.g. ${JSON.stringify(leaks[0])}`);
      } else if (JSON.stringify(r.rows.slice(0, 50)) !== clear) {
        throw new Error(`pg: ${p.label} returned other rows than direct`);
      }
    }

    const workload = { name: `${fmt(rows)} rows (${fmt(baseline.bytes / 1e6, 1)} MB)`, unit: 'rows/s' };
    const table = comparisonTable(
      `PostgreSQL: one query returning ${fmt(rows)} rows, read whole by node-postgres, ${opts.duration} s per run, median of ${opts.rounds} interleaved round(s)`,
      await interleave(
        opts.rounds,
        [workload],
        paths,
        async (_w, p) => {
          const pid = proxyPid(p.key);
          const cpu0 = pid !== undefined ? cpuSeconds(pid) : undefined;
          const times: number[] = [];
          const until = Date.now() + (opts.smoke ? 0 : opts.duration * 1000);
          do times.push((await query(p.key)).ms);
          while (Date.now() < until);
          const cpu1 = pid !== undefined ? cpuSeconds(pid) : undefined;
          const total = times.reduce((a, b) => a + b, 0);
          return {
            throughput: (rows * times.length) / (total / 1000),
            p50: median(times),
            ...(times.length >= 20 ? { p99: percentile(times, 99) } : {}),
            ...(cpu0 !== undefined && cpu1 !== undefined ? { proxyCpuPerOp: ((cpu1 - cpu0) * 1e6) / times.length } : {}),
          };
        },
        opts.log,
      ),
      ['p50/p99: time of one whole query (p99 only with 20 queries or more in a run); proxy CPU/op: per query'],
    );
    return {
      table,
      setup: [`large result: \`${CUSTOMERS_QUERY}\` (${fmt(rows)} rows, ${fmt(baseline.bytes / 1e6, 1)} MB as text on the wire), node-postgres in the harness process, rowMode array, one connection per path, repeated for the run's duration; checked once per path (same rows; through Portcullis every ssn redacted and every email masked)`],
    };
  } finally {
    await Promise.all([...clients.values()].map((c) => c.end().catch(() => undefined)));
  }
}

