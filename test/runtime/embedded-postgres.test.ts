// The embedded demo database: PGlite served over TCP, reached here directly (node-postgres,
// raw sockets and psql), without the gateway in front.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres, type EmbeddedPostgresConfig } from '../../src/runtime/embedded-postgres.ts';
import { DEMO_CUSTOMERS } from '../../src/runtime/embedded-postgres-seed.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { tempDir } from '../support/tmp.ts';

const run = promisify(execFile);

function luhn(digits: string): boolean {
  let sum = 0;
  [...digits].reverse().forEach((ch, i) => {
    let d = Number(ch);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  });
  return /^\d{13,19}$/.test(digits) && sum % 10 === 0;
}

function collectingLogger(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger('info', { write: (line: string) => void lines.push(line) }), lines };
}

async function client(port: number, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 10_000, ...extra });
  await c.connect();
  return c;
}

async function psql(port: number, sql: string): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await run('psql', ['-XAtq', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql], {
      env: { ...process.env, PGSSLMODE: 'prefer', PGCONNECT_TIMEOUT: '10' },
    });
    return { ok: true, out: r.stdout.trim() };
  } catch (err) {
    return { ok: false, out: (err as { stderr?: string }).stderr ?? String(err) };
  }
}

const closed = (s: Socket): Promise<void> => new Promise((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));

