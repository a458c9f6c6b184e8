// Mask rules travel from the configuration through policy.decide to a mask plan intact,
// custom detectors included.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import { parseConfig } from '../../src/config/load.ts';
import { MaskPlanner } from '../../src/masking/plan.ts';
import { compilePolicies } from '../../src/policy/compile.ts';
import { decide } from '../../src/policy/decide.ts';
import { analyzePostgres, loadSqlAnalyzer } from '../../src/sql/postgres/analyze.ts';

it('a decision carries column, detector and custom masks that a plan can apply', async () => {
  await loadSqlAnalyzer();
  const { config } = parseConfig(`
connections:
  - { name: db, type: postgres, upstream: { host: 127.0.0.1, database: d, user: u } }
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: [db]
    rules: [ { then: allow } ]
    masks:
      - { column: public.customers.email, with: partial }
      - { detector: payment_card, with: partial }
      - { detector: custom, name: employee_id, pattern: "EMP-[0-9]{6}", with: redact }
`);
  const identity = { subject: 'bot', groups: ['agents'], roles: [], issuer: 'test', method: 'local' as const };
  const decision = decide(compilePolicies(config.policies), identity, { name: 'db', type: 'postgres' }, analyzePostgres('select * from customers'));
  assert.equal(decision.verdict, 'allow');
  const plan = new MaskPlanner(randomBytes(32)).plan(decision.masks);
  assert.equal(plan.columnMask('public', 'customers', 'email')?.with, 'partial');
  assert.equal(plan.columnMask('public', 'customers', 'name'), undefined);
  assert.equal(plan.scanner?.scan('badge EMP-123456, card 4242 4242 4242 4242'), 'badge ****, card **** **** **** 4242');
});
