import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SqlAction } from '../../src/core/action.ts';
import { analyzePostgres, loadSqlAnalyzer } from '../../src/sql/postgres/analyze.ts';
import { READ_ONLY_AGENTS, startTestGateway, type TestGateway } from '../support/gateway.ts';

const EXTRA = READ_ONLY_AGENTS;

describe('gate: login and decide, audited', () => {
  let t: TestGateway;
  before(async () => {
    await loadSqlAnalyzer();
    t = await startTestGateway(EXTRA);
  });
  after(async () => {
    await t.stop();
  });

  it('records logins, failed logins and every decision in the audit chain', async () => {
    const token = await t.token('ci-agent', ['agents']);
    const conn = { name: 'app-db', type: 'postgres' };
    const identity = await t.gw.gate.login(token, { connection: conn, protocol: 'postgres', clientAddr: '127.0.0.1' });
    await assert.rejects(t.gw.gate.login('garbage', { connection: conn, protocol: 'postgres' }), { code: 'PCS_AUTH_TOKEN_MALFORMED' });
    const session = { id: 's-1', connection: conn, protocol: 'postgres' };
    const read: SqlAction = analyzePostgres('SELECT * FROM orders');
    const write: SqlAction = analyzePostgres('DELETE FROM orders');
    assert.equal(t.gw.gate.decide(identity, session, read).verdict, 'allow');
    assert.equal(t.gw.gate.decide(identity, session, write).verdict, 'deny');
    await new Promise((r) => setTimeout(r, 50));
    const records = await t.gw.services.audit.list({ limit: 1000 });
    const mine = records.filter((r) => ['auth.login', 'auth.failed', 'policy.decision'].includes(r.type));
    assert.deepEqual(mine.map((r) => [r.type, r.actor, r.data.verdict ?? r.data.code ?? r.data.method]), [
      ['auth.login', 'ci-agent', 'local'],
      ['auth.failed', 'anonymous', 'PCS_AUTH_TOKEN_MALFORMED'],
      ['policy.decision', 'ci-agent', 'allow'],
      ['policy.decision', 'ci-agent', 'deny'],
    ]);
    assert.deepEqual(mine[1]?.data, { protocol: 'postgres', connection: 'app-db', client: null, code: 'PCS_AUTH_TOKEN_MALFORMED' });
    assert.deepEqual((mine[3]?.data.action as { text: string }).text, 'DELETE FROM orders');
    const metrics = await t.gw.metrics.registry.getSingleMetricAsString('portcullis_policy_decisions_total');
    assert.match(metrics, /verdict="deny",connection="app-db"} 1/);
    assert.match(metrics, /verdict="allow",connection="app-db"} 1/);
    // Counted by the gate once committed: the login and the two decisions (the authenticator audits the failed login).
    const committed = await t.gw.metrics.registry.getSingleMetricAsString('portcullis_audit_records_total');
    assert.match(committed, /^portcullis_audit_records_total 3$/m);
  });
});
