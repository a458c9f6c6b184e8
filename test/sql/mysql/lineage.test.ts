// MySQL column lineage for masking: what is traced, what stays opaque (fails closed), and that
// lineage walks the tree analyze() parsed (no second parse).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { MaskPlanner } from '../../../src/masking/plan.ts';
import { statementMasking } from '../../../src/masking/statement.ts';
import type { ColumnLineage } from '../../../src/sql/lineage.ts';
import { clearMysqlAnalysisCache } from '../../../src/sql/mysql/analyze.ts';
import { mysqlDialectFor } from '../../../src/sql/mysql/dialect.ts';
import { mysqlParserStats } from '../../../src/sql/mysql/parse.ts';
import { createRelationCatalog } from '../../../src/sql/relation-catalog.ts';

const dialect = mysqlDialectFor({ version: 101119, mariadb: true });
const rows: [string, string, string][] = [
  ['app', 'customers', 'id'], ['app', 'customers', 'email'], ['app', 'customers', 'ssn'],
  ['app', 'notes', 'id'], ['app', 'notes', 'body'],
  ['app', 'v', 'email'],
  ['app', 'w', 'x'],
  ['app', 'vs', 's'],
];
const catalog = createRelationCatalog(
  rows.map(([schema, relation, column], i) => ({ schema, relation, column, position: i })),
  [
    { schema: 'app', relation: 'v', definition: 'select email from customers' },
    { schema: 'app', relation: 'w', definition: undefined },
    // As information_schema.VIEWS prints it.
    { schema: 'app', relation: 'vs', definition: 'select `app`.`customers`.`ssn` AS `s` from `app`.`customers` where (`app`.`customers`.`id` > 1)' },
  ],
);
const PATH = ['app'];

function show(l: ColumnLineage): string {
  return l.kind === 'opaque' ? 'opaque' : l.sources.map((s) => `${s.table}.${s.column}`).join('+');
}

function lineage(text: string, writes = false): ReturnType<typeof dialect.lineage> {
  dialect.analyze(text, { searchPath: PATH });
  return dialect.lineage(text, catalog, { searchPath: PATH, writes });
}

/** Outputs of each result as `name=sources`. */
function outputs(text: string): string[][] {
  return lineage(text).results.map((r) => r.map((o) => `${o.name}=${show(o.lineage)}`));
}

function predicates(text: string): string[] {
  return lineage(text).predicateColumns.map((c) => `${c.table}.${c.column}`).sort();
}

function writes(text: string): string[] {
  return lineage(text, true).writes.map((w) => `${w.target.kind === 'column' ? `${w.target.table}.${w.target.column}` : w.target.name}<-${show(w.lineage)}`);
}