describe('embedded demo database', () => {
  const dataDir = join(tempDir('pcs-demo-pg-'), 'nested', 'demo-pg');
  const cfg: EmbeddedPostgresConfig = { listen: '127.0.0.1:0', data_dir: dataDir, queue_timeout: 1 };
  let demo: EmbeddedPostgres;
  let firstLog: string[];

  before(async () => {
    const { logger, lines } = collectingLogger();
    firstLog = lines;
    demo = await startEmbeddedPostgres(cfg, logger);
  });
  after(async () => {
    await demo.close();
  });

  it('creates and seeds the database on first start, logging progress', () => {
    assert.equal(demo.host, '127.0.0.1');
    assert.ok(demo.port > 0, 'port 0 becomes the bound port');
    const messages = firstLog.map((l) => (JSON.parse(l) as { msg: string }).msg);
    assert.ok(messages.some((m) => /creating it \(first start/.test(m)), messages.join('\n'));
    assert.ok(messages.some((m) => /seeded public\.customers and public\.orders/.test(m)));
    assert.ok(messages.some((m) => /ready$/.test(m)));
  });

  it('serves the seed to node-postgres: customers, orders, Luhn-valid test card numbers', async () => {
    const c = await client(demo.port);
    try {
      const customers = (await c.query<{ id: number; name: string; email: string; card_number: string; country: string }>('SELECT id, name, email, card_number, country FROM public.customers ORDER BY id')).rows;
      assert.equal(customers.length, DEMO_CUSTOMERS.length);
      assert.ok(customers.length >= 20);
      for (const row of customers) {
        assert.ok(luhn(row.card_number), `${row.card_number} passes the Luhn check`);
        assert.match(row.email, /^[a-z.]+@example\.(com|org)$/);
        assert.match(row.country, /^[A-Z]{2}$/);
      }
      assert.equal(new Set(customers.map((r) => r.card_number)).size, customers.length, 'distinct card numbers');
      assert.ok(customers.some((r) => r.card_number === '4242424242424242'));
      const orders = await c.query<{ n: string; customers: string; orphans: string }>(
        'SELECT count(*) AS n, count(DISTINCT customer_id) AS customers, count(*) FILTER (WHERE c.id IS NULL) AS orphans FROM public.orders o LEFT JOIN public.customers c ON c.id = o.customer_id',
      );
      assert.deepEqual(orders.rows[0], { n: '36', customers: '20', orphans: '0' });
      const fk = await c.query<{ n: string }>(`SELECT count(*) AS n FROM pg_constraint WHERE conrelid = 'public.orders'::regclass AND contype = 'f'`);
      assert.equal(fk.rows[0]?.n, '1', 'orders references customers');
      // A new customer gets the next id (the identity sequence follows the seeded ids).
      const added = await c.query<{ id: number }>(`INSERT INTO customers (name, email, card_number, country) VALUES ('Test Person', 'test.person@example.com', '4000000000003220', 'US') RETURNING id`);
      assert.equal(added.rows[0]?.id, customers.length + 1);
    } finally {
      await c.end();
    }
  });

  it('trusts any user, password and database name (the session is always postgres/postgres)', async () => {
    const c = await client(demo.port, { user: 'whoever', password: 'anything', database: 'nope' });
    try {
      const r = await c.query<{ u: string; d: string }>('SELECT current_user AS u, current_database() AS d');
      assert.deepEqual(r.rows[0], { u: 'postgres', d: 'postgres' });
    } finally {
      await c.end();
    }
  });

  it('serves psql (SSLRequest answered N with sslmode=prefer)', async (t) => {
    const version = await run('psql', ['--version']).catch(() => undefined);
    if (!version) return t.skip('psql is not installed');
    const r = await psql(demo.port, 'SELECT count(*) FROM customers; SELECT email FROM customers WHERE id = 1');
    assert.ok(r.ok, r.out);
    assert.equal(r.out, '21\njohn.doe@example.com');
  });

  it('serves one session at a time: a second client waits, then gets SQLSTATE 53300', async () => {
    const first = await client(demo.port);
    try {
      const started = Date.now();
      await assert.rejects(client(demo.port), (err: Error & { code?: string }) => {
        assert.equal(err.code, '53300');
        assert.match(err.message, /serves one session at a time/);
        return true;
      });
      const waited = Date.now() - started;
      assert.ok(waited >= 900 && waited < 5000, `waited ${waited} ms for queue_timeout 1 s`);
      const viaPsql = await psql(demo.port, 'SELECT 1');
      assert.equal(viaPsql.ok, false);
      assert.match(viaPsql.out, /serves one session at a time/);
      // The first session is unaffected.
      assert.equal((await first.query<{ n: number }>('SELECT 1 AS n')).rows[0]?.n, 1);
    } finally {
      await first.end();
    }
  });

  it('lets a waiting client in when the session ends, with no state left over', async () => {
    const first = await client(demo.port);
    first.on('error', () => {}); // its connection is cut below on purpose
    await first.query(`SET application_name = 'first'`);
    await first.query('CREATE TEMP TABLE scratch (x int)');
    await first.query('PREPARE p AS SELECT 1');
    await first.query('BEGIN');
    await first.query(`INSERT INTO customers (name, email, card_number, country) VALUES ('Uncommitted', 'uncommitted@example.com', '4000000000000002', 'US')`);
    const second = client(demo.port);
    await new Promise((r) => setTimeout(r, 200));
    // Drop the connection mid-transaction, as a crashed client would.
    (first as unknown as { connection: { stream: Socket } }).connection.stream.destroy();
    const c = await second;
    try {
      const r = await c.query<{ app: string; temp: string | null; prepared: string; uncommitted: string }>(
        `SELECT current_setting('application_name') AS app, to_regclass('pg_temp.scratch')::text AS temp,
                (SELECT count(*) FROM pg_prepared_statements) AS prepared,
                (SELECT count(*) FROM customers WHERE name = 'Uncommitted') AS uncommitted`,
      );
      assert.deepEqual(r.rows[0], { app: '', temp: null, prepared: '0', uncommitted: '0' });
      // A CancelRequest does not queue behind the session: it is answered by closing at once.
      const cancel = connect(demo.port, '127.0.0.1');
      const packet = Buffer.alloc(16);
      packet.writeInt32BE(16, 0);
      packet.writeInt32BE(80877102, 4);
      cancel.end(packet);
      const t0 = Date.now();
      await closed(cancel);
      assert.ok(Date.now() - t0 < 500);
    } finally {
      await c.end();
    }
  });

  it('refuses COPY FROM STDIN (it would abort PGlite) and keeps serving', async () => {
    const c = await client(demo.port);
    const errors: Error[] = [];
    c.on('error', (err) => void errors.push(err));
    await assert.rejects(c.query(`COPY orders (customer_id, amount, currency, status) FROM STDIN`), (err: Error & { code?: string }) => {
      assert.equal(err.code, '0A000');
      assert.match(err.message, /not supported by the embedded demo database/);
      return true;
    });
    await c.end().catch(() => undefined);
    const next = await client(demo.port);
    try {
      assert.equal((await next.query<{ n: string }>('SELECT count(*) AS n FROM orders')).rows[0]?.n, '36');
      // COPY TO STDOUT is served.
      await next.query('COPY (SELECT 1) TO STDOUT');
    } finally {
      await next.end();
    }
  });

  it('answers a non-PostgreSQL client with a protocol error instead of hanging', async () => {
    const s = connect(demo.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed(s);
    assert.match(Buffer.concat(chunks).toString('latin1'), /08P01/);
  });

  it('a second server on the same address fails fast with PCS_LISTEN_FAILED, before opening data_dir', async () => {
    const t0 = Date.now();
    await assert.rejects(startEmbeddedPostgres({ ...cfg, listen: `127.0.0.1:${demo.port}` }, createLogger('silent')), { code: 'PCS_LISTEN_FAILED', message: /address already in use/ });
    assert.ok(Date.now() - t0 < 1000);
  });

  it('restarts on the same data_dir with the data kept and no second seed; close() releases the port', async () => {
    const oldPort = demo.port;
    await demo.close();
    await demo.close(); // idempotent
    // The port is free again.
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(oldPort, '127.0.0.1', () => probe.close(() => resolve()));
    });

    const { logger, lines } = collectingLogger();
    const t0 = Date.now();
    demo = await startEmbeddedPostgres({ ...cfg, listen: `127.0.0.1:${oldPort}` }, logger);
    const reopenMs = Date.now() - t0;
    assert.equal(demo.port, oldPort);
    const messages = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    assert.ok(messages.some((m) => /opening it$/.test(m)), messages.join('\n'));
    assert.ok(!messages.some((m) => /seeded/.test(m)), 'not seeded again');
    const c = await client(demo.port);
    try {
      const r = await c.query<{ n: string; test: string }>(`SELECT count(*) AS n, count(*) FILTER (WHERE name = 'Test Person') AS test FROM customers`);
      assert.deepEqual(r.rows[0], { n: String(DEMO_CUSTOMERS.length + 1), test: '1' });
    } finally {
      await c.end();
    }
    assert.ok(reopenMs < 15_000, `reopened in ${reopenMs} ms`);
  });
});
