// What statements write, and where from (analyzeWrites): the ways an agent allowed to write
// could copy a protected column somewhere no rule names, each with every target it writes and
// the exact source columns of each, then the statements that write nothing.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadSqlAnalyzer } from '../../../src/sql/postgres/analyze.ts';
import type { WrittenColumn } from '../../../src/sql/lineage.ts';
import { analyzeLineage, analyzeWrites } from '../../../src/sql/postgres/lineage/lineage.ts';
import { createRelationCatalog } from '../../../src/sql/relation-catalog.ts';

before(() => loadSqlAnalyzer());

const TABLES: Record<string, readonly string[]> = {
  'public.customers': ['id', 'name', 'email', 'ssn', 'card_number'],
  'public.notes': ['id', 'body'],
  'public.log': ['id', 'body'],
  'public.customer_emails': ['id', 'email'],
  'public.mv': ['s'],
  'crm.leads': ['id', 'email'],
};
const VIEWS = [
  { schema: 'public', relation: 'customer_emails', definition: 'select id, email from customers' },
  { schema: 'public', relation: 'mv', definition: 'select ssn as s from customers' },
];
const catalog = createRelationCatalog(
  Object.entries(TABLES).flatMap(([name, cols]) => {
    const [schema = '', relation = ''] = name.split('.');
    return cols.map((column, i) => ({ schema, relation, column, position: i + 1 }));
  }),
  VIEWS,
);

/**
 * Targets as `table.column` (public), `schema.table.column`, or the file's name; sources as
 * `table.column`, sorted; opaque as 'opaque'.
 */
function show(writes: readonly WrittenColumn[]): Record<string, readonly string[] | 'opaque'> {
  const out: Record<string, readonly string[] | 'opaque'> = {};
  for (const w of writes) {
    const t = w.target;
    const key = t.kind === 'file' ? t.name : t.schema === 'public' ? `${t.table}.${t.column}` : `${t.schema}.${t.table}.${t.column}`;
    out[key] = w.lineage.kind === 'opaque' ? 'opaque' : w.lineage.sources.map((s) => (s.schema === 'public' ? `${s.table}.${s.column}` : `${s.schema}.${s.table}.${s.column}`)).sort();
  }
  return out;
}

const writes = (sql: string, searchPath?: readonly string[]): Record<string, readonly string[] | 'opaque'> =>
  show(analyzeWrites(sql, catalog, searchPath !== undefined ? { searchPath } : undefined));

const C = 'customers';
const ALL = [`${C}.card_number`, `${C}.email`, `${C}.id`, `${C}.name`, `${C}.ssn`];
const FN = (name: string): string => `(function ${name})`;

