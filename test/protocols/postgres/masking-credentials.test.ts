// The built-in credential masks on a real PostgreSQL (the gateway logs in as the superuser
// `postgres`, so pg_authid is readable): password verifiers and user-mapping options come back
// masked whatever the read policy and however the statement reaches them, predicates on them
// are refused, a policy's reveal_credentials lets them through, ordinary statements are left
// alone (no fail-closed masking where no credential relation is reached), and the superuser
// upstream role is warned about at start (or at the first session when the upstream was down).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { adminSql, createDatabase, dropDatabase, eventually, psql, startPgGateway, type PgGateway } from './support.ts';

const ROLE = `pcs_cred_${randomBytes(4).toString('hex')}`;
const MAPPING_PASSWORD = `mp-${randomBytes(6).toString('hex')}`;
const VERIFIER = /SCRAM-SHA-256\$|md5[0-9a-f]{32}/;

function config(db: string): string {
  return `
connections:
  - { name: app-db, type: postgres, upstream: { host: 127.0.0.1, port: 5432, database: ${db}, user: postgres, tls: disable } }
policies:
  - name: agents-read-only
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
      - { match: { sql: { effect: [read] } }, then: allow }
      - { then: deny, reason: agents may only read }
  - name: writers
    subjects: { groups: [writers] }
    connections: ["*"]
    rules:
      - { then: allow }
  - name: dba
    subjects: { groups: [dba] }
    connections: ["*"]
    reveal_credentials: [pg_catalog.pg_authid.rolpassword]
    rules:
      - { then: allow }
`;
}

