// Column lineage (issue 4, points 2 and 3): a corpus of statements that try to extract a
// protected column, each with the exact source columns of every output and the exact
// predicate columns, then the statement forms that have no result set or fail closed.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadSqlAnalyzer } from '../../../src/sql/postgres/analyze.ts';
import type { ColumnLineage, QueryLineage } from '../../../src/sql/lineage.ts';
import { analyzeLineage, analyzePredicates } from '../../../src/sql/postgres/lineage/lineage.ts';
import { createRelationCatalog } from '../../../src/sql/relation-catalog.ts';

before(() => loadSqlAnalyzer());

const TABLES: Record<string, readonly string[]> = {
  'public.customers': ['id', 'name', 'email', 'ssn', 'card_number'],
  'public.orders': ['id', 'customer_id', 'total'],
  'public.customer_emails': ['id', 'email'],
  'public.emails_v2': ['mail'],
  'public.secret_view': ['id', 'x'],
  'public.loop_a': ['id'],
  'public.loop_b': ['id'],
  'billing.invoices': ['id', 'customer_id', 'card_number'],
  'crm.leads': ['id', 'email'],
  // Same name as public.customers: an agent's look-alike, for search_path tricks.
  'evil.customers': ['id', 'email'],
};
const VIEWS = [
  { schema: 'public', relation: 'customer_emails', definition: 'select id, email from customers' },
  { schema: 'public', relation: 'emails_v2', definition: 'SELECT customer_emails.email FROM customer_emails WHERE customer_emails.id > 0' },
  { schema: 'public', relation: 'secret_view', definition: undefined },
  { schema: 'public', relation: 'loop_a', definition: 'select id from loop_b' },
  { schema: 'public', relation: 'loop_b', definition: 'select id from loop_a' },
];
// Rows in reverse so that the catalog's ordering by position is exercised.
const catalog = createRelationCatalog(
  Object.entries(TABLES).flatMap(([name, cols]) => {
    const [schema = '', relation = ''] = name.split('.');
    return cols.map((column, i) => ({ schema, relation, column, position: i + 1 })).reverse();
  }),
  VIEWS,
);

/** Sources as `table.column` (public) or `schema.table.column`, sorted; opaque as 'opaque'. */
function show(l: ColumnLineage): string[] | 'opaque' {
  if (l.kind === 'opaque') return 'opaque';
  return l.sources.map((s) => (s.schema === 'public' ? `${s.table}.${s.column}` : `${s.schema}.${s.table}.${s.column}`)).sort();
}

function analyse(sql: string, searchPath?: readonly string[]): QueryLineage {
  const r = analyzeLineage(sql, catalog, searchPath !== undefined ? { searchPath } : undefined);
  assert.ok(r !== undefined, `no result set for ${sql}`);
  return r;
}

type Expected = readonly (readonly string[] | 'opaque')[];
const C = 'customers';
const ALL = [`${C}.card_number`, `${C}.email`, `${C}.id`, `${C}.name`, `${C}.ssn`];
const STAR: Expected = [[`${C}.id`], [`${C}.name`], [`${C}.email`], [`${C}.ssn`], [`${C}.card_number`]];

