// The one review runner every adapter uses, against a real gateway's gate and review service:
// an approval runs the action under a permit (once per use), a denial or a timeout refuses,
// `defer` refuses at once naming the review, and an agent that goes away leaves no waiter.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Identity } from '../../src/core/identity.ts';
import { runReview, type ReviewOutcome, type ReviewRequest } from '../../src/pipeline/review-runner.ts';
import type { Review } from '../../src/reviews/review.ts';
import { analyzePostgres, loadSqlAnalyzer } from '../../src/sql/postgres/analyze.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

const POLICY = `
connections:
  - { name: app-db, type: postgres, upstream: { host: 127.0.0.1, database: test, user: postgres } }
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: [app-db]
    rules:
      - { name: held, match: { sql: { command: [delete] } }, then: review, review: { mode: hold, timeout: 2s, approvers: { groups: [dba] }, uses: 2 } }
      - { name: deferred, match: { sql: { command: [update] } }, then: review, review: { mode: defer, approvers: { groups: [dba] } } }
      - { then: allow }
`;
const DBA: Identity = { subject: 'alice', groups: ['dba'], roles: [], issuer: 'test', method: 'local' };

describe('review runner', () => {
  let t: TestGateway;
  let agent: Identity;
  const session = { id: 's-runner', connection: { name: 'app-db', type: 'postgres' }, protocol: 'postgres' };
  before(async () => {
    await loadSqlAnalyzer();
    t = await startTestGateway(POLICY);
    agent = await t.gw.gate.login(await t.token('ci-agent', ['agents']), session);
  });
  after(() => t.stop());

  function request(sql: string): ReviewRequest {
    const decision = t.gw.gate.decide(agent, session, analyzePostgres(sql));
    if (decision.verdict !== 'review') throw new Error(`expected a review verdict, got ${decision.verdict}`);
    return { subject: agent.subject, connection: 'app-db', action: { kind: 'sql', text: sql, params: null }, decision, session: session.id, reason: null };
  }

  /** Runs a held review; `decide` is called with the review once the agent is told it waits. */
  async function held(sql: string, decide: (review: Review) => Promise<unknown>): Promise<{ outcome: ReviewOutcome; notices: string[] }> {
    const notices: string[] = [];
    const outcome = await runReview(t.gw.services.reviews, request(sql), {
      held: (notice, hint, review) => {
        notices.push(notice, hint);
        void decide(review);
      },
    });
    return { outcome, notices };
  }

  it('runs an approved action under a permit, and an approval with uses: 2 runs exactly twice', async () => {
    const sql = 'DELETE FROM orders WHERE id = 1';
    const { outcome, notices } = await held(sql, (r) => t.gw.services.reviews.vote(r.id, DBA, 'approve', null));
    assert.equal(outcome.kind, 'run');
    assert.ok(outcome.kind === 'run');
    assert.equal(outcome.permit.verdict, 'review');
    assert.match(notices[0] ?? '', /^review r-[0-9a-f]+ created; waiting up to 2 s for approval at http/);
    assert.match(notices[1] ?? '', /portcullis reviews approve r-/);
    // The second use needs no wait; the third makes a new review.
    const again = await runReview(t.gw.services.reviews, request(sql));
    assert.deepEqual([again.kind, again.kind === 'run' ? again.review : ''], ['run', outcome.review]);
    const third = await held(sql, (r) => t.gw.services.reviews.vote(r.id, DBA, 'deny', 'enough'));
    assert.equal(third.outcome.kind, 'refused');
    assert.ok(third.outcome.kind === 'refused');
    assert.equal(third.outcome.error.code, 'PCS_REVIEW_DENIED');
    assert.match(third.outcome.error.message, /denied by alice: enough/);
  });

  it('refuses a held action nobody decides in time', async () => {
    const { outcome } = await held('DELETE FROM orders WHERE id = 2', async () => undefined);
    assert.ok(outcome.kind === 'refused');
    assert.equal(outcome.error.code, 'PCS_REVIEW_EXPIRED');
  });

  it('defers: refused at once, naming the review', async () => {
    const outcome = await runReview(t.gw.services.reviews, request('UPDATE orders SET x = 1'));
    assert.ok(outcome.kind === 'deferred');
    assert.equal(outcome.error.code, 'PCS_REVIEW_PENDING');
    assert.equal(outcome.review.status, 'pending');
    assert.match(outcome.error.message, new RegExp(outcome.review.id));
  });

  it('stops waiting when the agent goes away, leaving no waiter behind; the review stays pending', async () => {
    const reviews = t.gw.services.reviews;
    const gone = new AbortController();
    let id = '';
    const running = runReview(reviews, request('DELETE FROM orders WHERE id = 3'), {
      signal: gone.signal,
      held: (_n, _h, review) => {
        id = review.id;
        setImmediate(() => {
          assert.equal(reviews.waiting(), 1);
          gone.abort();
        });
      },
    });
    const outcome = await running;
    assert.deepEqual(outcome, { kind: 'gone', review: id });
    assert.equal(reviews.waiting(), 0);
    assert.equal((await reviews.get(id))?.status, 'pending');
  });
});
