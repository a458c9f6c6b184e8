// End-to-end throughput of PostgreSQL results through the gateway's masking, next to the same
// result read directly and through pgbouncer. One table of `rows` realistic customers
// (`SELECT id, name, email, ssn, note FROM customers`) in a fresh database on the local
// PostgreSQL (127.0.0.1:5432, trust auth), read by:
//   (a) PostgreSQL directly,
//   (b) the gateway with a policy without masks (pass-through),
//   (c) the gateway with column masks (public.customers.email partial, *.*.ssn redact),
//   (d) the same plus content detectors (email, payment_card),
//   (e) pgbouncer (Debian's; pool_mode = session), skipped when it is not installed.
// Two clients: node-postgres in a child process (text format over the simple protocol; plus
// one binary-format run of (a) and (c) over the extended protocol), holding one connection
// and reading the whole result into rows; and `psql -X -c "..." > /dev/null`, spawned per run
// (its wall time, so connecting and authenticating included). Each case: one warm-up, then the
// median of `runs`, the cases interleaved round by round (a busy machine slows all alike). The
// gateway runs in this process with its recording and audit on, so this process's CPU time in
// a run is the gateway's own (the clients are other processes). MB/s counts the bytes the
// client received (pg's socket); psql's rows are the same bytes.
//
//   node --import tsx bench/masking-pg.ts [rows=100000] [runs=5]
//
// Needs psql and a local PostgreSQL; pgbouncer from `apt-get install -y pgbouncer`.
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { cleanupAll } from './lib/cleanup.ts';
import { CUSTOMERS_QUERY as SQL, customersSql } from './lib/customers.ts';
import { startPgbouncer, type Pgbouncer } from './lib/pgbouncer.ts';
import { adminSql, createDatabase } from './lib/postgres.ts';
import { commandExists, run } from './lib/proc.ts';

interface Target {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  readonly database: string;
}

interface RunRequest {
  readonly id: number;
  readonly key: string;
  readonly target: Target;
  readonly binary: boolean;
  readonly runs: number;
  /** Compare the rows with the baseline (or make this result the baseline). */
  readonly check: 'baseline' | 'compare' | 'none';
  /** Close every connection instead (before the servers stop). */
  readonly close?: boolean;
}

interface RunReply {
  readonly id: number;
  readonly error?: string;
  readonly seconds: number[];
  readonly bytes: number;
  readonly rows: number;
  readonly changedRows: number;
  readonly changedValues: number;
  readonly sample: unknown[];
}

// ---------------------------------------------------------------------------------------------
// The node-postgres client, in a child process so that it does not share the gateway's thread.

async function clientMain(): Promise<void> {
  const clients = new Map<string, pg.Client>();
  let baseline = new Map<unknown, unknown[]>();
  const send = (m: RunReply | { ready: true }): void => void process.send?.(m);
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: RunRequest) => {
    void (async () => {
      try {
        if (m.close === true) {
          await Promise.all([...clients.values()].map((c) => c.end().catch(() => undefined)));
          clients.clear();
          send({ id: m.id, seconds: [], bytes: 0, rows: 0, changedRows: 0, changedValues: 0, sample: [] });
          return;
        }
        let client = clients.get(m.key);
        if (client === undefined) {
          client = new pg.Client(m.target);
          client.on('error', () => undefined); // a server going away at the end
          await client.connect();
          clients.set(m.key, client);
        }
        const socket = (client as unknown as { connection: { stream: Socket } }).connection.stream;
        const seconds: number[] = [];
        let bytes = 0;
        let result: pg.QueryResult | undefined;
        // `binary` is a query option of pg that @types/pg does not declare.
        const query = { text: SQL, binary: m.binary };
        for (let r = 0; r < m.runs; r++) {
          const before = socket.bytesRead;
          const t0 = process.hrtime.bigint();
          result = await client.query(query);
          seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
          bytes = socket.bytesRead - before;
        }
        const rows = (result?.rows ?? []).map((row: Record<string, unknown>) => Object.values(row));
        let changedRows = 0;
        let changedValues = 0;
        if (m.check === 'baseline') baseline = new Map(rows.map((r) => [r[0], r]));
        if (m.check === 'compare') {
          for (const row of rows) {
            const clear = baseline.get(row[0]);
            let changed = clear === undefined ? row.length : 0;
            if (clear !== undefined) for (let i = 0; i < row.length; i++) if (row[i] !== clear[i]) changed++;
            changedValues += changed;
            if (changed > 0) changedRows++;
          }
        }
        send({ id: m.id, seconds, bytes, rows: rows.length, changedRows, changedValues, sample: rows[3] ?? [] });
      } catch (err) {
        send({ id: m.id, error: String(err), seconds: [], bytes: 0, rows: 0, changedRows: 0, changedValues: 0, sample: [] });
      }
    })();
  });
  send({ ready: true });
}

