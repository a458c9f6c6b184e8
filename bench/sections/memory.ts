// Memory: the gateway's resident memory (VmRSS of its process) with 1, 100 and 1000 idle
// PostgreSQL sessions, each logged in with the token and past one query, and the growth per
// session. The local server takes far fewer than 1000 connections (max_connections), so the
// gateway's upstream is pgbouncer in transaction pooling in front of it: the gateway still
// holds one client and one upstream connection per session, and the server only a few.
import pg from 'pg';
import { metricValue, startGatewayProcess } from '../lib/gateway.ts';
import { startPgbouncer } from '../lib/pgbouncer.ts';
import { adminSql, freeConnections, PG } from '../lib/postgres.ts';
import { ensureCommands } from '../lib/proc.ts';
import type { Section } from '../lib/section.ts';
import { fmt } from '../lib/stats.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { PG_MASKS } from './pg.ts';

const BATCH = 20;
const MiB = 1024;

export const memorySection: Section = async (opts) => {
  const missing = await ensureCommands({ psql: 'postgresql-client', pgbouncer: 'pgbouncer' }, opts.log);
  if (missing.length > 0) throw new Error(`${missing.join(', ')} needed (apt-get install -y postgresql-client pgbouncer)`);
  const server = await freeConnections();
  await adminSql('SELECT 1');
  const steps = opts.smoke ? [1, 10] : [1, 100, 1000];
  const most = steps[steps.length - 1] as number;
  const settleMs = opts.smoke ? 500 : 3000;

  const bouncer = await startPgbouncer({ databases: ['postgres'], poolMode: 'transaction', maxClientConn: most + 100, poolSize: 5 });
  const gw = await startGatewayProcess({
    listen: ['postgres'],
    yaml: `connections:
  - { name: idle-db, type: postgres, upstream: { host: 127.0.0.1, port: ${bouncer.port}, database: postgres, user: ${PG.user}, tls: disable } }
policies:
  - name: bench-agent
    subjects: { groups: [agents] }
    connections: [idle-db]
    masks:
${PG_MASKS.map((m) => `      - ${m}`).join('\n')}
    rules:
      - { match: { sql: { effect: [read] } }, then: allow }
      - { then: deny }
`,
    tokens: { agent: { subject: 'bench-agent', groups: ['agents'] } },
  });
  const port = gw.ports.get('postgres') as number;
  const rss = (): number => {
    const kib = gw.rssKiB();
    if (kib === undefined) throw new Error('memory: the gateway process is gone');
    return kib;
  };
  /** The gateway's own view, from /metrics: open PostgreSQL sessions, V8 heap in use, memory outside the heap (WASM, buffers), bytes. */
  const inside = async (): Promise<{ sessions: number | undefined; heap: number; external: number }> => {
    const text = await gw.metrics();
    return {
      sessions: metricValue(text, 'portcullis_sessions_active{protocol="postgres"}'),
      heap: metricValue(text, 'portcullis_nodejs_heap_size_used_bytes') ?? Number.NaN,
      external: metricValue(text, 'portcullis_nodejs_external_memory_bytes') ?? Number.NaN,
    };
  };
  const mib = (bytes: number): string => fmt(bytes / 2 ** 20, 1);

  const clients: pg.Client[] = [];
  try {
    await sleep(settleMs);
    const base = rss();
    const idle = await inside();
    const rows: string[][] = [['0', fmt(base / MiB, 1), '-', mib(idle.heap), '-', mib(idle.external), '-']];
    let previous = { sessions: 0, kib: base };
    let first: { sessions: number; kib: number; heap: number } | undefined;
    for (const target of steps) {
      const t0 = Date.now();
      const opening = target - clients.length;
      while (clients.length < target) {
        const batch = Array.from({ length: Math.min(BATCH, target - clients.length) }, async () => {
          const c = new pg.Client({ host: '127.0.0.1', port, user: 'agent', database: 'idle-db', password: gw.tokens.agent as string, ssl: false });
          c.on('error', () => undefined); // the gateway going away at the end
          clients.push(c);
          await c.connect();
          await c.query('SELECT 1');
        });
        await Promise.all(batch);
      }
      const loginsPerSecond = opening / ((Date.now() - t0) / 1000);
      await sleep(settleMs);
      const kib = rss();
      const seen = await inside();
      if (seen.sessions !== undefined && seen.sessions !== target) throw new Error(`memory: the gateway counts ${seen.sessions} open sessions, not ${target}`);
      first ??= { sessions: target, kib, heap: seen.heap };
      const since = target - first.sessions;
      rows.push([
        fmt(target),
        fmt(kib / MiB, 1),
        since > 0 ? `${fmt((kib - first.kib) / since, 1)} KiB` : '-',
        mib(seen.heap),
        since > 0 ? `${fmt((seen.heap - first.heap) / 1024 / since, 1)} KiB` : '-',
        mib(seen.external),
        fmt(loginsPerSecond),
      ]);
      opts.log(`  ${fmt(target)} idle sessions: ${fmt(kib / MiB, 1)} MiB resident, ${mib(seen.heap)} MiB of JS heap`);
      previous = { sessions: target, kib };
    }
    const last = previous.kib / MiB;
    return {
      name: 'Memory',
      tables: [
        {
          title: `Memory: gateway resident memory (VmRSS) with idle PostgreSQL sessions, read ${fmt(settleMs / 1000, 1)} s after the last login`,
          headers: ['idle sessions', 'RSS (MiB)', `RSS per session (since ${fmt(steps[0] as number)})`, 'JS heap used (MiB)', `heap per session (since ${fmt(steps[0] as number)})`, 'external (MiB)', 'logins/s'],
          align: ['r', 'r', 'r', 'r', 'r', 'r', 'r'],
          rows,
          notes: [`target (issue 8): ${fmt(1000)} idle sessions in under 300 MiB; this run: ${fmt(most)} sessions in ${fmt(last, 1)} MiB`],
        },
      ],
      setup: [
        `sessions: node-postgres clients in the harness process, ${BATCH} logging in at a time (the token as the password, no TLS), each running SELECT 1 once, then idle`,
        `upstream: PostgreSQL allows ${server.max} connections (${server.free} free at the start), too few for ${fmt(1000)} sessions, so the gateway connects to ${bouncer.describe}, in front of ${PG.host}:${PG.port}`,
        `portcullis: its own process (node bin/portcullis.js start: Node with the tsx loader), log level info, recording and audit on; policy: read-only, masks ${PG_MASKS.join(', ')}`,
        'a single measurement per step (no rounds): RSS includes whatever the garbage collector has not yet returned; JS heap used and external memory (ArrayBuffers, WASM memories) are the gateway\'s own figures from /metrics, which also confirms the number of open sessions',
      ],
    };
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
};
