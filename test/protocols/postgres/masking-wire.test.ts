// The wire side of masking without a server: masks per field from lineage and origins
// (partial only on the protected column itself), wire forms per type and format, DataRow
// rewriting that leaves untouched rows as the same buffer, message rewriting, and the
// relation snapshot built from catalog rows.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { analysisCacheStats } from '../../../src/core/analysis-cache-stats.ts';
import type { MaskSpec } from '../../../src/core/decision.ts';
import { MaskPlanner } from '../../../src/masking/plan.ts';
import { loadSqlAnalyzer, analyzePostgres } from '../../../src/sql/postgres/analyze.ts';
import { dataRow, messageWithFields } from '../../../src/protocols/postgres/codec/backend-encode.ts';
import { readMessageFields, type FieldDescription } from '../../../src/protocols/postgres/codec/backend-read.ts';
import { Backend, ErrorField } from '../../../src/protocols/postgres/codec/constants.ts';
import { maskMessage } from '../../../src/protocols/postgres/masking/messages.ts';
import { relationSnapshot } from '../../../src/protocols/postgres/masking/relations.ts';
import { columnMasks, ResultMasker } from '../../../src/protocols/postgres/masking/result.ts';
import { analyzeStatementMasking, statementMasking } from '../../../src/masking/statement.ts';
import { postgresDialect } from '../../../src/sql/postgres/dialect.ts';
import { valueMasker } from '../../../src/protocols/postgres/masking/values.ts';

const KEY = Buffer.alloc(32, 7);
const planner = new MaskPlanner(KEY);
const rules: readonly MaskSpec[] = Object.freeze([
  Object.freeze({ column: 'public.customers.email', with: 'partial' as const, source: 'agents.masks[0]' }),
  Object.freeze({ column: '*.*.ssn', with: 'redact' as const, denyInPredicates: true, source: 'agents.masks[1]' }),
]);
const plan = planner.plan(rules);
const withDetector = planner.plan(Object.freeze([...rules, Object.freeze({ detector: 'email', with: 'redact' as const })]));

// oid 100: customers(id, email, ssn, name); oid 200: view v(mail)
const snapshot = relationSnapshot(
  [
    ['100', 'public', 'customers', 'r', '1', 'id', null],
    ['100', 'public', 'customers', 'r', '2', 'email', null],
    ['100', 'public', 'customers', 'r', '3', 'ssn', null],
    ['100', 'public', 'customers', 'r', '4', 'name', null],
    ['200', 'public', 'v', 'v', '1', 'mail', 'SELECT customers.email AS mail FROM customers;'],
  ],
  ['public'],
);

const field = (name: string, typeOid = 25, tableOid = 0, column = 0, format = 0): FieldDescription => ({ name, tableOid, column, typeOid, format });
const masking = (sql: string) => {
  const action = analyzePostgres(sql, { searchPath: ['public'] });
  return analyzeStatementMasking(postgresDialect, action, plan, snapshot, ['public'], { unknownLineage: 'mask', pathMayMove: false });
};
const values = (frame: Buffer): (string | null)[] => {
  const out: (string | null)[] = [];
  let at = 7;
  for (let i = frame.readUInt16BE(5); i > 0; i--) {
    const len = frame.readInt32BE(at);
    at += 4;
    out.push(len < 0 ? null : frame.toString('utf8', at, at + len));
    if (len > 0) at += len;
  }
  return out;
};