describe('MySQL lineage', () => {
  before(() => dialect.load());

  it('traces select lists through expressions, aliases and built-ins', () => {
    assert.deepEqual(outputs('select id, upper(email) as e, concat(id, ssn), 1 from customers'), [['id=customers.id', 'e=customers.email', 'expr=customers.id+customers.ssn', 'expr=']]);
    assert.deepEqual(outputs('select c.*, n.body from customers c join notes n on n.id = c.id'), [['id=customers.id', 'email=customers.email', 'ssn=customers.ssn', 'body=notes.body']]);
    assert.deepEqual(outputs("select json_object('a', ssn), a.email->>'$.x' from customers a"), [['expr=customers.ssn', 'expr=customers.email']]);
  });

  it('traces derived tables, CTEs, UNION and scalar subqueries', () => {
    assert.deepEqual(outputs('select x.m from (select email as m from customers) x'), [['m=customers.email']]);
    assert.deepEqual(outputs('with t (x) as (select ssn from customers) select x from t'), [['x=customers.ssn']]);
    assert.deepEqual(outputs('select email from customers union select body from notes'), [['email=customers.email+notes.body']]);
    assert.deepEqual(outputs('select (select max(ssn) from customers) from notes'), [['expr=customers.ssn']]);
  });

  it('traces views through their definitions, and their filters as predicates', () => {
    assert.deepEqual(outputs('select * from v'), [['email=customers.email']]);
    assert.deepEqual(outputs('select upper(s) from vs'), [['expr=customers.ssn']]);
    assert.deepEqual(predicates('select s from vs'), ['customers.id']);
  });

  it('keeps what it cannot trace opaque', () => {
    for (const text of [
      'select f(email) from customers', // a stored function
      'select @v', // a user variable set earlier
      'select * from w', // a view without a definition
      'select * from unknown_table',
      'with recursive t as (select 1 union all select 1 from t) select * from t',
      "select load_file('/etc/passwd')",
      'show tables',
      'call p()',
      'execute s',
      'handler customers read first',
      'select * from customers /*! , (select f()) */ x',
    ]) {
      const results = lineage(text).results;
      assert.ok(results.length > 0 && results.every((r) => r.some((o) => o.lineage.kind === 'opaque')), text);
    }
  });

  it('one entry per statement that sends rows', () => {
    assert.deepEqual(outputs('set @a = 1; select 1; insert into notes (body) values (1); select email from customers'), [['expr='], ['email=customers.email']]);
  });

  it('collects predicates at every level', () => {
    assert.deepEqual(predicates("select id from customers where ssn like '1%'"), ['customers.ssn']);
    assert.deepEqual(predicates('select c.id from customers c join notes n on n.id = c.id group by c.email having count(*) > 1 order by c.ssn'), ['customers.email', 'customers.id', 'customers.ssn', 'notes.id']);
    assert.deepEqual(predicates("select id from customers where id in (select id from notes where body = 'x')"), ['customers.id', 'notes.body', 'notes.id']);
    assert.deepEqual(predicates("update notes set body = 'x' where id = 3"), ['notes.id']);
    assert.deepEqual(predicates("delete from customers where email = 'x'"), ['customers.email']);
    assert.deepEqual(predicates('select id, ssn from customers order by 2'), ['customers.ssn']);
    assert.equal(lineage('select id, ssn from customers order by 2').readsLiterals, true);
    assert.deepEqual(lineage('select * from customers natural join notes').opaquePredicates, ['a NATURAL join compares columns not traced']);
  });

  it('traces writes', () => {
    assert.deepEqual(writes('insert into notes (body) select ssn from customers where id = 1'), ['notes.body<-customers.ssn']);
    assert.deepEqual(writes('insert into notes select id, ssn from customers'), ['notes.id<-customers.id', 'notes.body<-customers.ssn']);
    assert.deepEqual(writes("insert into notes set body = 'x'"), ['notes.body<-']);
    assert.deepEqual(writes('update notes n join customers c on c.id = n.id set n.body = c.ssn'), ['notes.body<-customers.ssn']);
    assert.deepEqual(writes('create table t2 as select ssn from customers'), ['t2.ssn<-customers.ssn']);
    assert.deepEqual(writes("select email from customers into outfile '/tmp/x'"), ['outfile /tmp/x<-customers.email']);
    assert.deepEqual(writes('select ssn, email into @x, @y from customers limit 1'), ['@x<-customers.ssn', '@y<-customers.email']);
    assert.deepEqual(writes('set @y = (select email from customers limit 1), @z = 2'), ['@y<-customers.email', '@z<-']);
    assert.deepEqual(writes('select @w := ssn from customers'), ['(user variable)<-customers.ssn']);
    assert.deepEqual(writes('call p()'), ['(function p)<-opaque', '(call)<-opaque']);
    assert.deepEqual(writes('select f(1)'), ['(function f)<-opaque']);
  });
});

