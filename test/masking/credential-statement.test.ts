// Statement masking with the built-in credential masks alone: lineage masks what traces to
// them and refuses predicates on them; untraced output stays clear (inert) unless the text
// names a credential relation, or a DECLARE/PREPARE reaches one through views, or a cursor over
// one was declared earlier; next to a written mask, everything fails closed as before.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { MaskSpec } from '../../src/core/decision.ts';
import { MaskPlanner } from '../../src/masking/plan.ts';
import { analyzeStatementMasking } from '../../src/masking/statement.ts';
import { credentialMasks } from '../../src/policy/mask-rules.ts';
import { createRelationCatalog } from '../../src/sql/relation-catalog.ts';
import { analyzePostgres, loadSqlAnalyzer } from '../../src/sql/postgres/analyze.ts';
import { postgresDialect } from '../../src/sql/postgres/dialect.ts';

const planner = new MaskPlanner(Buffer.alloc(32, 3));
const builtin = planner.plan(credentialMasks('postgres', []));
const withWritten = planner.plan(Object.freeze([Object.freeze({ column: 'public.items.name', with: 'redact' as const }) as MaskSpec, ...credentialMasks('postgres', [])]));

const cols = (schema: string, relation: string, names: string[]) => names.map((column, i) => ({ schema, relation, column, position: i + 1 }));
const relations = {
  catalog: createRelationCatalog(
    [
      ...cols('pg_catalog', 'pg_authid', ['oid', 'rolname', 'rolsuper', 'rolpassword']),
      ...cols('public', 'items', ['id', 'name']),
      ...cols('public', 'creds', ['rolname', 'secret']),
      ...cols('public', 'creds2', ['secret']),
      ...cols('public', 'names', ['rolname']),
    ],
    [
      { schema: 'public', relation: 'creds', definition: 'SELECT pg_authid.rolname, pg_authid.rolpassword AS secret FROM pg_authid;' },
      { schema: 'public', relation: 'creds2', definition: 'SELECT creds.secret FROM creds;' },
      { schema: 'public', relation: 'names', definition: 'SELECT pg_authid.rolname FROM pg_authid;' },
    ],
    { viewSearchPath: ['public'] },
  ),
};

function masking(sql: string, plan = builtin, carried = false) {
  const action = analyzePostgres(sql, { searchPath: ['public'] });
  const m = analyzeStatementMasking(postgresDialect, action, plan, relations, ['public'], { unknownLineage: 'mask', pathMayMove: false, credentialsCarried: carried });
  assert.ok(m !== undefined);
  return m;
}
const masked = (sql: string, plan = builtin): (string | undefined)[] => (masking(sql, plan).results[0] ?? []).map((c) => c?.rule.source);

describe('statement masking with built-in credential masks', () => {
  before(loadSqlAnalyzer);

  it('masks what traces to a credential column, through expressions, subqueries and views', () => {
    const src = 'builtin:pg_catalog.pg_authid.rolpassword';
    assert.deepEqual(masked('SELECT rolname, rolpassword FROM pg_authid'), [undefined, src]);
    assert.deepEqual(masked('SELECT upper(rolpassword) FROM pg_authid'), [src]);
    assert.deepEqual(masked('SELECT x FROM (SELECT rolpassword AS x FROM pg_authid) s'), [src]);
    assert.deepEqual(masked('SELECT secret FROM creds2'), [src]);
    assert.deepEqual(masked('SELECT * FROM pg_authid'), [undefined, undefined, undefined, src]);
  });

  it('refuses predicates on them', () => {
    for (const sql of ["SELECT rolname FROM pg_authid WHERE rolpassword LIKE 'SCRAM%'", 'SELECT rolname FROM creds ORDER BY secret']) {
      assert.equal(masking(sql).refusal?.code, 'PCS_MASK_PREDICATE_DENIED', sql);
    }
  });

  it('leaves untraced output clear where no credential relation is named: inert', () => {
    for (const sql of ['SELECT my_function()', 'SELECT * FROM unknown_table', 'FETCH ALL c', 'SELECT rolname FROM names', 'SELECT name FROM items WHERE my_function(name)']) {
      const m = masking(sql);
      assert.equal(m.failClosed, undefined, sql);
      assert.equal(m.refusal, undefined, sql);
      assert.equal(m.inert, true, sql);
    }
  });

  it('fails closed where a statement names a credential relation', () => {
    const m = masking('SELECT my_function(a) FROM pg_authid a');
    assert.equal(m.inert, false);
    assert.match(m.results[0]?.[0]?.why ?? '', /^unknown lineage/);
    assert.equal(masking('SELECT rolname FROM pg_authid WHERE my_function(rolname)').refusal?.code, 'PCS_MASK_PREDICATE_UNKNOWN');
  });

  it('DECLARE and PREPARE follow views; a cursor declared over one makes later FETCHes fail closed', () => {
    assert.notEqual(masking('DECLARE c CURSOR FOR SELECT secret FROM creds2').failClosed, undefined);
    assert.notEqual(masking('PREPARE p AS SELECT secret FROM creds').failClosed, undefined);
    // A view that reaches pg_authid only for names still counts: its rows come back untraced.
    assert.notEqual(masking('DECLARE c CURSOR FOR SELECT rolname FROM names').failClosed, undefined);
    assert.equal(masking('DECLARE c CURSOR FOR SELECT name FROM items').failClosed, undefined);
    assert.notEqual(masking('FETCH ALL c', builtin, true).failClosed, undefined);
  });

  it('next to a written mask, untraced output fails closed as before', () => {
    assert.notEqual(masking('SELECT my_function()', withWritten).failClosed, undefined);
    assert.equal(masking('SELECT my_function()', withWritten).inert, false);
  });
});