// [SQL, every target it writes with what flows in]
const CORPUS: readonly (readonly [string, Record<string, readonly string[] | 'opaque'>])[] = [
  // INSERT
  ["insert into notes (id, body) values (1, 'x')", { 'notes.id': [], 'notes.body': [] }],
  ['insert into notes (body) select ssn from customers', { 'notes.body': [`${C}.ssn`] }],
  ['insert into notes select id, ssn from customers', { 'notes.id': [`${C}.id`], 'notes.body': [`${C}.ssn`] }],
  ['insert into nope select ssn, email from customers', { 'nope.*': [`${C}.email`, `${C}.ssn`] }],
  ['insert into nope (a) select ssn from customers', { 'nope.a': [`${C}.ssn`] }],
  ['insert into notes default values', { 'notes.id': [], 'notes.body': [] }],
  ["insert into notes (body) values ('a'), ((select card_number from customers limit 1))", { 'notes.body': [`${C}.card_number`] }],
  [
    "insert into notes (id, body) values (1, 'x') on conflict (id) do update set body = (select ssn from customers limit 1)",
    { 'notes.id': [], 'notes.body': [`${C}.ssn`] },
  ],
  // excluded.* is the row proposed for insertion: what the INSERT writes.
  ['insert into notes (id, body) select id, email from customers on conflict (id) do update set id = length(excluded.body)', { 'notes.id': [`${C}.email`, `${C}.id`, 'notes.body'], 'notes.body': [`${C}.email`] }],
  ['with x as (select ssn from customers) insert into notes (body) select * from x', { 'notes.body': [`${C}.ssn`] }],
  ['with moved as (delete from customers returning ssn) insert into notes (body) select ssn from moved', { 'notes.body': [`${C}.ssn`] }],
  ['with w as (insert into notes (body) select ssn from customers returning id) select * from w', { 'notes.body': [`${C}.ssn`] }],
  // `(s).*` expands into columns lineage cannot count: every column may get any of them.
  ['insert into notes (id, body) select (s).* from (select id, ssn from customers) s', { 'notes.id': [`${C}.id`, `${C}.ssn`], 'notes.body': [`${C}.id`, `${C}.ssn`] }],
  ['insert into notes select * from nope, customers', { 'notes.id': 'opaque', 'notes.body': 'opaque' }],
  // Through an updatable view, into the base column too.
  ['insert into customer_emails (email) select ssn from customers', { 'customer_emails.email': [`${C}.ssn`], [`${C}.email`]: [`${C}.ssn`] }],
  // UPDATE
  ['update notes set body = (select ssn from customers where id = 1)', { 'notes.body': [`${C}.ssn`] }],
  ['update customers set name = ssn', { [`${C}.name`]: [`${C}.ssn`] }],
  ['update customers set email = lower(email)', { [`${C}.email`]: [`${C}.email`] }],
  ['update customers c set name = c.ssn where c.id = 1', { [`${C}.name`]: [`${C}.ssn`] }],
  ['update notes n set (id, body) = (select c.id, c.ssn from customers c where c.id = n.id)', { 'notes.id': [`${C}.id`], 'notes.body': [`${C}.ssn`] }],
  ["update notes set (id, body) = (1, 'x' || notes.body)", { 'notes.id': [], 'notes.body': ['notes.body'] }],
  ['update notes set body = c.card_number from customers c where c.id = notes.id', { 'notes.body': [`${C}.card_number`] }],
  // CREATE TABLE AS, materialized views, SELECT INTO
  ['create table t as select ssn, 1 as one from customers', { 't.ssn': [`${C}.ssn`], 't.one': [] }],
  ['create table t (a, b) as select ssn, email from customers', { 't.a': [`${C}.ssn`], 't.b': [`${C}.email`] }],
  ['create temp table t as select card_number from customers', { 'pg_temp.t.card_number': [`${C}.card_number`] }],
  ['create materialized view m as select email from customers with no data', { 'm.email': [`${C}.email`] }],
  ['select ssn into t from customers', { 't.ssn': [`${C}.ssn`] }],
  ['select ssn as x into temp t from customers union select email from customers', { 'pg_temp.t.x': [`${C}.email`, `${C}.ssn`] }],
  ['select * into t from nope', { 't.*': 'opaque' }],
  ['create table t as execute p', { 't.*': 'opaque' }],
  ['refresh materialized view mv', { 'mv.s': [`${C}.ssn`] }],
  // COPY
  ["copy (select ssn from customers) to '/tmp/x'", { '/tmp/x': [`${C}.ssn`] }],
  ["copy customers (ssn) to program 'gzip > /tmp/x'", { 'program gzip > /tmp/x': [`${C}.ssn`] }],
  ["copy customers to '/tmp/all.csv' with (format csv)", { '/tmp/all.csv': ALL }],
  // MERGE
  [
    'merge into notes n using customers c on n.id = c.id when matched then update set body = c.ssn when not matched then insert (id, body) values (c.id, c.email) when not matched by source then delete',
    { 'notes.body': [`${C}.email`, `${C}.ssn`], 'notes.id': [`${C}.id`] },
  ],
  ['merge into notes n using (select id, card_number from customers) c on n.id = c.id when not matched then insert values (c.id, c.card_number)', { 'notes.id': [`${C}.id`], 'notes.body': [`${C}.card_number`] }],
  ['with m as (merge into notes n using customers c on n.id = c.id when matched then update set body = c.ssn returning n.id) select * from m', { 'notes.body': [`${C}.ssn`] }],
  // Code that can write anything.
  ['do $$ begin insert into notes (body) select ssn from customers; end $$', { '(procedural code)': 'opaque' }],
  ['call archive_customers(1)', { '(procedural code)': 'opaque' }],
  ['select lookup_email(id) from customers', { [FN('lookup_email')]: 'opaque' }],
  ['select public.lookup(ssn), lower(email) from customers', { [FN('public.lookup')]: 'opaque' }],
  ['select * from get_rows() as g(a int)', { [FN('get_rows')]: 'opaque' }],
  ['create trigger tr after insert on notes for each row execute function copy_ssn()', { [FN('copy_ssn')]: 'opaque' }],
  // Built-ins that keep their arguments where a later statement can read them.
  ["select set_config('my.x', ssn, false) from customers", { [FN('set_config')]: [`${C}.ssn`] }],
  ['select pg_advisory_lock(length(card_number)) from customers', { [FN('pg_advisory_lock')]: [`${C}.card_number`] }],
  // Statements that run others.
  ['explain analyze insert into notes (body) select ssn from customers', { 'notes.body': [`${C}.ssn`] }],
  ['prepare p as update notes set body = (select email from customers limit 1)', { 'notes.body': [`${C}.email`] }],
  ['declare cur cursor for select lookup_email(id) from customers', { [FN('lookup_email')]: 'opaque' }],
  // DDL that copies values, or installs code that will.
  ['alter table customers alter column name type text using ssn', { [`${C}.name`]: [`${C}.ssn`] }],
  ['alter table customers add column x text generated always as (upper(ssn)) stored', { [`${C}.x`]: [`${C}.ssn`] }],
  ['create rule r as on insert to notes do also insert into log (id, body) select new.id, ssn from customers', { 'log.id': ['notes.id'], 'log.body': [`${C}.ssn`] }],
  // Several statements: each target once, with everything written into it.
  ["insert into notes (body) values ('a'); update notes set body = (select email from customers limit 1)", { 'notes.body': [`${C}.email`] }],
];