describe('one parse per MySQL statement text', () => {
  before(async () => {
    await dialect.load();
    clearMysqlAnalysisCache();
  });
  it('parses a new text once for policy, lineage, predicates and writes, and not again', () => {
    for (const text of ['select id, email from customers where ssn like ?', 'insert into notes (body) select email from customers where id = 7', "update notes set body = 'x' where body = 'y'", 'set @a = (select 1); select email from customers; select ssn from customers order by 1']) {
      const grammarStatements = (text.match(/;/g)?.length ?? 0) + 1;
      const before = mysqlParserStats.parses;
      const action = dialect.analyze(text, { searchPath: PATH });
      dialect.lineage(text, catalog, { searchPath: PATH, writes: action.statements.some((s) => s.effect !== 'read') });
      assert.equal(mysqlParserStats.parses - before, grammarStatements, text);
      dialect.analyze(text, { searchPath: PATH });
      dialect.lineage(text, catalog, { searchPath: PATH, writes: true });
      assert.equal(mysqlParserStats.parses - before, grammarStatements, `${text} (again)`);
    }
  });
});

describe('MySQL statement masking follows the session sql_mode', () => {
  before(() => dialect.load());
  it('masks "ssn" as a column under ANSI_QUOTES, not as a string otherwise, and caches each apart', () => {
    const plan = new MaskPlanner(Buffer.alloc(32, 3)).plan([{ column: 'app.customers.ssn', with: 'redact' }]);
    const relations = { catalog };
    const text = 'SELECT "ssn" FROM customers';
    const run = (sqlMode: string | undefined): unknown => {
      const action = dialect.analyze(text, { searchPath: PATH, ...(sqlMode !== undefined ? { sqlMode } : {}) });
      return statementMasking(dialect, action, plan, relations, PATH, { unknownLineage: 'mask', pathMayMove: false, ...(sqlMode !== undefined ? { sqlMode } : {}) })?.results[0]?.[0];
    };
    assert.equal(run(undefined), undefined);
    const masked = run('ANSI_QUOTES') as { rule?: { with?: string; source?: string }; why?: string } | undefined;
    assert.equal(masked?.rule?.with, 'redact');
    assert.notEqual(masked?.rule?.source, 'fail-closed', JSON.stringify(masked));
    assert.equal(run(undefined), undefined);
  });
});

describe('MySQL analysis cache across literal values', () => {
  before(() => dialect.load());
  it('analyses a text that differs only in literals without the grammar, with its own offsets', () => {
    clearMysqlAnalysisCache();
    const first = dialect.analyze("select email from customers where id = 1 and email = 'a'; delete from notes where id = 5", { searchPath: PATH });
    const before = mysqlParserStats.parses;
    const text = "select email from customers where id = 12345 and email = 'bcd'; delete from notes where id = 6";
    const second = dialect.analyze(text, { searchPath: PATH });
    assert.equal(mysqlParserStats.parses - before, 0);
    assert.deepEqual(second.statements.map((s) => s.text), ["select email from customers where id = 12345 and email = 'bcd'", 'delete from notes where id = 6']);
    assert.deepEqual(second.statements.map((s) => [s.command, s.effect, s.relations]), first.statements.map((s) => [s.command, s.effect, s.relations]));
    // Lineage walks this text's own tree: one parse per statement.
    dialect.lineage(text, catalog, { searchPath: PATH, writes: true });
    assert.equal(mysqlParserStats.parses - before, 2);
  });
  it('keys by exact text what depends on a literal or on sql_mode', () => {
    assert.equal(dialect.normalise('select "a" from t'), undefined);
    assert.equal(dialect.normalise("select 'a\\'' from t"), undefined);
    assert.equal(dialect.normalise("select 'unterminated"), undefined);
    assert.deepEqual(dialect.normalise("select 1, 'x' /*! , 2 */ from t")?.key, 'select \u0002, \u0001 /*! , \u0002 */ from t');
    const a = dialect.analyze("prepare s from 'select * from customers'").statements[0];
    const b = dialect.analyze("prepare s from 'delete from notes'").statements[0];
    assert.equal(a?.effect, 'read');
    assert.equal(b?.effect, 'write');
    assert.equal(dialect.analyze("set sql_mode = 'ANSI_QUOTES'; select \"x\" from t").statements[1]?.command, 'select');
  });
});
