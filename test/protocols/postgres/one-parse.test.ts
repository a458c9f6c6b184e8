// One parse per new statement text (issue 15, item 1): the adapter's chain for a statement
// under column masks (policy analysis, statement masking with lineage, predicates and writes,
// the COPY output format) runs the PostgreSQL grammar once, and not at all for a text that
// differs from an earlier one only in its literals.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { MaskSpec } from '../../../src/core/decision.ts';
import { MaskPlanner } from '../../../src/masking/plan.ts';
import { statementMasking } from '../../../src/masking/statement.ts';
import { relationSnapshot } from '../../../src/protocols/postgres/masking/relations.ts';
import { sqlAction } from '../../../src/protocols/postgres/to-action.ts';
import { clearSqlAnalysisCache } from '../../../src/sql/postgres/analyze.ts';
import { copyOutputFormat } from '../../../src/sql/postgres/copy-format.ts';
import { postgresDialect } from '../../../src/sql/postgres/dialect.ts';
import { parserStats } from '../../../src/sql/postgres/parse.ts';

const rules: readonly MaskSpec[] = Object.freeze([
  Object.freeze({ column: 'public.customers.email', with: 'partial' as const }),
  Object.freeze({ column: '*.*.ssn', with: 'redact' as const }),
]);
const plan = new MaskPlanner(Buffer.alloc(32, 3)).plan(rules);
const snapshot = relationSnapshot(
  [
    ['100', 'public', 'customers', 'r', '1', 'id', null],
    ['100', 'public', 'customers', 'r', '2', 'email', null],
    ['100', 'public', 'customers', 'r', '3', 'ssn', null],
    ['101', 'public', 'notes', 'r', '1', 'body', null],
  ],
  ['public'],
);
const PATH = ['public'];
const NO_PREPARED = new Map();

/** What the session does for one Query under column masks; the parser runs it took. */
function decideAndMask(sql: string): { parses: number; refused: string | undefined } {
  const before = { ...parserStats };
  const action = sqlAction(sql, PATH, undefined, NO_PREPARED);
  const masking = statementMasking(postgresDialect, action, plan, snapshot, PATH, { unknownLineage: 'mask', pathMayMove: false });
  if (action.statements.some((s) => s.command === 'copy')) copyOutputFormat(sql);
  assert.equal(parserStats.definitions, before.definitions, 'no view definition in these statements');
  return { parses: parserStats.statements - before.statements, refused: masking?.refusal?.code };
}

describe('one parse per statement text', () => {
  before(async () => {
    await postgresDialect.load();
    clearSqlAnalysisCache();
  });

  it('parses a new text once for policy, lineage, predicates and writes', () => {
    const texts = [
      'SELECT id, email FROM customers WHERE ssn LIKE $1',
      "INSERT INTO notes (body) SELECT email FROM customers WHERE id = 7",
      "UPDATE notes SET body = 'x' WHERE body = 'y' RETURNING body",
      'SET search_path = public; SELECT email FROM customers; SELECT ssn FROM customers ORDER BY 1',
      "COPY (SELECT id, email FROM customers) TO STDOUT WITH (FORMAT csv, DELIMITER ';')",
      'SELEC email FROM customers',
    ];
    for (const sql of texts) assert.equal(decideAndMask(sql).parses, 1, sql);
  });

  it('really analyses what it parsed once: a write of a masked column is refused', () => {
    assert.equal(decideAndMask("INSERT INTO notes (body) SELECT email FROM customers WHERE id = 8 AND 'a' = 'a'").refused, 'PCS_MASK_WRITE_REFUSED');
  });

  it('does not parse a text that differs from an analysed one only in literals', () => {
    assert.equal(decideAndMask('SELECT id, email FROM customers WHERE id = 1001').parses, 1);
    for (let n = 1002; n < 1010; n++) assert.equal(decideAndMask(`SELECT id, email FROM customers WHERE id = ${n}`).parses, 0);
  });

  it('parses once when only the masking analysis misses (its cache keyed by exact text)', () => {
    // ORDER BY 2 names an output by value: masking caches it by the exact text, policy by its shape.
    assert.equal(decideAndMask('SELECT id, email FROM customers ORDER BY 2 LIMIT 10').parses, 1);
    assert.equal(decideAndMask('SELECT id, email FROM customers ORDER BY 2 LIMIT 11').parses, 1);
  });
});