// [SQL, expected lineage of each output column, expected predicate columns]
const CORPUS: readonly (readonly [string, Expected, readonly string[]])[] = [
  ['select email from customers', [[`${C}.email`]], []],
  ['select c.email as e from customers c', [[`${C}.email`]], []],
  ['select e from (select email as e from customers) s', [[`${C}.email`]], []],
  ['select s.x from (select ssn from customers) as s(x)', [[`${C}.ssn`]], []],
  ['select * from customers', STAR, []],
  ['select c.* from customers c join orders o on o.customer_id = c.id', STAR, ['customers.id', 'orders.customer_id']],
  ['select upper(email) from customers', [[`${C}.email`]], []],
  ['select substr(ssn, 1, 3) from customers', [[`${C}.ssn`]], []],
  ["select email || '' from customers", [[`${C}.email`]], []],
  ["select encode(email::bytea, 'base64') from customers", [[`${C}.email`]], []],
  ["select coalesce(null, ssn, 'x') from customers", [[`${C}.ssn`]], []],
  // Which branch a CASE takes answers its condition: a predicate (1/0 in a branch would tell).
  ["select case when ssn like '1%' then 'a' else 'b' end from customers", [[`${C}.ssn`]], ['customers.ssn']],
  ['select md5(ssn), length(card_number) from customers', [[`${C}.ssn`], [`${C}.card_number`]], []],
  ["select jsonb_build_object('e', email), format('%s', card_number) from customers", [[`${C}.email`], [`${C}.card_number`]], []],
  ["select string_agg(email, ',') from customers", [[`${C}.email`]], []],
  ['select array_agg(ssn) from customers', [[`${C}.ssn`]], []],
  ['select json_agg(card_number) from customers', [[`${C}.card_number`]], []],
  ['select count(email), count(*) from customers', [[`${C}.email`], []], []],
  ['select row_to_json(c) from customers c', [ALL], []],
  ['select to_jsonb(c.*) from customers c', [ALL], []],
  ['select c::text from customers c', [ALL], []],
  ['select ROW(c.*) from customers c', [ALL], []],
  ['select c from customers c', [ALL], []],
  ["select (row_to_json(c))->>'ssn' from customers c", [ALL], []],
  ['select (c).ssn from customers c', [ALL], []],
  ['select (select ssn from customers x where x.id = o.customer_id) from orders o', [[`${C}.ssn`]], ['customers.id', 'orders.customer_id']],
  ['select array(select email from customers)', [[`${C}.email`]], []],
  ['with t as (select ssn as s from customers) select s from t', [[`${C}.ssn`]], []],
  ['with t(a, b) as (select id, card_number from customers) select t.b from t', [[`${C}.card_number`]], []],
  [
    "with recursive r(n, v) as (select 1, ''::text union all select n + 1, v || c.ssn from r join customers c on c.id = r.n where n < 3) select v from r",
    [[`${C}.ssn`]],
    ['customers.id'],
  ],
  ['select email from customer_emails', [[`${C}.email`]], []],
  ['select * from customer_emails', [[`${C}.id`], [`${C}.email`]], []],
  ['select mail from emails_v2', [[`${C}.email`]], ['customers.id']],
  // UNION, INTERSECT and EXCEPT compare rows (UNION ALL does not): predicates on every output.
  ['select name from customers union select email from customers', [[`${C}.email`, `${C}.name`]], ['customers.email', 'customers.name']],
  ["select 1, 'x' except select id, ssn from customers", [[`${C}.id`], [`${C}.ssn`]], ['customers.id', 'customers.ssn']],
  ['select id, total::text from orders intersect all select id, card_number from customers', [['customers.id', 'orders.id'], ['customers.card_number', 'orders.total']], ['customers.card_number', 'customers.id', 'orders.id', 'orders.total']],
  ['select distinct name from customers union all select name from customers', [['customers.name']], ['customers.name']],
  ["select generate_series(1, length(ssn)) from customers", [[`${C}.ssn`]], ['customers.ssn']],
  ["select nullif(ssn, '219-09-9999') from customers", [[`${C}.ssn`]], ['customers.ssn']],
  ['select ssn from customers c join orders o using (id)', [[`${C}.ssn`]], ['customers.id', 'orders.id']],
  ['select * from (select ssn as id from customers) s join orders using (id)', [['customers.ssn', 'orders.id'], ['orders.customer_id'], ['orders.total']], ['customers.ssn', 'orders.id']],
  ['select * from orders o left join lateral (select email from customers c where c.id = o.customer_id) x on true', [['orders.id'], ['orders.customer_id'], ['orders.total'], [`${C}.email`]], ['customers.id', 'orders.customer_id']],
  ['select x from generate_series(1, 1) g, lateral (select ssn as x from customers) l', [[`${C}.ssn`]], []],
  // A function in FROM returns as many rows as its arguments say.
  ['select t.e from unnest(array(select email from customers)) as t(e)', [[`${C}.email`]], ['customers.email']],
  ['select v from (values ((select ssn from customers limit 1))) s(v)', [[`${C}.ssn`]], []],
  ['select key, value from json_each((select row_to_json(c) from customers c limit 1))', [ALL, ALL], ['customers.card_number', 'customers.email', 'customers.id', 'customers.name', 'customers.ssn']],
  ['update customers set name = name where id = 1 returning ssn', [[`${C}.ssn`]], ['customers.id']],
  ['update customers set name = ssn returning name', [['customers.name', 'customers.ssn']], []],
  ['delete from customers where id = 1 returning *', STAR, ['customers.id']],
  ['insert into orders (id, customer_id, total) select id, id, ssn::numeric from customers returning total', [['customers.ssn', 'orders.total']], []],
  ['with x as (delete from customers where id = 1 returning ssn) select * from x', [[`${C}.ssn`]], ['customers.id']],
  ['copy (select card_number from customers) to stdout', [[`${C}.card_number`]], []],
  ['copy customers (email) to stdout', [[`${C}.email`]], []],
  ['select email from billing.invoices i join customers c on c.id = i.customer_id', [[`${C}.email`]], ['billing.invoices.customer_id', 'customers.id']],
  // Point 3: protected columns in predicates.
  ["select email from customers where ssn like '1%'", [[`${C}.email`]], ['customers.ssn']],
  ['select id from customers order by ssn', [[`${C}.id`]], ['customers.ssn']],
  ['select ssn as x from customers order by x', [[`${C}.ssn`]], ['customers.ssn']],
  ["select count(*) from customers group by ssn having max(email) > 'a'", [[]], ['customers.email', 'customers.ssn']],
  ['select ssn, count(*) from customers group by 1', [[`${C}.ssn`], []], ['customers.ssn']],
  ['select distinct on (ssn) id from customers', [[`${C}.id`]], ['customers.ssn']],
  ['select row_number() over (partition by ssn order by email) from customers', [[]], ['customers.email', 'customers.ssn']],
  ["select id, string_agg(name, ',' order by ssn) filter (where card_number like '4%') from customers group by id", [[`${C}.id`], [`${C}.name`]], ['customers.card_number', 'customers.id', 'customers.ssn']],
  ["select id from customers c where exists (select 1 from orders o where o.customer_id = c.id and c.ssn like '1%')", [[`${C}.id`]], ['customers.id', 'customers.ssn', 'orders.customer_id']],
  ['select id from customers limit (select length(ssn) from customers limit 1)', [[`${C}.id`]], ['customers.ssn']],
  ["select id from orders where customer_id in (select id from customer_emails where email like 'a%')", [['orders.id']], ['customers.email', 'customers.id', 'orders.customer_id']],
  ["explain analyze select 1 from customers where ssn = '1'", [[]], ['customers.ssn']],
  // Fail closed.
  ['select card_number from customers c join billing.invoices i on i.customer_id = c.id', ['opaque'], ['billing.invoices.customer_id', 'customers.id']],
  ['select ssn from customers c1, customers c2', ['opaque'], []],
  ['select * from secret_view', ['opaque', 'opaque'], []],
  ["select query_to_xml('select ssn from customers', true, false, '')", ['opaque'], []],
  ['select lookup_email(id) from orders', ['opaque'], []],
  ['select * from nope', ['opaque'], []],
  ['select nope_col from customers', ['opaque'], []],
  ['select * from loop_a', ['opaque'], []],
  ['select * from get_customers() as g(email text)', ['opaque'], []],
];

