// psql through the gateway: simple queries, multi-statement strings, \d, \copy, denials,
// TLS, cancel, and the startup errors an agent can meet.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:net';
import pg from 'pg';
import { adminSql, createDatabase, dropDatabase, eventually, psql, recordedEvents, standardConfig, startPgGateway, type PgGateway } from './support.ts';

describe('postgres adapter with psql', () => {
  let db: string;
  let gw: PgGateway;
  let agent: string;
  let dba: string;

  before(async () => {
    db = await createDatabase();
    await adminSql('CREATE TABLE public.orders (id int primary key, item text); INSERT INTO orders VALUES (1, $$apple$$), (2, $$pear$$);', db);
    gw = await startPgGateway(standardConfig(db));
    agent = await gw.t.token('agent-bot', ['agents']);
    dba = await gw.t.token('alice', ['dba']);
  });

  after(async () => {
    await gw?.stop();
    if (db) await dropDatabase(db);
  });

  it('runs an allowed query and records it', async () => {
    const r = await psql(gw, agent, ['-Atc', 'select count(*) from orders']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '2');
    await eventually(async () => (await recordedEvents(gw, 'statement')).some((e) => e.data.text === 'select count(*) from orders' && e.data.rows === 1));
    const [event] = (await recordedEvents(gw, 'statement')).filter((e) => e.data.text === 'select count(*) from orders');
    assert.equal(event?.data.verdict, 'allow');
    assert.equal(event?.data.tag, 'SELECT 1');
    assert.equal(typeof event?.data.duration_ms, 'number');
  });

  it('runs a multi-statement string', async () => {
    const r = await psql(gw, agent, ['-Atc', 'select 1; select item from orders where id = 2']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['1', 'pear']);
  });

  it('denies a write with 42501 and the backend never sees it', async () => {
    const r = await psql(gw, agent, ['-c', 'delete from orders']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ERROR: {2}denied by policy agents-read-only, rule 2: agents may only read/);
    assert.equal(await adminSql('select count(*) from orders', db), '2');
    const denied = await recordedEvents(gw, 'denied');
    assert.ok(denied.some((e) => e.data.text === 'delete from orders' && e.data.verdict === 'deny' && e.data.sqlstate === '42501'));
  });

  it('denies a whole multi-statement string when one statement is denied', async () => {
    const r = await psql(gw, agent, ['-c', 'select 1; insert into orders values (3, $$fig$$)']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /statement 2 of 2/);
    assert.equal(await adminSql('select count(*) from orders', db), '2');
  });

  it('answers a deferred review with the review to approve', async () => {
    const r = await psql(gw, agent, ['-c', 'truncate orders']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /review r-[0-9a-f]+ created: this needs approval by dbas .*run the same statement again once it is approved \(PCS_REVIEW_PENDING\)/);
  });

  it('describes relations with \\d', async () => {
    const r = await psql(gw, agent, ['-c', '\\d']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /orders/);
  });

  it('copies in and out with \\copy', async () => {
    const into = await psql(gw, dba, ['-c', '\\copy orders from stdin'], { input: '10\tkiwi\n11\tplum\n\\.\n' });
    assert.equal(into.code, 0, into.stderr);
    const out = await psql(gw, agent, ['-c', '\\copy (select id, item from orders where id >= 10 order by id) to stdout']);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, '10\tkiwi\n11\tplum\n');
    await adminSql('delete from orders where id >= 10', db);
  });

  it('works over TLS with the generated certificate', async () => {
    const r = await psql(gw, agent, ['-Atc', 'select 42'], { sslmode: 'require' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '42');
  });

  it('cancels a running query through a CancelRequest', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'agent', password: agent });
    await client.connect();
    try {
      const started = Date.now();
      const sleeping = client.query('select pg_sleep(30)').then(
        () => assert.fail('the query should have been cancelled'),
        (err: { code?: string }) => err.code,
      );
      await new Promise((r) => setTimeout(r, 300));
      // What libpq and pg do: a new connection carrying the BackendKeyData this session got.
      const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
      await sendCancelRequest(gw.port, processID, secretKey);
      assert.equal(await sleeping, '57014');
      assert.ok(Date.now() - started < 10_000);
      const again = await client.query('select 1 as one');
      assert.equal(again.rows[0]?.one, 1);
    } finally {
      await client.end();
    }
  });

  it('refuses a wrong token with 28P01', async () => {
    const r = await psql(gw, 'not-a-token', ['-c', 'select 1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /FATAL: {2}the identity token is not a well-formed JWT \(PCS_AUTH_TOKEN_MALFORMED\)/);
  });

  it('refuses a revoked token', async () => {
    const issued = await gw.t.gw.services.localIssuer.issue({ subject: 'gone', groups: ['agents'], roles: [], issuedBy: 'test' });
    await gw.t.gw.services.localIssuer.revoke(issued.jti, 'test');
    const r = await psql(gw, issued.token, ['-c', 'select 1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /has been revoked \(PCS_AUTH_TOKEN_REVOKED\)/);
  });

  it('refuses an unknown connection name with 3D000', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'nope', user: 'agent', password: agent });
    await assert.rejects(client.connect(), (err: { code?: string; message: string }) => err.code === '3D000' && /no connection named nope/.test(err.message));
  });

  it('reports an upstream that is down with 08006 and keeps serving', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'down-db', user: 'agent', password: agent });
    await assert.rejects(client.connect(), (err: { code?: string; message: string }) => err.code === '08006' && /connection down-db cannot be reached/.test(err.message));
    const r = await psql(gw, agent, ['-Atc', 'select 1']);
    assert.equal(r.code, 0, r.stderr);
  });

  it('counts open sessions in the metrics gauge', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'agent', password: agent });
    await client.connect();
    const metric = await gw.t.gw.metrics.sessions.get();
    assert.ok(metric.values.some((v) => v.labels.protocol === 'postgres' && v.value >= 1));
    await client.end();
  });
});

