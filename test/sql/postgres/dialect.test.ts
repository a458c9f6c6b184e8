// The PostgreSQL dialect behind src/sql/dialect.ts: one parse serves policy's analysis and
// masking's lineage, and lineage() over a whole text gives what the per-aspect analyses give
// one statement at a time.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { TextLineage } from '../../../src/sql/dialect.ts';
import { clearSqlAnalysisCache } from '../../../src/sql/postgres/analyze.ts';
import { postgresDialect } from '../../../src/sql/postgres/dialect.ts';
import { analyzeLineage, analyzePredicates, analyzeWrites } from '../../../src/sql/postgres/lineage/lineage.ts';
import { parserStats } from '../../../src/sql/postgres/parse.ts';
import { createRelationCatalog } from '../../../src/sql/relation-catalog.ts';

const catalog = createRelationCatalog(
  [
    ...['id', 'name', 'email', 'ssn'].map((column, i) => ({ schema: 'public', relation: 'customers', column, position: i + 1 })),
    ...['id', 'body'].map((column, i) => ({ schema: 'public', relation: 'notes', column, position: i + 1 })),
    { schema: 'public', relation: 'v', column: 'mail', position: 1 },
  ],
  [{ schema: 'public', relation: 'v', definition: 'SELECT customers.email AS mail FROM customers WHERE customers.id > 0' }],
);
const searchPath = ['public'];
const cols = (list: TextLineage['predicateColumns']): string[] => list.map((c) => `${c.table}.${c.column}`).sort();

describe('the PostgreSQL dialect', () => {
  before(async () => {
    await postgresDialect.load();
    clearSqlAnalysisCache();
  });

  it('reads lineage from the tree analyze() parsed', () => {
    const sql = 'SELECT name, ssn FROM customers WHERE email = $1 /* dialect test */';
    const before = parserStats.statements;
    const action = postgresDialect.analyze(sql, { searchPath });
    const lineage = postgresDialect.lineage(sql, catalog, { searchPath, writes: true });
    assert.equal(parserStats.statements - before, 1);
    assert.deepEqual(action.statements.map((s) => s.relations), [[{ name: 'public.customers', access: 'read' }]]);
    assert.deepEqual(lineage.results.map((r) => r.map((o) => o.name)), [['name', 'ssn']]);
    assert.deepEqual(cols(lineage.predicateColumns), ['customers.email']);
    assert.deepEqual(lineage.writes, []);
  });

  it('gives each statement that sends rows its own outputs, and the predicates of all', () => {
    const sql = "UPDATE notes SET body = 'x' WHERE id = 3; SET search_path = public; SELECT mail FROM v; SELECT email FROM customers WHERE ssn LIKE '1%'";
    const lineage = postgresDialect.lineage(sql, catalog, { searchPath, writes: false });
    const one = (text: string) => analyzeLineage(text, catalog, { searchPath });
    assert.deepEqual(lineage.results, [one('SELECT mail FROM v')?.outputs, one("SELECT email FROM customers WHERE ssn LIKE '1%'")?.outputs]);
    assert.deepEqual(cols(lineage.predicateColumns), cols(analyzePredicates(sql, catalog, { searchPath }).predicateColumns));
    // The view's own WHERE filters on the agent's behalf: customers.id counts.
    assert.deepEqual(cols(lineage.predicateColumns), ['customers.id', 'customers.ssn', 'notes.id']);
  });

  it('traces writes only when asked, as analyzeWrites does', () => {
    const sql = 'INSERT INTO notes (body) SELECT ssn FROM customers; CREATE TABLE t AS SELECT email FROM customers';
    assert.deepEqual(postgresDialect.lineage(sql, catalog, { searchPath, writes: false }).writes, []);
    const writes = postgresDialect.lineage(sql, catalog, { searchPath, writes: true }).writes;
    assert.deepEqual(writes, analyzeWrites(sql, catalog, { searchPath }));
    assert.deepEqual(writes.map((w) => (w.target.kind === 'column' ? `${w.target.table}.${w.target.column}` : w.target.name)), ['notes.body', 't.email']);
  });

  it('says when the analysis read a literal value (cache by exact text)', () => {
    assert.equal(postgresDialect.lineage('SELECT id, ssn FROM customers ORDER BY 2', catalog, { searchPath, writes: false }).readsLiterals, true);
    assert.equal(postgresDialect.lineage('SELECT id, ssn FROM customers WHERE id = 2', catalog, { searchPath, writes: false }).readsLiterals, false);
  });

  it('fails closed on a text that does not parse, in outputs, predicates and writes', () => {
    const lineage = postgresDialect.lineage('SELEC ssn FROM customers', catalog, { searchPath, writes: true });
    assert.equal(lineage.results.length, 1);
    assert.equal(lineage.results[0]?.[0]?.lineage.kind, 'opaque');
    assert.match(lineage.opaquePredicates[0] ?? '', /statement does not parse: syntax error/);
    assert.deepEqual(lineage.writes.map((w) => w.target), [{ kind: 'file', name: '(unparsable statement)' }]);
  });

  it('takes the empty text as the empty query the server sees: no statement, no writes', () => {
    const lineage = postgresDialect.lineage('', catalog, { searchPath, writes: true });
    assert.deepEqual(lineage.writes, []);
    assert.equal(postgresDialect.analyze('').statements.length, 0);
  });
});