describe('masks per field', () => {
  before(loadSqlAnalyzer);

  it('keeps partial for the protected column itself and redacts what is derived from it', () => {
    const stmt = masking('select email, upper(email), ssn, name from customers');
    const masks = columnMasks(stmt, plan, [field('email', 25, 100, 2), field('upper'), field('ssn', 25, 100, 3), field('name', 25, 100, 4)], snapshot);
    assert.deepEqual(masks.map((m) => m?.rule.with), ['partial', 'redact', 'redact', undefined]);
    assert.match(masks[0]?.why ?? '', /lineage public\.customers\.email/);
  });

  it('redacts a partial column reached through a view (its origin is the view, not the column)', () => {
    const stmt = masking('select mail from v');
    const masks = columnMasks(stmt, plan, [field('mail', 25, 200, 1)], snapshot);
    assert.equal(masks[0]?.rule.with, 'redact');
  });

  it('masks by origin what lineage did not report, and everything when the counts disagree', () => {
    const stmt = masking('select id from customers');
    // As if the server had answered with a protected column lineage never saw.
    const masks = columnMasks(stmt, plan, [field('id', 23, 100, 1), field('ssn', 25, 100, 3)], snapshot);
    assert.equal(masks[0]?.rule.with, 'redact'); // two fields, one output: fail closed
    const one = columnMasks(masking('select 1 as x'), plan, [field('ssn', 25, 100, 3)], snapshot);
    assert.match(one[0]?.why ?? '', /origin public\.customers\.ssn \(missed by lineage\)/);
    const unknown = columnMasks(masking('select 1 as x'), plan, [field('x', 25, 999, 1)], snapshot);
    assert.match(unknown[0]?.why ?? '', /not in the catalog/);
  });

  it('refuses predicates on a deny_in_predicates column, and writes that launder', () => {
    assert.equal(masking("select id from customers where ssn like '1%'")?.refusal?.code, 'PCS_MASK_PREDICATE_DENIED');
    assert.equal(masking('select id from customers order by ssn')?.refusal?.code, 'PCS_MASK_PREDICATE_DENIED');
    assert.equal(masking('select id from customers where email like \'a%\'')?.refusal, undefined);
    assert.equal(masking('insert into customers (name) select email from customers')?.refusal?.code, 'PCS_MASK_WRITE_REFUSED');
    assert.equal(masking('update customers set email = lower(email)')?.refusal, undefined);
  });

  it('traces each statement of a multi-statement text on its own', () => {
    const stmt = masking('select 1 as x; select name, ssn from customers');
    assert.equal(stmt?.results.length, 2);
    assert.deepEqual(stmt?.results[1]?.map((m) => m?.rule.with), [undefined, 'redact']);
    assert.deepEqual(stmt?.results[0], [undefined]);
  });
});

describe('wire forms of a masked value', () => {
  const redact = rules[1] as MaskSpec;
  const v = Buffer.from('078-05-1120');
  it('text-like types take the mask as is, in text and binary format', () => {
    assert.equal(valueMasker(plan, redact, 25, 0)(v)?.toString(), '****');
    assert.equal(valueMasker(plan, redact, 1043, 1)(v)?.toString(), '****');
  });
  it('json and jsonb get a JSON string; jsonb binary keeps its version byte', () => {
    assert.equal(valueMasker(plan, redact, 114, 0)(v)?.toString(), '"****"');
    assert.deepEqual(valueMasker(plan, redact, 3802, 1)(v), Buffer.concat([Buffer.from([1]), Buffer.from('"****"')]));
  });
  it('arrays in text get an array literal; binary non-text types become NULL', () => {
    assert.equal(valueMasker(plan, redact, 1009, 0)(v)?.toString(), '{"****"}');
    assert.equal(valueMasker(plan, redact, 23, 1)(Buffer.alloc(4)), null);
    assert.equal(valueMasker(plan, { ...redact, with: 'null' }, 25, 0)(v), null);
  });
});

describe('DataRow rewriting', () => {
  before(loadSqlAnalyzer);
  const fields = [field('id', 23, 100, 1), field('email', 25, 100, 2), field('ssn', 25, 100, 3), field('name', 25, 100, 4)];

  it('rewrites masked fields and fixes the lengths, NULLs stay NULL', () => {
    const stmt = masking('select * from customers');
    const m = new ResultMasker(plan, fields, columnMasks(stmt, plan, fields, snapshot), [0, 0, 0, 0]);
    assert.equal(m.idle, false);
    const out = m.row(dataRow([Buffer.from('1'), Buffer.from('jane@example.com'), null, Buffer.from('Jane')]));
    assert.deepEqual(values(out), ['1', 'j***@example.com', null, 'Jane']);
    assert.equal(out.readInt32BE(1), out.length - 1);
    assert.equal(m.rowsChanged, 1);
    assert.deepEqual(m.masked.map((c) => [c.name, c.rule]), [['email', 'agents.masks[0]'], ['ssn', 'agents.masks[1]']]);
  });

  it('relays a row with nothing to change as the same buffer, and is idle when nothing can change', () => {
    const stmt = masking('select id, name from customers');
    const two = [fields[0] as FieldDescription, fields[3] as FieldDescription];
    const idle = new ResultMasker(plan, two, columnMasks(stmt, plan, two, snapshot), [0, 0]);
    assert.equal(idle.idle, true);
    const scanning = new ResultMasker(withDetector, two, columnMasks(stmt, withDetector, two, snapshot), [0, 0]);
    const row = dataRow([Buffer.from('2'), Buffer.from('Bob')]);
    assert.equal(scanning.row(row), row);
    assert.deepEqual(values(scanning.row(dataRow([Buffer.from('3'), Buffer.from('mail me: bob@example.org')]))), ['3', 'mail me: ****']);
  });

  it('masks extra fields of a row longer than its description (fail closed)', () => {
    const one = [field('ssn', 25, 100, 3)];
    const m = new ResultMasker(plan, one, columnMasks(masking('select ssn from customers'), plan, one, snapshot), [0]);
    assert.deepEqual(values(m.row(dataRow([Buffer.from('a'), Buffer.from('b')]))), ['****', '****']);
  });
});