describe('postgres listener requiring TLS', () => {
  let db: string;
  let gw: PgGateway;
  let agent: string;

  before(async () => {
    db = await createDatabase();
    gw = await startPgGateway(`${standardConfig(db)}
protocols: { postgres: { require_tls: true } }
`);
    agent = await gw.t.token('agent-bot', ['agents']);
  });

  after(async () => {
    await gw?.stop();
    if (db) await dropDatabase(db);
  });

  it('refuses a plaintext startup with 08P01', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'agent', password: agent });
    await assert.rejects(client.connect(), (err: { code?: string; message: string }) => err.code === '08P01' && /requires TLS/.test(err.message));
  });

  it('accepts TLS', async () => {
    const r = await psql(gw, agent, ['-Atc', 'select 7'], { sslmode: 'require' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '7');
  });
});

describe('postgres listener refusing cleartext tokens', () => {
  let db: string;
  let gw: PgGateway;

  before(async () => {
    db = await createDatabase();
    gw = await startPgGateway(`${standardConfig(db)}
protocols: { postgres: { cleartext_password: never } }
`);
  });

  after(async () => {
    await gw?.stop();
    if (db) await dropDatabase(db);
  });

  it('asks for TLS before taking the token (28000)', async () => {
    const agent = await gw.t.token('agent-bot', ['agents']);
    const client = new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'agent', password: agent });
    await assert.rejects(client.connect(), (err: { code?: string; message: string }) => err.code === '28000' && /without TLS/.test(err.message));
    const r = await psql(gw, agent, ['-Atc', 'select 1'], { sslmode: 'require' });
    assert.equal(r.code, 0, r.stderr);
  });
});

function sendCancelRequest(port: number, pid: number, secret: number): Promise<void> {
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(pid, 8);
  packet.writeInt32BE(secret, 12);
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.end(packet));
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}