describe('writes corpus', () => {
  it(`holds at least 30 statements that write (${CORPUS.length})`, () => assert.ok(CORPUS.length >= 30));
  for (const [sql, expected] of CORPUS) {
    it(sql, () => {
      const sorted = Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, v === 'opaque' ? v : [...v].sort()]));
      assert.deepEqual(writes(sql), sorted);
    });
  }
});

describe('writes: statements that write nothing', () => {
  for (const sql of [
    'select * from customers',
    'select lower(email), count(*), now() from customers group by 1',
    'with x as (select ssn from customers) select * from x',
    'delete from notes where id = 1',
    'create view v as select ssn from customers',
    'create table t (a int, b text)',
    'alter table notes add column x int default 0',
    'alter table notes rename column body to text',
    'drop table notes',
    'truncate notes',
    "copy customers from '/tmp/in.csv'",
    'copy customers from stdin',
    'copy (select ssn from customers) to stdout',
    'copy customers to stdout',
    'explain insert into notes (body) select ssn from customers',
    'explain (analyze false) insert into notes (body) select ssn from customers',
    'set search_path = public',
    'refresh materialized view mv with no data',
    'execute p',
    '',
  ]) {
    it(sql === '' ? '(empty text)' : sql, () => assert.deepEqual(analyzeWrites(sql, catalog), []));
  }
});

describe('writes: forms and reasons', () => {
  it('resolves targets and sources along the search path', () => {
    assert.deepEqual(writes('insert into leads (email) select ssn from customers', ['crm', 'public']), { 'crm.leads.email': [`${C}.ssn`] });
    // A new table lands in the first schema of the path, or the one named.
    assert.deepEqual(writes('create table t as select ssn from customers', ['crm', 'public']), { 'crm.t.ssn': [`${C}.ssn`] });
    assert.deepEqual(writes('create table crm.t as select ssn from customers'), { 'crm.t.ssn': [`${C}.ssn`] });
  });

  it('counts unqualified built-ins as user functions when pg_catalog is searched after another schema', () => {
    assert.deepEqual(writes('select lower(email) from customers', ['evil', 'pg_catalog', 'public']), { [FN('lower')]: 'opaque' });
    assert.deepEqual(writes('select pg_catalog.lower(email) from customers', ['evil', 'pg_catalog', 'public']), {});
    assert.deepEqual(writes('select lower(email) from customers', ['pg_catalog', 'public']), {});
  });

  it('follows function calls into the definitions of views it reads', () => {
    const withUdf = createRelationCatalog(
      [
        { schema: 'public', relation: 'customers', column: 'ssn', position: 1 },
        { schema: 'public', relation: 'v', column: 'x', position: 1 },
      ],
      [{ schema: 'public', relation: 'v', definition: 'select public.audit(ssn) as x from public.customers' }],
    );
    assert.deepEqual(show(analyzeWrites('select x from v', withUdf)), { [FN('public.audit')]: 'opaque' });
  });

  it('says why a write is opaque', () => {
    const reason = (sql: string): string => {
      const l = analyzeWrites(sql, catalog)[0]?.lineage;
      return l?.kind === 'opaque' ? l.reason : 'not opaque';
    };
    assert.match(reason('selec ssn'), /does not parse/);
    assert.match(reason('do $$ begin end $$'), /DO block/);
    assert.match(reason('call p()'), /procedure p/);
    assert.match(reason('select f(1)'), /function f is not a built-in/);
    assert.match(reason('create table t as execute p'), /not in this text/);
    assert.match(reason('insert into notes select * from nope'), /nope/);
  });

  it('reports unparsable text as one opaque entry', () => {
    const w = analyzeWrites('insert into notes select ssn from customers where', catalog);
    assert.equal(w.length, 1);
    assert.deepEqual(w[0]?.target, { kind: 'file', name: '(unparsable statement)' });
  });

  it('returns frozen entries with the exact target shape', () => {
    const w = analyzeWrites('update customers set name = ssn', catalog);
    assert.deepEqual(w, [{ target: { kind: 'column', schema: 'public', table: 'customers', column: 'name' }, lineage: { kind: 'columns', sources: [{ schema: 'public', table: 'customers', column: 'ssn' }] } }]);
    assert.ok(Object.isFrozen(w) && Object.isFrozen(w[0]) && Object.isFrozen(w[0]?.target));
  });

  it('leaves analyzeLineage as it was: RETURNING still carries what is written', () => {
    const r = analyzeLineage('update notes n set (id, body) = (select c.id, c.ssn from customers c where c.id = n.id) returning body', catalog);
    assert.deepEqual(r?.outputs.map((o) => (o.lineage.kind === 'columns' ? o.lineage.sources.map((s) => `${s.table}.${s.column}`).sort() : 'opaque')), [['customers.ssn', 'notes.body']]);
  });
});