describe('messages', () => {
  const error = (code: string, message: string, detail?: string): Buffer =>
    messageWithFields(Backend.ErrorResponse, [[ErrorField.Severity, 'ERROR'], [ErrorField.Code, code], [ErrorField.Message, message], ...(detail ? [[ErrorField.Detail, detail] as const] : [])]);
  const text = (frame: Buffer, f: number): string | undefined => readMessageFields(frame).find(([k]) => k === f)?.[1];

  it('replaces quoted values and withholds details for a statement touching masked data', () => {
    const out = maskMessage(error('22P02', 'invalid input syntax for type integer: "078-05-1120"'), plan, true);
    assert.equal(text(out, ErrorField.Message), 'invalid input syntax for type integer: "****"');
    const dup = maskMessage(error('23505', 'duplicate key value violates unique constraint "customers_email_key"', 'Key (email)=(jane@example.com) already exists.'), plan, true);
    assert.doesNotMatch(text(dup, ErrorField.Detail) ?? '', /jane/);
    assert.equal(text(maskMessage(error('P0001', '078-05-1120'), plan, true), ErrorField.Message)?.includes('078'), false);
  });

  it('withholds quoted names of a statement touching masked data, and leaves other statements alone', () => {
    const typo = error('42703', 'column "emial" does not exist');
    assert.equal(text(maskMessage(typo, plan, true), ErrorField.Message), 'column "****" does not exist');
    assert.equal(maskMessage(typo, plan, false), typo);
    const other = error('22012', 'division by zero');
    assert.equal(maskMessage(other, plan, false), other);
  });

  it('runs detectors over every message', () => {
    const out = maskMessage(error('P0001', 'contact bob@example.org'), withDetector, false);
    assert.equal(text(out, ErrorField.Message), 'contact ****');
  });
});

describe('the statement masking cache', () => {
  const cached = (sql: string) => {
    const action = analyzePostgres(sql, { searchPath: ['public'] });
    return statementMasking(postgresDialect, action, plan, snapshot, ['public'], { unknownLineage: 'mask', pathMayMove: false });
  };

  it('shares one analysis between texts that differ only in literal values', () => {
    const before = { ...analysisCacheStats.masking };
    const a = cached('select id, email from customers where id = 1');
    const b = cached('select id, email from customers where id = 2');
    assert.equal(a, b, 'one entry for both');
    assert.deepEqual({ hits: analysisCacheStats.masking.hits - before.hits, misses: analysisCacheStats.masking.misses - before.misses }, { hits: 1, misses: 1 });
    assert.equal(cached("select name from customers where name = 'x'"), cached("select name from customers where name = 'y'"));
  });

  it('keys by exact text where a literal is read for its value', () => {
    // ORDER BY 3 orders by ssn (an oracle on a masked column); ORDER BY 1 by id.
    const byId = cached('select id, name, ssn from customers order by 1');
    const bySsn = cached('select id, name, ssn from customers order by 3');
    assert.notEqual(byId, bySsn);
    assert.equal(byId?.refusal, undefined);
    assert.equal(bySsn?.refusal?.code, 'PCS_MASK_PREDICATE_DENIED');
    // A non-integer constant first (an expression, no position) must not stand for a later position.
    assert.equal(cached('select id, name, ssn from customers group by 1.5')?.refusal, undefined);
    assert.equal(cached('select id, name, ssn from customers group by 3')?.refusal?.code, 'PCS_MASK_PREDICATE_DENIED');
  });

  it('keys COPY by exact text (its options are literals that change the format)', () => {
    const comma = cached("copy customers to stdout with (format csv, delimiter ',')");
    const pipe = cached("copy customers to stdout with (format csv, delimiter '|')");
    assert.notEqual(comma, pipe);
  });
});
