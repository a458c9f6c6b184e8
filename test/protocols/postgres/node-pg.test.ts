// node-postgres through the gateway: parameterised queries, a pool, a denied statement
// inside a transaction, and the exact order of responses in a pipeline with a denied Parse.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { FrameCollector, rawSession } from './raw.ts';
import { adminSql, createDatabase, dropDatabase, eventually, recordedEvents, standardConfig, startPgGateway, type PgGateway } from './support.ts';

describe('postgres adapter with node-postgres', () => {
  let db: string;
  let gw: PgGateway;
  let agent: string;

  const client = (password = agent): pg.Client => new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'agent', password });

  before(async () => {
    db = await createDatabase();
    await adminSql('CREATE TABLE orders (id int primary key, item text, photo bytea); INSERT INTO orders SELECT g, $$item $$ || g, null FROM generate_series(1, 50) g;', db);
    gw = await startPgGateway(standardConfig(db));
    agent = await gw.t.token('agent-bot', ['agents']);
  });

  after(async () => {
    await gw?.stop();
    if (db) await dropDatabase(db);
  });

  it('runs parameterised queries and records their parameters (binary hex-prefixed)', async () => {
    const c = client();
    await c.connect();
    try {
      const r = await c.query('select item from orders where id = $1', [7]);
      assert.equal(r.rows[0]?.item, 'item 7');
      const b = await c.query('select $1::bytea as photo, $2::text as nothing', [Buffer.from([0xde, 0xad]), null]);
      assert.deepEqual(b.rows[0]?.photo, Buffer.from([0xde, 0xad]));
    } finally {
      await c.end();
    }
    await eventually(async () => (await recordedEvents(gw, 'statement')).some((e) => e.data.text === 'select item from orders where id = $1'));
    const events = await recordedEvents(gw, 'statement');
    const first = events.find((e) => e.data.text === 'select item from orders where id = $1');
    assert.deepEqual(first?.data.params, ['7']);
    assert.equal(first?.data.protocol, 'extended');
    assert.equal(first?.data.rows, 1);
    // A Buffer parameter travels in binary format: recorded as \x hex, never decoded as text.
    const second = events.find((e) => String(e.data.text).startsWith('select $1::bytea'));
    assert.deepEqual(second?.data.params, ['\\xdead', null]);
  });

  it('serves a pool of concurrent clients', async () => {
    const pool = new pg.Pool({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'agent', password: agent, max: 5 });
    try {
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => pool.query('select id from orders where id = $1', [(i % 50) + 1])));
      results.forEach((r, i) => assert.equal(r.rows[0]?.id, (i % 50) + 1));
    } finally {
      await pool.end();
    }
  });

  it('aborts a transaction on a denied statement: 25P02 afterwards, ROLLBACK works', async () => {
    const c = client();
    await c.connect();
    try {
      await c.query('begin');
      await c.query('select 1');
      await assert.rejects(c.query('update orders set item = $1 where id = 1', ['x']), (err: { code?: string; message: string }) => err.code === '42501' && /denied by policy agents-read-only/.test(err.message));
      await assert.rejects(c.query('select 1'), (err: { code?: string }) => err.code === '25P02');
      await c.query('rollback');
      const r = await c.query('select item from orders where id = 1');
      assert.equal(r.rows[0]?.item, 'item 1');
    } finally {
      await c.end();
    }
  });

  it('refuses a later Bind of a denied named statement', async () => {
    const c = client();
    await c.connect();
    try {
      await assert.rejects(c.query({ name: 'wipe', text: 'delete from orders where id = $1', values: [1] }), (err: { code?: string }) => err.code === '42501');
      // pg now skips Parse (it believes 'wipe' is prepared) and sends only Bind/Execute.
      await assert.rejects(c.query({ name: 'wipe', text: 'delete from orders where id = $1', values: [2] }), (err: { code?: string; message: string }) => err.code === '42501' && /denied by policy/.test(err.message));
      assert.equal((await c.query('select count(*)::int as n from orders')).rows[0]?.n, 50);
    } finally {
      await c.end();
    }
  });

  it('keeps pipelined responses in order around a denied Parse', async () => {
    const socket = await rawSession(gw.port, agent);
    const frames = new FrameCollector(socket);
    socket.write(
      Buffer.concat([
        serialize.parse({ name: 'a', text: 'select 1', types: [] }),
        serialize.bind({ statement: 'a', portal: '', values: [] }),
        serialize.execute({ portal: '' }),
        serialize.parse({ name: 'b', text: 'delete from orders', types: [] }),
        serialize.bind({ statement: 'b', portal: '', values: [] }),
        serialize.execute({ portal: '' }),
        serialize.parse({ name: 'c', text: 'select 2', types: [] }),
        serialize.sync(),
        serialize.parse({ name: 'd', text: 'select 3', types: [] }),
        serialize.bind({ statement: 'd', portal: '', values: [] }),
        serialize.execute({ portal: '' }),
        serialize.sync(),
      ]),
    );
    const seen = await frames.until((types) => types.filter((t) => t === 'Z').length === 2);
    assert.deepEqual(seen.map((f) => f.type), ['1', '2', 'D', 'C', 'E', 'Z', '1', '2', 'D', 'C', 'Z']);
    const error = seen[4];
    assert.match(error?.body.toString() ?? '', /C42501/);
    assert.match(error?.body.toString() ?? '', /denied by policy agents-read-only/);
    assert.equal(seen[5]?.body[0], 0x49 /* I */);
    socket.end(serialize.end());
  });
});

describe('postgres adapter session state and shutdown', () => {
  let db: string;
  let gw: PgGateway;
  let agent: string;

  before(async () => {
    db = await createDatabase();
    await adminSql('CREATE SCHEMA other; CREATE TABLE other.things (id int); INSERT INTO other.things VALUES (1);', db);
    gw = await startPgGateway(standardConfig(db));
    agent = await gw.t.token('agent-bot', ['agents']);
  });

  after(async () => {
    await gw?.stop();
    if (db) await dropDatabase(db);
  });

  it('follows SET search_path and keeps serving queries after it', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'agent', password: agent });
    await c.connect();
    try {
      await c.query('set search_path = other, public');
      // Pipelined behind the SET: held until the new path is known, then decided and run.
      const [a, b] = await Promise.all([c.query('select count(*)::int as n from things'), c.query('select current_schema() as s')]);
      assert.equal(a.rows[0]?.n, 1);
      assert.equal(b.rows[0]?.s, 'other');
    } finally {
      await c.end();
    }
  });

  it('ends open sessions with 57P01 at shutdown and records them as terminated', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'agent', password: agent });
    await c.connect();
    const failure = new Promise<string | undefined>((resolve) => c.on('error', (err: Error & { code?: string }) => resolve(err.code)));
    await c.query('select 1');
    const started = Date.now();
    await gw.stop();
    assert.equal(await failure, '57P01');
    assert.ok(Date.now() - started < 6_000);
    // The gateway's store is closed now: read the SQLite file directly.
    const store = new Database(join(gw.t.dir, 'portcullis.db'), { readonly: true });
    try {
      const rows = store.prepare("select status from sessions where protocol = 'postgres'").all() as { status: string }[];
      assert.ok(rows.some((r) => r.status === 'terminated'), JSON.stringify(rows));
    } finally {
      store.close();
    }
  });
});