if (process.argv[2] === '--client') {
  await clientMain();
} else {
  // Whatever is still running or created at a failure or Ctrl-C (pgbouncer, the database, temp
  // folders) is undone by bench/lib/cleanup.ts.
  try {
    await main();
  } finally {
    await cleanupAll();
  }
}

// ---------------------------------------------------------------------------------------------
// The benchmark.

async function main(): Promise<void> {
  // Imported here so that the client process does not load the gateway.
  const { recordedEvents, startPgGateway } = await import('../test/protocols/postgres/support.ts');
  type PgGateway = Awaited<ReturnType<typeof startPgGateway>>;

  const ROWS = Number(process.argv[2] ?? 100_000);
  const RUNS = Number(process.argv[3] ?? 5);
  const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

  let db: string | undefined;
  let gw: PgGateway | undefined;
  let child: ChildProcess | undefined;
  let bouncer: Pgbouncer | undefined;
  try {
    // The data: realistic text, some notes with an email or a card number for the detectors.
    const t0 = Date.now();
    const load0 = loadavg()[0] ?? 0;
    db = await createDatabase('pcs');
    await adminSql(customersSql(ROWS), db);
    await adminSql('VACUUM ANALYZE customers', db);
    const size = await adminSql("SELECT pg_size_pretty(pg_total_relation_size('customers'))", db);

    // The gateway: one connection, a policy per case (chosen by the token's group).
    const read = '    rules:\n      - { match: { sql: { effect: [read] } }, then: allow }';
    const columnMasks = '      - { column: public.customers.email, with: partial }\n      - { column: "*.*.ssn", with: redact }';
    gw = await startPgGateway(`
connections:
  - { name: app-db, type: postgres, upstream: { host: 127.0.0.1, port: 5432, database: ${db}, user: postgres, tls: disable } }
policies:
  - name: pass-through
    subjects: { groups: [plain] }
    connections: [app-db]
${read}
  - name: column-masks
    subjects: { groups: [masked] }
    connections: [app-db]
    masks:
${columnMasks}
${read}
  - name: masks-and-detectors
    subjects: { groups: [detect] }
    connections: [app-db]
    masks:
${columnMasks}
      - { detector: email, with: partial }
      - { detector: payment_card, with: partial }
${read}
`);
    const gateway = (group: string) => async (): Promise<Target> => ({ host: '127.0.0.1', port: (gw as PgGateway).port, user: 'agent', password: await (gw as PgGateway).t.token(`bench-${group}`, [group]), database: 'app-db' });

    // pgbouncer, when installed: a throwaway ini on a free port, session pooling, no auth.
    let bouncerPort: number | undefined;
    let bouncerNote = '';
    if (!(await commandExists('pgbouncer'))) {
      bouncerNote = 'pgbouncer is not installed (apt-get install -y pgbouncer): (e) skipped';
    } else {
      try {
        bouncer = await startPgbouncer({ databases: [db], poolMode: 'session' });
        bouncerPort = bouncer.port;
        bouncerNote = `${bouncer.describe}, on 127.0.0.1:${bouncerPort}, auth_type = any`;
      } catch (err) {
        bouncerNote = `pgbouncer did not start: (e) skipped\n${err instanceof Error ? err.message : String(err)}`;
      }
    }
    const direct = async (): Promise<Target> => ({ host: '127.0.0.1', port: 5432, user: 'postgres', database: db as string });
    const viaBouncer = async (): Promise<Target> => ({ host: '127.0.0.1', port: bouncerPort as number, user: 'postgres', database: db as string });

    interface Case {
      readonly key: string;
      readonly label: string;
      readonly target: () => Promise<Target>;
      readonly gateway: boolean;
      readonly masked: boolean;
      readonly binary?: boolean;
    }
    const cases: Case[] = [
      { key: 'a', label: '(a) direct PostgreSQL', target: direct, gateway: false, masked: false },
      { key: 'b', label: '(b) gateway, no masks', target: gateway('plain'), gateway: true, masked: false },
      { key: 'c', label: '(c) gateway, column masks', target: gateway('masked'), gateway: true, masked: true },
      { key: 'd', label: '(d) gateway, columns + detectors', target: gateway('detect'), gateway: true, masked: true },
      ...(bouncerPort !== undefined ? [{ key: 'e', label: '(e) pgbouncer', target: viaBouncer, gateway: false, masked: false }] : []),
    ];
    const binaryCases: Case[] = [
      { key: 'a-bin', label: '(a) direct PostgreSQL, binary', target: direct, gateway: false, masked: false, binary: true },
      { key: 'c-bin', label: '(c) gateway, column masks, binary', target: gateway('masked'), gateway: true, masked: true, binary: true },
    ];

    // The node-postgres client process.
    child = fork(fileURLToPath(import.meta.url), ['--client'], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const replies = new Map<number, (r: RunReply) => void>();
    const ready = new Promise<void>((resolve) => child?.once('message', () => resolve()));
    child.on('message', (m: RunReply) => replies.get(m.id)?.(m));
    await ready;
    let nextId = 1;
    const ask = (req: Omit<RunRequest, 'id'>): Promise<RunReply> =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        replies.set(id, (r) => {
          replies.delete(id);
          if (r.error !== undefined) reject(new Error(`${req.key}: ${r.error}`));
          else resolve(r);
        });
        child?.send({ ...req, id });
      });

    interface Result {
      readonly c: Case;
      readonly seconds: number;
      readonly bytes: number;
      readonly rows: number;
      readonly changedRows: number;
      readonly changedValues: number;
      /** This process's CPU in a run (median), µs: the gateway's, when the case goes through it. */
      readonly cpuPerRun: number;
      readonly sample: unknown[];
      readonly recorded?: string;
    }

    const lastRecorded = async (): Promise<string> => {
      const events = await recordedEvents(gw as PgGateway, 'statement');
      const data = events.at(-1)?.data as { rows?: number; protocol?: string; masking?: { rows_changed: number; columns: { name: string; with: string }[] } } | undefined;
      if (data === undefined) return 'no recording';
      const cols = data.masking?.columns.map((c) => `${c.name}:${c.with}`).join(' ') ?? 'none';
      return `recorded: ${data.protocol}, ${fmt(data.rows ?? 0)} rows, ${fmt(data.masking?.rows_changed ?? 0)} rows changed, masked columns ${cols}`;
    };

    // Cases are interleaved (one run of each per round) so that a change in the machine's
    // load hits all of them alike; this process's CPU is taken around each run.
    const flush = async (c: Case): Promise<void> => {
      if (c.gateway) await (gw as PgGateway).t.gw.recorder.flush();
    };
    const cpuOf = (u: NodeJS.CpuUsage): number => u.user + u.system;

    const runPg = async (list: readonly Case[]): Promise<Result[]> => {
      const targets = new Map<string, Target>();
      const warm = new Map<string, RunReply>();
      for (const c of list) {
        const target = await c.target();
        targets.set(c.key, target);
        warm.set(c.key, await ask({ key: c.key, target, binary: c.binary === true, runs: 1, check: c.key === 'a' ? 'baseline' : 'compare' }));
      }
      const seconds = new Map<string, number[]>(list.map((c) => [c.key, []]));
      const cpus = new Map<string, number[]>(list.map((c) => [c.key, []]));
      const last = new Map<string, RunReply>();
      for (let r = 0; r < RUNS; r++) {
        for (const c of list) {
          const cpu0 = process.cpuUsage();
          const reply = await ask({ key: c.key, target: targets.get(c.key) as Target, binary: c.binary === true, runs: 1, check: 'none' });
          await flush(c);
          cpus.get(c.key)?.push(cpuOf(process.cpuUsage(cpu0)));
          seconds.get(c.key)?.push(reply.seconds[0] as number);
          last.set(c.key, reply);
        }
      }
      const out: Result[] = [];
      for (const c of list) {
        const w = warm.get(c.key) as RunReply;
        const l = last.get(c.key) as RunReply;
        out.push({
          c,
          seconds: median(seconds.get(c.key) ?? []),
          bytes: l.bytes,
          rows: l.rows,
          changedRows: w.changedRows,
          changedValues: w.changedValues,
          cpuPerRun: median(cpus.get(c.key) ?? []),
          sample: w.sample,
        });
      }
      return out;
    };

    const psqlArgs = (t: Target): string[] => [`host=${t.host} port=${t.port} dbname=${t.database} user=${t.user} sslmode=disable`, '-X', '-c', SQL];
    const runPsql = async (list: readonly Case[], pgResults: readonly Result[]): Promise<Result[]> => {
      const once = async (c: Case, target: Target): Promise<number> => {
        const env = target.password !== undefined ? { PGPASSWORD: target.password } : {};
        const devNull = openSync('/dev/null', 'w');
        try {
          const r = await run('psql', psqlArgs(target), { env, stdoutFd: devNull, timeoutMs: 120_000 });
          if (r.code !== 0) throw new Error(`psql for ${c.label} exited ${String(r.code)}: ${r.stderr}`);
          return r.seconds;
        } finally {
          closeSync(devNull);
        }
      };
      const targets = new Map<string, Target>();
      for (const c of list) {
        const target = await c.target();
        targets.set(c.key, target);
        await once(c, target);
      }
      const seconds = new Map<string, number[]>(list.map((c) => [c.key, []]));
      const cpus = new Map<string, number[]>(list.map((c) => [c.key, []]));
      const recorded = new Map<string, string>();
      for (let r = 0; r < RUNS; r++) {
        for (const c of list) {
          const cpu0 = process.cpuUsage();
          seconds.get(c.key)?.push(await once(c, targets.get(c.key) as Target));
          await flush(c);
          cpus.get(c.key)?.push(cpuOf(process.cpuUsage(cpu0)));
          if (r === RUNS - 1 && c.gateway) recorded.set(c.key, await lastRecorded());
        }
      }
      // The same result as node-postgres read (text format), so the same bytes and masked rows.
      return list.map((c) => {
        const pgResult = pgResults.find((x) => x.c.key === c.key) as Result;
        const rec = recorded.get(c.key);
        return { ...pgResult, seconds: median(seconds.get(c.key) ?? []), cpuPerRun: median(cpus.get(c.key) ?? []), ...(rec !== undefined ? { recorded: rec } : {}) };
      });
    };

    const pgResults = await runPg(cases);
    const binResults = await runPg(binaryCases);
    const psqlResults = await runPsql(cases, pgResults);
    const seconds = ((Date.now() - t0) / 1000).toFixed(0);

    // The report.
    const header = `${'case'.padEnd(36)} ${'rows/s'.padStart(10)} ${'MB/s'.padStart(7)} ${'vs direct'.padStart(9)} ${'masked rows/s'.padStart(13)} ${'gateway CPU /100k rows'.padStart(22)}`;
    const table = (title: string, results: readonly Result[], base: Result): void => {
      console.log(`\n${title}`);
      console.log(header);
      for (const r of results) {
        const rowsPerSec = r.rows / r.seconds;
        const cpu = r.c.gateway ? `${fmt(((r.cpuPerRun / 1000) * 100_000) / r.rows)} ms` : '-';
        const masked = r.c.masked ? fmt(r.changedRows / r.seconds) : '-';
        console.log(`${r.c.label.padEnd(36)} ${fmt(rowsPerSec).padStart(10)} ${fmt(r.bytes / 1e6 / r.seconds, 1).padStart(7)} ${`${fmt((rowsPerSec / (base.rows / base.seconds)) * 100)}%`.padStart(9)} ${masked.padStart(13)} ${cpu.padStart(22)}`);
      }
    };
    const a = pgResults[0] as Result;
    console.log(`portcullis masking benchmark: ${fmt(ROWS)} rows (${size} on disk, ${fmt(a.bytes / 1e6, 1)} MB on the wire as text), medians of ${RUNS} runs per case (interleaved) after 1 warm-up`);
    console.log(`query: ${SQL}`);
    console.log(`machine: ${availableParallelism()} cores, 1-minute load average ${load0.toFixed(1)} at the start, ${(loadavg()[0] ?? 0).toFixed(1)} at the end`);
    console.log(`pgbouncer: ${bouncerNote}`);
    table('node-postgres (child process, one connection, text format, simple protocol; whole result read into rows)', pgResults, a);
    table('node-postgres, binary format (query config binary: true, extended protocol)', binResults, binResults[0] as Result);
    table('psql -X -c "<query>" > /dev/null (a new process and connection per run: wall time)', psqlResults, psqlResults[0] as Result);
    console.log(`\npsql command, e.g. (c): PGPASSWORD=<token> psql ${psqlArgs({ host: '127.0.0.1', port: gw.port, user: 'agent', database: 'app-db' }).map((s) => (s.includes(' ') ? `"${s}"` : s)).join(' ')} > /dev/null`);
    console.log('\nchecks (warm-up run of node-postgres against the direct result; the gateway\'s recording of its last psql run):');
    for (const r of [...pgResults, ...binResults]) {
      console.log(`  ${r.c.label.padEnd(36)} ${fmt(r.rows)} rows, ${fmt(r.changedRows)} rows / ${fmt(r.changedValues)} values differ from direct; row 4: ${JSON.stringify(r.sample)}`);
    }
    for (const r of psqlResults.filter((x) => x.recorded !== undefined)) console.log(`  ${r.c.label.padEnd(36)} ${r.recorded}`);
    console.log(`\ntotal ${seconds} s, data load included`);
    await ask({ key: '', target: await direct(), binary: false, runs: 0, check: 'none', close: true });
  } finally {
    child?.disconnect();
    await bouncer?.stop();
    if (gw !== undefined) {
      await gw.stop();
      rmSync(gw.t.dir, { recursive: true, force: true });
    }
  }
}