describe('lineage corpus (issue 4, points 2 and 3)', () => {
  it(`holds at least 40 extraction attempts (${CORPUS.length})`, () => assert.ok(CORPUS.length >= 40));
  for (const [sql, outputs, predicates] of CORPUS) {
    it(sql, () => {
      const r = analyse(sql);
      assert.deepEqual(r.outputs.map((o) => show(o.lineage)), outputs.map((o) => (o === 'opaque' ? o : [...o].sort())));
      assert.deepEqual(r.predicateColumns.map((s) => (s.schema === 'public' ? `${s.table}.${s.column}` : `${s.schema}.${s.table}.${s.column}`)).sort(), [...predicates].sort());
    });
  }
});

describe('lineage: statement forms', () => {
  it('is undefined for statements without a result set', () => {
    for (const sql of [
      'select * into t from customers',
      'create table t as select ssn from customers',
      'insert into orders values (1, 1, 1)',
      "update customers set name = 'x'",
      'copy customers from stdin',
      "copy (select ssn from customers) to '/tmp/x'",
      'set search_path = public',
      'declare cur cursor for select ssn from customers',
    ]) {
      assert.equal(analyzeLineage(sql, catalog), undefined, sql);
    }
  });

  it('analyzePredicates covers statements that send no rows', () => {
    const cols = (sql: string): string[] => analyzePredicates(sql, catalog).predicateColumns.map((c) => `${c.table}.${c.column}`).sort();
    assert.deepEqual(cols("update customers set name = 'x' where ssn like '1%'"), ['customers.ssn']);
    assert.deepEqual(cols("delete from orders where customer_id in (select id from customers where email like 'a%')"), ['customers.email', 'customers.id', 'orders.customer_id']);
    assert.deepEqual(cols("create table t as select 1 from customers where ssn = '1'"), ['customers.ssn']);
    assert.deepEqual(cols('declare cur cursor for select id from customers order by card_number'), ['customers.card_number']);
    assert.deepEqual(cols('prepare p as select 1 from customers where ssn = $1'), ['customers.ssn']);
    assert.deepEqual(cols("select 1 from customers where ssn = '1'; update orders set total = 0 where id = 1"), ['customers.ssn', 'orders.id']);
    assert.deepEqual(analyzePredicates('merge into orders o using customers c on o.id = c.id when matched then do nothing', catalog).opaquePredicates, ['MERGE is not analysed']);
  });

  it('names outputs as PostgreSQL does, and expands t.* in place', () => {
    const r = analyse('select c.email as e, upper(name), ssn::text, o.*, 1 from customers c join orders o on o.customer_id = c.id');
    assert.deepEqual(r.outputs.map((o) => o.name), ['e', 'upper', 'ssn', 'id', 'customer_id', 'total', '?column?']);
  });

  it('notes whole-row references for the recording', () => {
    const r = analyse('select row_to_json(c) from customers c');
    assert.deepEqual(r.notes, ['whole-row reference to "c" expanded to its 5 columns']);
  });

  it('resolves unqualified names along the search path, first match wins', () => {
    assert.deepEqual(show(analyse('select email from leads', ['public', 'crm']).outputs[0]?.lineage ?? { kind: 'opaque', reason: '' }), ['crm.leads.email']);
    // Not on the path: unknown, so opaque.
    assert.equal(analyse('select email from leads').outputs[0]?.lineage.kind, 'opaque');
    assert.deepEqual(show(analyse('select card_number from invoices', ['billing']).outputs[0]?.lineage ?? { kind: 'opaque', reason: '' }), ['billing.invoices.card_number']);
  });

  it("the session's search_path does not re-bind names inside a view's definition", () => {
    const r = analyse('select email from customer_emails', ['evil', 'public']);
    assert.deepEqual(r.outputs.map((o) => show(o.lineage)), [['customers.email']]);
    // ...while the agent's own names do follow it, as the server's do.
    assert.deepEqual(analyse('select email from customers', ['evil', 'public']).outputs.map((o) => show(o.lineage)), [['evil.customers.email']]);
  });

  it('recursive CTEs with several recursive arms reach the union of all of them', () => {
    const sql = `with recursive r(n, v) as (
        select 1, ''::text
        union all select n + 1, v || c.email from r join customers c on c.id = r.n where n < 3
        union all select n + 1, v || o.total::text from r join orders o on o.id = r.n where n < 3)
      select n, v from r`;
    assert.deepEqual(analyse(sql).outputs.map((o) => show(o.lineage)), [[], ['customers.email', 'orders.total']]);
  });

  it('an outer column wins over a whole-row reference of the same name, as in PostgreSQL', () => {
    const r = analyse('select (select ssn from orders ssn limit 1) from customers');
    assert.deepEqual(r.outputs.map((o) => show(o.lineage)), [['customers.ssn']]);
  });

  it('keeps the known columns of * and adds one opaque entry for an unknown relation', () => {
    const r = analyse('select * from orders, nope');
    assert.deepEqual(r.outputs.map((o) => o.name), ['id', 'customer_id', 'total', '*']);
    assert.equal(r.outputs[3]?.lineage.kind, 'opaque');
  });

  it('says why lineage is opaque', () => {
    const reason = (sql: string): string => {
      const l = analyse(sql).outputs[0]?.lineage;
      return l?.kind === 'opaque' ? l.reason : 'not opaque';
    };
    assert.match(reason('select ssn from customers c1, customers c2'), /ambiguous/);
    assert.match(reason('select * from secret_view'), /no known definition/);
    assert.match(reason('select * from loop_a'), /refers to itself/);
    assert.match(reason("select query_to_xml('select 1', true, false, '')"), /runs SQL given as text/);
    assert.match(reason('select public.lookup(id) from orders'), /not a built-in/);
    assert.match(reason('selec ssn'), /does not parse/);
    assert.match(reason('select 1; select 2'), /several statements/);
    assert.match(reason('execute q(1)'), /not in this text/);
  });

  it('reports predicates it cannot trace', () => {
    const r = analyse('select 1 from customers c, nope n where n.secret = 1');
    assert.deepEqual(r.predicateColumns, []);
    assert.equal(r.opaquePredicates.length, 1);
  });

  it('follows INSERT ... ON CONFLICT and PostgreSQL 18 old/new in RETURNING', () => {
    const r = analyse('insert into customers (id, email) select id, email from customers on conflict (id) do update set name = excluded.email where customers.ssn is null returning name, new.email, old.card_number');
    assert.deepEqual(r.outputs.map((o) => show(o.lineage)), [['customers.email', 'customers.name'], ['customers.email'], ['customers.card_number']]);
    assert.deepEqual(r.predicateColumns.map((s) => s.column), ['ssn']);
  });

  it('a catalog without isView takes relations without a definition as tables', () => {
    const plain = { columns: (s: string, t: string) => (s === 'public' && t === 'customers' ? ['id', 'ssn'] : undefined) };
    const r = analyzeLineage('select ssn from customers', plain);
    assert.deepEqual(r?.outputs.map((o) => show(o.lineage)), [['customers.ssn']]);
  });

  it('functions in FROM: built-ins carry their arguments, others are opaque', () => {
    const r = analyse('select g, u.a, u.ordinality from customers c, generate_series(1, c.id) g, unnest(array[c.ssn]) with ordinality u(a)');
    assert.deepEqual(r.outputs.map((o) => show(o.lineage)), [['customers.id'], ['customers.ssn'], []]);
    assert.deepEqual(analyse('select * from get_rows() as r(a int, b text)').outputs.map((o) => o.lineage.kind), ['opaque', 'opaque']);
  });

  it('times a typical join (parse included)', () => {
    const sql = 'select c.name, upper(c.email), sum(o.total) from customers c join orders o on o.customer_id = c.id where c.id > $1 group by 1, 2 order by 3 desc limit 10';
    for (let i = 0; i < 200; i++) analyzeLineage(sql, catalog);
    const n = 2000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) analyzeLineage(sql, catalog);
    const us = Number(process.hrtime.bigint() - start) / 1000 / n;
    process.stdout.write(`# lineage of a typical join, parse included: ${us.toFixed(1)} µs per analysis\n`);
    assert.ok(us < 5000);
  });
});
