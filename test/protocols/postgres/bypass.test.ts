// Issue 3, "Done means": every bypass of a read-only policy is denied through the gateway, in
// the simple and in the extended protocol, and each denial is recorded. User-defined functions
// count by their volatility in the upstream's catalog; EXECUTE by what it runs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { adminSql, createDatabase, dropDatabase, eventually, recordedEvents, standardConfig, startPgGateway, type PgGateway } from './support.ts';

const BYPASSES = [
  "select pg_read_file('/etc/passwd')",
  "select pg_read_binary_file('/etc/passwd')",
  "select pg_ls_dir('.')",
  "select lo_import('/etc/passwd')",
  "select set_config('role', 'postgres', false)",
  "select dblink_exec('dbname=postgres', 'drop table t')",
  'select pg_terminate_backend(1)',
  "select nextval('s')",
  'select * from t for update',
  "copy t to program 'cat > /tmp/pcs-x'",
  "copy t from '/etc/passwd'",
  'do $$ begin execute $q$delete from t$q$; end $$',
  'call p()',
  'set role postgres',
  'set session authorization postgres',
  "alter system set work_mem = '1GB'",
  "load 'auto_explain'",
  "select query_to_xml('delete from t returning 1', true, true, '')",
  'with d as (delete from t returning *) select * from d',
  'select * into t2 from t',
  'prepare x as delete from t',
  'select f_volatile()',
  'select 1; delete from t',
] as const;

describe('postgres adapter: read-only bypasses', () => {
  let db: string;
  let gw: PgGateway;
  let agent: string;
  const client = (): pg.Client => new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'agent', password: agent });

  before(async () => {
    db = await createDatabase();
    await adminSql(
      `CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2); CREATE SEQUENCE s;
       CREATE PROCEDURE p() LANGUAGE sql AS 'delete from t';
       CREATE FUNCTION f_stable(int) RETURNS int STABLE LANGUAGE sql AS 'select $1 + 1';
       CREATE FUNCTION f_volatile() RETURNS int VOLATILE LANGUAGE sql AS 'delete from t returning 1';
       CREATE FUNCTION f_allowed() RETURNS int VOLATILE LANGUAGE sql AS 'select 42';`,
      db,
    );
    gw = await startPgGateway(standardConfig(db).replace('user: postgres, tls: disable } }', 'user: postgres, tls: disable }, read_functions: [public.f_allowed] }'));
    agent = await gw.t.token('agent-bot', ['agents']);
  });

  after(async () => {
    await gw?.stop();
    if (db) await dropDatabase(db);
  });

  for (const protocol of ['simple', 'extended'] as const) {
    it(`denies every bypass in the ${protocol} protocol, records it, and leaves the data alone`, async () => {
      const c = client();
      await c.connect();
      try {
        for (const sql of BYPASSES) {
          if (protocol === 'extended' && sql.includes('; ')) continue; // one statement per Parse
          const run = protocol === 'simple' ? c.query(sql) : c.query({ text: sql, values: [] });
          await assert.rejects(run, (err: Error & { code?: string }) => {
            assert.equal(err.code, '42501', `${sql}: ${err.message}`);
            assert.match(err.message, /^denied by policy agents-read-only|policy/, sql);
            return true;
          }, sql);
        }
        assert.equal((await c.query('select count(*)::int as n from t')).rows[0]?.n, 2);
      } finally {
        await c.end();
      }
      await eventually(async () => (await recordedEvents(gw, 'denied')).filter((e) => e.data.text === "select pg_read_file('/etc/passwd')").length >= (protocol === 'simple' ? 1 : 2));
    });
  }

  it('allows stable user functions and allow-listed volatile ones, denies other volatile ones', async () => {
    const c = client();
    await c.connect();
    try {
      assert.equal((await c.query('select f_stable(1) as v')).rows[0]?.v, 2);
      assert.equal((await c.query('select public.f_allowed() as v')).rows[0]?.v, 42);
      await assert.rejects(c.query('select f_volatile()'), { code: '42501' });
    } finally {
      await c.end();
    }
  });

  it('decides EXECUTE of a SQL-level prepared statement by what it runs', async () => {
    const c = client();
    await c.connect();
    try {
      await c.query('prepare q(int) as select id from t where id = $1');
      assert.equal((await c.query('execute q(2)')).rows[0]?.id, 2);
      await assert.rejects(c.query('execute never_prepared'), { code: '42501' });
    } finally {
      await c.end();
    }
  });
});
