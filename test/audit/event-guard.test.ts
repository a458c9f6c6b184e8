// The audit event guard's canonical fast path: checkEvent marks data whose JSON.stringify is
// already RFC 8785 canonical (keys in sorted order, no toJSON), and the writer stores that text
// as it is. Checked against the `canonicalize` package on random documents, sorted and not, and
// on the events the gate appends on the hot path (which must take the fast path).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import canonicalizeModule from 'canonicalize';
import type { AuditEvent } from '../../src/core/audit-event.ts';
import { GatewayError } from '../../src/core/errors.ts';
import type { Authenticator } from '../../src/identity/authenticator.ts';
import { canonicalEvent, checkEvent } from '../../src/audit/event-guard.ts';
import { Gate } from '../../src/pipeline/gate.ts';
import { analyzePostgres, loadSqlAnalyzer } from '../../src/sql/postgres/analyze.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { MemoryAudit } from '../identity/helpers/audit.ts';
import { actionFor, connection, identity, policiesFrom } from '../policy/support.ts';
import { rng } from '../support/rng.ts';

/** Any known event type: the guard does not care which. */
const T = 'gateway.started';
const reference = canonicalizeModule as unknown as (input: unknown) => string | undefined;

const KEYS = ['', 'a', 'é', '€', 'z', 'A', 'aa', '10', '9', '1', 'B', '\ud83d\ude00', '\uff61', 'b_1', 'bx'];
const LEAVES: unknown[] = [null, true, false, '', 'text "q"', '\u0000\n', '\ud83d\ude00', 0, -0, 1.5, 1e21, 1e-7, 2 ** 53, 5e-324, undefined, new Date(0)];

/** Objects built with keys inserted in sorted order (`sorted`) or in random order. */
function randomValue(next: () => number, depth: number, sorted: boolean): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  const r = next();
  if (depth > 3 || r < 0.35) return pick(LEAVES);
  if (r < 0.55) return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1, sorted));
  return randomObject(next, depth, sorted);
}

function randomObject(next: () => number, depth: number, sorted: boolean): Record<string, unknown> {
  const keys = new Set<string>();
  for (let i = Math.floor(next() * 6); i > 0; i--) keys.add(KEYS[Math.floor(next() * KEYS.length)] as string);
  const order = [...keys];
  if (sorted) order.sort();
  const out: Record<string, unknown> = {};
  for (const k of order) out[k] = randomValue(next, depth + 1, sorted);
  return out;
}

describe('audit event guard: the canonical fast path', () => {
  it('stores exactly the canonical text, fast path or not, on 6000 random documents', () => {
    const next = rng(7);
    let fast = 0;
    for (let i = 0; i < 6000; i++) {
      const data = randomObject(next, 0, i % 2 === 0);
      const checked = checkEvent({ type: 'gateway.started', actor: 'tester', data });
      const expected = reference(JSON.parse(JSON.stringify(data)));
      if (checked.canonical) {
        fast++;
        assert.equal(checked.json, expected, JSON.stringify(data));
      }
      assert.equal(canonicalEvent(checked).dataText, expected);
    }
    // Both paths ran: sorted documents without a Date or integer-like keys take the fast one.
    assert.ok(fast > 1000 && fast < 6000, `fast path taken ${fast} times`);
  });

  it('takes the slow path for keys out of order, integer-like keys and toJSON', () => {
    assert.equal(checkEvent({ type: T, actor: 'a', data: { b: 1, a: 2 } }).canonical, false);
    assert.equal(checkEvent({ type: T, actor: 'a', data: { a: { y: 1, x: 2 } } }).canonical, false);
    assert.equal(checkEvent({ type: T, actor: 'a', data: { list: [{ b: 1, a: 2 }] } }).canonical, false);
    // Property order puts "9" before "10"; code-unit order puts "10" first.
    assert.equal(checkEvent({ type: T, actor: 'a', data: { '9': 1, '10': 2 } }).canonical, false);
    assert.equal(checkEvent({ type: T, actor: 'a', data: { at: new Date(0) } }).canonical, false);
    assert.equal(checkEvent({ type: T, actor: 'a', data: { a: 1, b: [1, 'x'], c: { d: null } } }).canonical, true);
    assert.equal(canonicalEvent(checkEvent({ type: T, actor: 'a', data: { b: 1, a: 2 } })).dataText, '{"a":2,"b":1}');
  });

  it('still refuses secret-named keys and oversized data on the fast path', () => {
    assert.throws(() => checkEvent({ type: T, actor: 'a', data: { a: { password: 'x' } } }), { code: 'PCS_AUDIT_SECRET_FIELD' });
    const big = checkEvent({ type: T, actor: 'a', data: { text: 'x'.repeat(70 * 1024) } });
    assert.equal(big.canonical, true);
    assert.throws(() => canonicalEvent(big), { code: 'PCS_AUDIT_EVENT_INVALID' });
  });

  it('the gate builds its decision and observation records in canonical order', async () => {
    await loadSqlAnalyzer();
    const audit = new MemoryAudit();
    const noTokens: Authenticator = { authenticate: () => Promise.reject(new GatewayError('PCS_AUTH_TOKEN_MISSING')) };
    const policies = policiesFrom(`
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
      - { name: reads, match: { sql: { effect: [read] } }, then: allow }
      - { then: deny, reason: nothing else }
  - name: trial
    mode: shadow
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
      - { then: deny }
`);
    const gate = new Gate({ policies: () => policies, authenticator: noTokens, audit, metrics: new Metrics(), logger: createLogger('silent') });
    const who = identity('ci-agent', ['agents']);
    const ref = (name: string): { id: string; connection: { name: string; type: string }; protocol: string } => ({ id: 's-1', connection: connection(name), protocol: connection(name).type });
    gate.decide(who, ref('prod-db'), analyzePostgres('SELECT 1'));
    gate.decide(who, ref('prod-db'), analyzePostgres('DELETE FROM orders'));
    gate.decide(who, ref('prod-db'), analyzePostgres('SELECT 1'), () => new GatewayError('PCS_MASK_PREDICATE_DENIED', { column: 'customers.ssn', rule: 'agents.masks[0]' }));
    gate.decide(who, ref('billing-api'), await actionFor('billing-api', 'GET /v1/invoices'));
    gate.decide(who, ref('web-1'), await actionFor('web-1', 'ls -la /tmp'));
    gate.observe(who, ref('web-1'), await actionFor('web-1', 'rm -rf /tmp/x'));
    const events: AuditEvent[] = audit.events.filter((e) => e.type === 'policy.decision' || e.type === 'policy.observed');
    assert.equal(events.length, 6);
    for (const e of events) {
      const checked = checkEvent(e);
      assert.equal(checked.canonical, true, checked.json);
      assert.equal(checked.json, reference(JSON.parse(checked.json)));
    }
    assert.ok(events.some((e) => 'shadow' in e.data && 'code' in e.data && e.data.code !== undefined), 'a record with shadow verdicts and a code was checked');
  });
});
