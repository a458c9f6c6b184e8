// ReviewService over a real SQLite store, and two "replicas": two services, each with its own
// store connection to the same file (in this process, and in two processes), that share
// approvals through the store only.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ReviewSpec } from '../../src/core/decision.ts';
import type { Identity } from '../../src/core/identity.ts';
import type { ReviewedAction } from '../../src/reviews/review.ts';
import { ReviewService } from '../../src/reviews/service.ts';
import { openStore, type Store } from '../../src/store/store.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { MemoryAudit } from '../identity/helpers/audit.ts';
import { storeDb } from '../support/store-db.ts';
import { tempDir } from '../support/tmp.ts';

const ACTION: ReviewedAction = { kind: 'sql', text: 'DELETE FROM orders WHERE id = 7', params: null };
const APPROVER: Identity = { subject: 'alice', groups: ['dba'], roles: [], issuer: 'test', method: 'local' };

function spec(uses: number): ReviewSpec {
  return { mode: 'hold', timeoutSeconds: 60, approvers: { groups: ['dba'], min: 1, allGroups: false }, uses, validForSeconds: 300 };
}

const opened: { close(): unknown }[] = [];
after(async () => {
  for (const o of opened.reverse()) await o.close();
});

async function replica(file: string, audit = new MemoryAudit()): Promise<{ store: Store; reviews: ReviewService; audit: MemoryAudit }> {
  const store = await openStore(`sqlite:${file}`);
  opened.push(store);
  const reviews = await ReviewService.open({ store, audit, notifier: { notify: () => {} }, logger: createLogger('silent'), agentGroups: ['agents'] });
  opened.push(reviews);
  return { store, reviews, audit };
}

/** An approved review of ACTION for `ci-agent` on `orders-db`, created and approved on `on`. */
async function approved(on: ReviewService, uses: number): Promise<string> {
  const review = await on.requestAction({ subject: 'ci-agent', connection: 'orders-db', action: ACTION, rule: null, review: spec(uses), reason: null, session: null });
  await on.vote(review.id, APPROVER, 'approve', null);
  return review.id;
}

const take = (r: ReviewService): Promise<string | undefined> | undefined => r.consume('ci-agent', 'orders-db', ACTION, null);

describe('ReviewService use counts', () => {
  it('answers at once, without a promise, when it knows no approval', async () => {
    const { reviews } = await replica(join(tempDir('pcs-reviews-'), 'p.db'));
    assert.equal(take(reviews), undefined);
    await approved(reviews, 1);
    assert.equal(reviews.consume('ci-agent', 'orders-db', { ...ACTION, text: 'DELETE FROM orders' }, null), undefined);
    assert.equal(reviews.consume('someone-else', 'orders-db', ACTION, null), undefined);
  });

  it('takes the uses of an approval in the store and audits each one', async () => {
    const { store, reviews, audit } = await replica(join(tempDir('pcs-reviews-'), 'p.db'));
    const id = await approved(reviews, 2);
    assert.equal(await take(reviews), id);
    assert.equal(await take(reviews), id);
    assert.equal(take(reviews), undefined, 'used up: it left memory');
    const row = await storeDb(store).selectFrom('reviews').select(['uses_left', 'status']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual(row, { uses_left: 0, status: 'approved' });
    assert.deepEqual(audit.ofType('review.used').map((e) => e.data.uses_left), [1, 0]);
  });

  it('two replicas consuming one single-use approval at once: exactly one wins', async () => {
    for (let round = 0; round < 5; round++) {
      const file = join(tempDir('pcs-reviews-'), 'p.db');
      const a = await replica(file);
      const id = await approved(a.reviews, 1);
      // Opened after the approval: it loads the grant from the store, as a restarted replica does.
      const b = await replica(file);
      const results = await Promise.all([take(a.reviews), take(b.reviews)]);
      assert.deepEqual(results.filter((r) => r === id).length, 1, `round ${round}: ${JSON.stringify(results)}`);
      assert.ok(results.every((r) => r === id || r === undefined));
      // The loser forgot the approval: it answers without the store from now on.
      assert.equal(take(a.reviews), undefined);
      assert.equal(take(b.reviews), undefined);
      assert.equal(a.audit.ofType('review.used').length + b.audit.ofType('review.used').length, 1);
    }
  });

  it('a review with uses: 3 yields exactly 3 consumptions across both replicas', async () => {
    const file = join(tempDir('pcs-reviews-'), 'p.db');
    const a = await replica(file);
    const id = await approved(a.reviews, 3);
    const b = await replica(file);
    const attempts = Array.from({ length: 8 }, (_, i) => take(i % 2 === 0 ? a.reviews : b.reviews));
    const results = await Promise.all(attempts);
    assert.equal(results.filter((r) => r === id).length, 3, JSON.stringify(results));
    const row = await storeDb(a.store).selectFrom('reviews').select('uses_left').where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.uses_left, 0);
    const used = [...a.audit.ofType('review.used'), ...b.audit.ofType('review.used')].map((e) => e.data.uses_left).sort();
    assert.deepEqual(used, [0, 1, 2], 'each use saw its own count: none was taken twice');
  });

  it('a grant used up on one replica is refused on the other, which then forgets it', async () => {
    const file = join(tempDir('pcs-reviews-'), 'p.db');
    const a = await replica(file);
    const id = await approved(a.reviews, 1);
    const b = await replica(file);
    assert.equal(await take(a.reviews), id);
    assert.equal(await take(b.reviews), undefined);
    assert.equal(take(b.reviews), undefined);
  });

  it('two gateway processes on one store: a review with uses: 3 runs exactly 3 times in all', async () => {
    const run = promisify(execFile);
    const worker = fileURLToPath(new URL('./fixtures/consume-worker.ts', import.meta.url));
    for (let round = 0; round < 2; round++) {
      const file = join(tempDir('pcs-reviews-'), 'p.db');
      const a = await replica(file);
      const id = await approved(a.reviews, 3);
      const start = (name: string, peer: string) => run(process.execPath, ['--import', 'tsx', worker, file, '4', name, peer], { timeout: 30_000 });
      const [x, y] = await Promise.all([start('a', 'b'), start('b', 'a')]);
      const got = [Number(x.stdout), Number(y.stdout)];
      assert.equal(Number(x.stdout) + Number(y.stdout), 3, `round ${round}: ${JSON.stringify(got)}`);
      const row = await storeDb(a.store).selectFrom('reviews').select('uses_left').where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(row.uses_left, 0);
    }
  });
});