describe('postgres built-in credential masks', () => {
  let db: string;
  let gw: PgGateway;
  let agent: string;
  let writer: string;
  let dba: string;
  let verifier: string;

  const client = (password: string): pg.Client => new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'agent', password });

  before(async () => {
    db = await createDatabase();
    await adminSql(`CREATE ROLE ${ROLE} LOGIN PASSWORD 'pw-${randomBytes(6).toString('hex')}'`);
    await adminSql(
      `CREATE FOREIGN DATA WRAPPER pcs_fdw; CREATE SERVER pcs_srv FOREIGN DATA WRAPPER pcs_fdw; ` +
        `CREATE USER MAPPING FOR postgres SERVER pcs_srv OPTIONS (user 'remote', password '${MAPPING_PASSWORD}'); ` +
        `CREATE VIEW public.creds AS SELECT rolname, rolpassword AS secret FROM pg_catalog.pg_authid; ` +
        `CREATE TABLE public.items (id int primary key, name text); INSERT INTO public.items VALUES (1, 'widget'); ` +
        `CREATE FUNCTION public.greeting() RETURNS text LANGUAGE sql STABLE AS $$SELECT 'hello'::text$$;`,
      db,
    );
    verifier = await adminSql(`SELECT rolpassword FROM pg_authid WHERE rolname = '${ROLE}'`);
    assert.match(verifier, VERIFIER, 'the test role has a stored verifier');
    gw = await startPgGateway(config(db));
    agent = await gw.t.token('agent-bot', ['agents']);
    writer = await gw.t.token('writer-bot', ['writers']);
    dba = await gw.t.token('dba-human', ['dba']);
  });

  after(async () => {
    await gw?.stop();
    if (db) await dropDatabase(db);
    await adminSql(`DROP ROLE IF EXISTS ${ROLE}`);
  });

  const clean = (out: string): void => {
    assert.ok(!VERIFIER.test(out) && !out.includes(verifier), `verifier leaked: ${out}`);
    assert.ok(!out.includes(MAPPING_PASSWORD), `user mapping password leaked: ${out}`);
  };

  it('masks the verifier, however a read-only agent selects it (node-postgres, simple and extended)', async () => {
    const c = client(agent);
    await c.connect();
    try {
      const cases: [string, string][] = [
        [`SELECT rolname, rolpassword FROM pg_authid WHERE rolname = '${ROLE}'`, 'rolpassword'],
        [`SELECT upper(rolpassword) AS v FROM pg_catalog.pg_authid WHERE rolname = '${ROLE}'`, 'v'],
        [`SELECT x FROM (SELECT rolname, rolpassword x FROM pg_authid) s WHERE s.rolname = '${ROLE}'`, 'x'],
        [`SELECT secret FROM creds WHERE rolname = '${ROLE}'`, 'secret'],
        [`SELECT * FROM pg_authid WHERE rolname = '${ROLE}'`, 'rolpassword'],
        [`SELECT passwd FROM pg_shadow WHERE usename = '${ROLE}'`, 'passwd'],
        [`WITH a AS (SELECT rolname, rolpassword FROM pg_authid) SELECT rolpassword || '' AS v FROM a WHERE rolname = '${ROLE}'`, 'v'],
      ];
      for (const [sql, column] of cases) {
        const simple = await c.query(sql);
        assert.equal(simple.rows.length, 1, sql);
        assert.equal(simple.rows[0]?.[column], '****', sql);
        // The extended protocol (Parse/Bind/Execute with a parameter) is masked the same way.
        const extended = await c.query({ text: sql.replace(`'${ROLE}'`, '$1'), values: [ROLE] });
        assert.equal(extended.rows[0]?.[column], '****', `${sql} (extended)`);
        clean(JSON.stringify([simple.rows, extended.rows]));
      }
      const all = await c.query('TABLE pg_authid');
      assert.ok(all.rows.length > 1);
      clean(JSON.stringify(all.rows));
      // What is not a credential stays: the role's name, and pg_roles' own placeholder.
      const roles = await c.query(`SELECT rolname, rolpassword FROM pg_roles WHERE rolname = $1`, [ROLE]);
      assert.deepEqual(roles.rows, [{ rolname: ROLE, rolpassword: '********' }]);
    } finally {
      await c.end();
    }
  });

  it('masks user mapping options; information_schema.user_mapping_options, one row per option, is refused', async () => {
    const r = await psql(gw, agent, ['-At', '-c', 'SELECT umoptions FROM pg_user_mappings', '-c', 'SELECT srvname, umoptions::text FROM pg_catalog.pg_user_mappings', '-c', 'SELECT umoptions::text FROM pg_catalog.pg_user_mapping']);
    assert.equal(r.code, 0, r.stderr);
    clean(r.stdout + r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['{"****"}', 'pcs_srv|****', '****']);
    // Its rows come from unnesting the options: their number is read from the protected column.
    const o = await psql(gw, agent, ['-At', '-c', 'SELECT option_value FROM information_schema.user_mapping_options']);
    assert.notEqual(o.code, 0);
    assert.match(o.stderr, /PCS_MASK_PREDICATE_DENIED/);
    clean(o.stdout + o.stderr);
  });

  it('masks COPY ... TO STDOUT, cursors, SQL-prepared statements and a moved search_path (psql)', async () => {
    const r = await psql(gw, agent, [
      '-At',
      '-c', `COPY (SELECT rolname, rolpassword FROM pg_authid WHERE rolname = '${ROLE}') TO STDOUT`,
      '-c', 'COPY pg_catalog.pg_authid TO STDOUT (FORMAT csv)',
      '-c', `BEGIN; DECLARE c CURSOR FOR SELECT rolpassword FROM pg_authid WHERE rolname = '${ROLE}'; FETCH ALL c; COMMIT`,
      '-c', `PREPARE p AS SELECT rolpassword FROM pg_authid WHERE rolname = '${ROLE}'`,
      '-c', 'EXECUTE p',
      '-c', `SET search_path = public, pg_catalog; SELECT rolpassword FROM pg_authid WHERE rolname = '${ROLE}'`,
    ]);
    // Through a view, read later by FETCH or EXECUTE, which name nothing.
    const v = await psql(gw, agent, ['-At', '-c', `BEGIN; DECLARE c CURSOR FOR SELECT secret FROM creds WHERE rolname = '${ROLE}'; FETCH ALL c; COMMIT`, '-c', `PREPARE q AS SELECT secret FROM creds WHERE rolname = '${ROLE}'`, '-c', 'EXECUTE q']);
    assert.equal(v.code, 0, v.stderr);
    clean(v.stdout + v.stderr);
    assert.equal(v.stdout.split('\n').filter((l) => l === '****').length, 2, v.stdout);
    assert.equal(r.code, 0, r.stderr);
    clean(r.stdout + r.stderr);
    assert.ok(r.stdout.includes(`${ROLE}\t****`), r.stdout);
    assert.ok(r.stdout.split('\n').filter((l) => l === '****').length >= 3, r.stdout);
  });

  it('refuses predicates on the verifier, and writes that would copy it', async () => {
    for (const sql of [`SELECT rolname FROM pg_authid WHERE rolpassword LIKE 'SCRAM%'`, 'SELECT count(*) FROM pg_authid WHERE rolpassword IS NOT NULL', 'SELECT rolname FROM pg_authid ORDER BY rolpassword', `SELECT rolname FROM creds WHERE secret LIKE 'SCRAM%'`]) {
      const r = await psql(gw, agent, ['-c', sql]);
      assert.notEqual(r.code, 0, sql);
      assert.match(r.stderr, /PCS_MASK_PREDICATE_DENIED/, sql);
      assert.match(r.stderr, /builtin:pg_catalog\.pg_authid\.rolpassword/, sql);
    }
    for (const sql of ['CREATE TABLE public.stolen AS SELECT rolpassword FROM pg_authid', `SELECT pg_notify('c', rolpassword) FROM pg_authid`]) {
      const r = await psql(gw, writer, ['-c', sql]);
      assert.notEqual(r.code, 0, sql);
      assert.match(r.stderr, /PCS_MASK_WRITE_REFUSED/, sql);
    }
  });

  it('lets the verifier through to a policy that reveals it, and only that column', async () => {
    const c = client(dba);
    await c.connect();
    try {
      const r = await c.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [ROLE]);
      assert.equal(r.rows[0]?.rolpassword, verifier);
      const p = await c.query(`SELECT rolname FROM pg_authid WHERE rolpassword LIKE 'SCRAM%' AND rolname = $1`, [ROLE]);
      assert.equal(p.rows.length, 1);
      const m = await c.query('SELECT umoptions::text AS o FROM pg_user_mappings');
      assert.equal(m.rows[0]?.o, '****');
    } finally {
      await c.end();
    }
  });

  it('leaves ordinary statements alone: no fail-closed masking where no credential relation is reached', async () => {
    const r = await psql(gw, agent, ['-At', '-c', 'SELECT 1', '-c', 'SELECT name FROM items', '-c', 'SELECT public.greeting()', '-c', 'BEGIN; DECLARE k CURSOR FOR SELECT name FROM items; FETCH ALL k; COMMIT', '-c', `SELECT rolname FROM pg_roles WHERE rolname = '${ROLE}'`, '-c', 'SELECT count(*) > 0 FROM pg_stat_activity WHERE pid = pg_backend_pid()', '-c', 'SELECT usename IS NOT NULL, state FROM pg_stat_activity WHERE pid = pg_backend_pid()', '-c', "COPY items TO STDOUT (FORMAT csv, ENCODING 'LATIN1')"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').filter((l) => !/^(BEGIN|COMMIT|DECLARE CURSOR)$/.test(l)), ['1', 'widget', 'hello', 'widget', ROLE, 't', 't|active', '1,widget']);
    // The same COPY options on a credential relation cannot be masked: refused.
    const copy = await psql(gw, agent, ['-c', "COPY pg_authid TO STDOUT (FORMAT csv, ENCODING 'LATIN1')"]);
    assert.notEqual(copy.code, 0);
    assert.match(copy.stderr, /PCS_MASK_COPY_UNSUPPORTED/);
    clean(copy.stdout);
    const du = await psql(gw, agent, ['-c', '\\du']);
    assert.equal(du.code, 0, du.stderr);
    assert.match(du.stdout, new RegExp(ROLE));
  });

  it('warns at start that the upstream role is a superuser', async () => {
    const log = join(gw.t.dir, 'gateway.log');
    await eventually(async () => readFileSync(log, 'utf8').includes('"superuser":true'));
    const line = readFileSync(log, 'utf8').split('\n').find((l) => l.includes('"superuser":true')) ?? '';
    const entry = JSON.parse(line) as { level: number; connection: string; upstream_user: string; msg: string };
    assert.equal(entry.level, 40);
    assert.equal(entry.connection, 'app-db');
    assert.equal(entry.upstream_user, 'postgres');
    assert.match(entry.msg, /is a superuser/);
    // Once per connection, not per session.
    assert.equal(readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"superuser":true')).length, 1);
  });
});

describe('postgres superuser warning when the upstream is down at start', () => {
  let db: string;
  let gw: PgGateway;
  let proxy: Server | undefined;
  let port: number;

  before(async () => {
    db = await createDatabase();
    // A free port with nothing behind it yet: the start-up probe fails.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    gw = await startPgGateway(`
connections:
  - { name: late-db, type: postgres, upstream: { host: 127.0.0.1, port: ${port}, database: ${db}, user: postgres, tls: disable } }
policies:
  - { name: dba, subjects: { groups: [dba] }, connections: ["*"], rules: [{ then: allow }] }
`);
  });

  after(async () => {
    await gw?.stop();
    if (proxy) await new Promise<void>((resolve) => proxy?.close(() => resolve()));
    if (db) await dropDatabase(db);
  });

  it('does not hold the start up, and warns at the first session once the upstream is up', async () => {
    const log = join(gw.t.dir, 'gateway.log');
    await eventually(async () => readFileSync(log, 'utf8').includes('could not log in upstream at start'));
    assert.ok(!readFileSync(log, 'utf8').includes('"superuser":true'));
    // The upstream comes up: a plain TCP relay to the real server.
    proxy = createServer((client) => {
      const up = connect(5432, '127.0.0.1');
      client.pipe(up).pipe(client);
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy?.listen(port, '127.0.0.1', resolve));
    const token = await gw.t.token('dba-human', ['dba']);
    const r = await psql(gw, token, ['-At', '-c', 'SELECT 1'], { db: 'late-db' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '1');
    const warnings = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"superuser":true'));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /"connection":"late-db"/);
  });
});
