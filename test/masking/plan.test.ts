import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileColumnGlob, MaskPlanner } from '../../src/masking/plan.ts';
import type { MaskRule } from '../../src/masking/types.ts';
import { KEY } from './helpers.ts';

const planner = new MaskPlanner(KEY);

describe('column globs', () => {
  it('match schema.table.column with * inside one part', () => {
    const m = compileColumnGlob('billing.*.card_number');
    assert.ok(m('billing.invoices.card_number'));
    assert.ok(!m('public.invoices.card_number'));
    assert.ok(!m('billing.a.b.card_number'));
    assert.ok(compileColumnGlob('*.*.ssn')('hr.people.ssn'));
    assert.ok(!compileColumnGlob('*.*.ssn')('hr.people.ssn_hash'));
    assert.ok(compileColumnGlob('public.customers.email')('public.customers.email'));
    assert.ok(!compileColumnGlob('public.customers.email')('public.customers.emails'));
  });
  it('a glob of fewer parts names the trailing ones', () => {
    assert.ok(compileColumnGlob('ssn')('any.table.ssn'));
    assert.ok(compileColumnGlob('customers.email')('crm.customers.email'));
    assert.ok(!compileColumnGlob('customers.email')('crm.orders.email'));
  });
});

describe('MaskPlanner', () => {
  const masks: readonly MaskRule[] = Object.freeze([
    Object.freeze({ column: 'public.customers.email', with: 'partial', denyInPredicates: false }),
    Object.freeze({ column: '*.*.ssn', with: 'redact', denyInPredicates: true }),
    Object.freeze({ column: 'billing.*.card_number', with: 'hash', denyInPredicates: false }),
    Object.freeze({ detector: 'payment_card', with: 'partial', denyInPredicates: false }),
  ] as const);

  it('answers per column', () => {
    const plan = planner.plan(masks);
    assert.equal(plan.columnMask('public', 'customers', 'email'), masks[0]);
    assert.equal(plan.columnMask('hr', 'people', 'ssn'), masks[1]);
    assert.equal(plan.columnMask('billing', 'invoices', 'card_number'), masks[2]);
    assert.equal(plan.columnMask('public', 'customers', 'name'), undefined);
    assert.equal(plan.columnMask('public', 'customers', 'name'), undefined); // cached miss
    assert.ok(plan.hasColumnRules && !plan.empty);
    assert.deepEqual(plan.scanner?.detectors, ['payment_card']);
  });

  it('is cached by the identity of the masks array', () => {
    assert.equal(planner.plan(masks), planner.plan(masks));
    assert.notEqual(planner.plan([...masks]), planner.plan(masks));
  });

  it('when several column rules match, the strongest function wins and deny_in_predicates adds up', () => {
    const plan = planner.plan([
      { column: '*.*.email', with: 'partial', denyInPredicates: true },
      { column: 'public.customers.*', with: 'hash', denyInPredicates: false },
    ]);
    assert.deepEqual(plan.columnMask('public', 'customers', 'email'), { column: 'public.customers.*', with: 'hash', denyInPredicates: true });
  });

  it('masks column values with the rule function', () => {
    const plan = planner.plan(masks);
    assert.equal(plan.maskValue(masks[0] as MaskRule, 'jane@example.com'), 'j***@example.com');
    assert.equal(plan.maskValue(masks[1] as MaskRule, '123-45-6789'), '****');
    assert.match(plan.maskValue(masks[2] as MaskRule, '4242424242424242') ?? '', /^h:[0-9a-f]{16}$/);
    assert.equal(plan.maskValue({ column: 'x', with: 'null' }, 'v'), null);
    assert.deepEqual(plan.maskBytes(masks[1] as MaskRule, Buffer.from('123-45-6789')), Buffer.from('****'));
  });

  it('hash tokens depend on the planner key, so joins work within a deployment only', () => {
    const rule: MaskRule = { column: 'x', with: 'hash' };
    const other = new MaskPlanner(Buffer.alloc(32, 8));
    assert.equal(planner.plan([rule]).maskValue(rule, 'v'), new MaskPlanner(KEY).plan([rule]).maskValue(rule, 'v'));
    assert.notEqual(planner.plan([rule]).maskValue(rule, 'v'), other.plan([rule]).maskValue(rule, 'v'));
  });

  it('an empty plan needs no work', () => {
    const plan = planner.plan([]);
    assert.ok(plan.empty);
    assert.equal(plan.scanner, undefined);
    assert.equal(plan.columnMask('a', 'b', 'c'), undefined);
  });

  it('per-policy switching: each masks array gets its own detectors', () => {
    const support = planner.plan([{ detector: 'email', with: 'redact' }]);
    const finance = planner.plan([{ detector: 'iban', with: 'partial' }, { detector: 'payment_card', with: 'redact' }]);
    const v = 'jane@example.com paid with 4242 4242 4242 4242';
    assert.equal(support.scanner?.scan(v), '**** paid with 4242 4242 4242 4242');
    assert.equal(finance.scanner?.scan(v), 'jane@example.com paid with ****');
  });

  it('refuses an unknown detector and a custom rule without pattern (the schema prevents both)', () => {
    assert.throws(() => planner.plan([{ detector: 'nope', with: 'redact' }]), /unknown detector nope \(known: private_key/);
    assert.throws(() => planner.plan([{ detector: 'custom', with: 'redact' }]), /needs a name and a pattern/);
  });
});
