// The repositories' contract, run against every way the SQLite store can be opened: with a
// file and its writer thread, with a file and in-thread writes, and in memory. A PostgreSQL
// store joins the list of openers and must pass the same suite.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CHAIN_RULES_URL } from '../../src/audit/chain-rules.ts';
import { GENESIS_HASH } from '../../src/audit/record-hash.ts';
import type { StoredReview } from '../../src/store/repositories/reviews.ts';
import { openStore, type Store } from '../../src/store/store.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { tempDir } from '../support/tmp.ts';

const OPENERS: Record<string, () => Promise<Store>> = {
  'sqlite file, writer thread': () => openStore(`sqlite:${join(tempDir('pcs-store-'), 'p.db')}`),
  'sqlite file, in-thread writes': () => openStore(`sqlite:${join(tempDir('pcs-store-'), 'p.db')}`, { writerThread: false }),
  'sqlite in memory': () => openStore('sqlite::memory:'),
};

function review(id: string, over: Partial<StoredReview> = {}): StoredReview {
  const now = Date.now();
  return { id, kind: 'action', status: 'pending', subject: 'ci-agent', connection: 'orders-db', action: '{"kind":"sql","text":"SELECT 1","params":null}', fingerprint: 'fp', rule: '', reason: null, createdAt: now, expiresAt: now + 60_000, decidedAt: null, decidedBy: null, comment: null, details: '{}', usesLeft: 0, grantUntil: null, ...over };
}

async function withStore(open: () => Promise<Store>, body: (store: Store) => Promise<void>): Promise<void> {
  const store = await open();
  try {
    await body(store);
  } finally {
    await store.close();
  }
}

for (const [name, open] of Object.entries(OPENERS)) {
  describe(`store repositories (${name})`, () => {
    it('reviews: a use is taken only from an approved, running grant with uses left', async () => {
      await withStore(open, async (store) => {
        const now = Date.now();
        await store.reviews.insert(review('r-1'));
        assert.equal(await store.reviews.consumeUse('r-1', now), undefined, 'pending');
        await store.reviews.decide('r-1', { status: 'approved', decidedAt: now, decidedBy: 'alice', comment: null, usesLeft: 2, grantUntil: now + 60_000 });
        assert.equal(await store.reviews.consumeUse('r-1', now), 1);
        assert.equal(await store.reviews.consumeUse('r-1', now + 60_000), undefined, 'the grant is over');
        assert.equal(await store.reviews.consumeUse('r-1', now), 0);
        assert.equal(await store.reviews.consumeUse('r-1', now), undefined, 'used up');
        assert.equal(await store.reviews.consumeUse('r-unknown', now), undefined);
        assert.equal((await store.reviews.get('r-1'))?.review.usesLeft, 0);
        await store.reviews.insert(review('r-2'));
        await store.reviews.decide('r-2', { status: 'denied', decidedAt: now, decidedBy: 'bob', comment: 'no', usesLeft: 5, grantUntil: now + 60_000 });
        assert.equal(await store.reviews.consumeUse('r-2', now), undefined, 'denied');
      });
    });

    it('reviews: live ones with their votes; expiring only what is still pending', async () => {
      await withStore(open, async (store) => {
        const now = Date.now();
        await store.reviews.insert(review('r-a'));
        await store.reviews.insert(review('r-b', { createdAt: now + 1 }));
        await store.reviews.addVote({ reviewId: 'r-a', voter: 'alice', vote: 'approve', groups: '["dba"]', comment: null, at: now });
        await store.reviews.decide('r-b', { status: 'approved', decidedAt: now, decidedBy: 'alice', comment: null, usesLeft: 1, grantUntil: now + 60_000 });
        await store.reviews.expire('r-b', now);
        const live = await store.reviews.live(now);
        assert.deepEqual(live.map((l) => [l.review.id, l.review.status, l.votes.map((v) => v.voter)]).sort(), [['r-a', 'pending', ['alice']], ['r-b', 'approved', []]]);
        assert.deepEqual((await store.reviews.list({ limit: 10, status: 'approved' })).map((l) => l.review.id), ['r-b']);
        await store.reviews.expire('r-a', now);
        assert.equal((await store.reviews.get('r-a'))?.review.status, 'expired');
      });
    });

    it('audit: appends are chained by the rules, refused events reported per event, checkpoints signed once', async () => {
      await withStore(open, async (store) => {
        const { privateKey } = generateKeyPairSync('ed25519');
        assert.equal(await store.audit.head(), undefined);
        const chain = await store.audit.openChain({ signer: { privateKey, keyId: 'k1' }, checkpointEvery: 2, rules: CHAIN_RULES_URL, logger: createLogger('silent') });
        const outcome = await chain.append([
          { type: 'session.started', actor: 'a', json: '{"b":1,"a":2}', canonical: false },
          { type: 'session.started', actor: 'a', json: '{"n":NaN}', canonical: false },
          { type: 'session.ended', actor: 'a', json: '{}', canonical: true },
        ]);
        assert.deepEqual(outcome.refusals.map((o) => o?.code), [undefined, 'PCS_AUDIT_EVENT_INVALID', undefined]);
        assert.deepEqual(outcome.checkpoints.map((c) => c.seq), [2]);
        // Record 2 is signed already: nothing new to sign.
        assert.equal(await chain.checkpoint(), undefined);
        await chain.close();
        const rows = await store.audit.records({ after: undefined, limit: 10 });
        assert.deepEqual(rows.map((r) => [Number(r.seq), r.data]), [[1, '{"a":2,"b":1}'], [2, '{}']]);
        assert.equal(rows[0]?.prevHash, GENESIS_HASH);
        assert.equal(rows[1]?.prevHash, rows[0]?.hash);
        assert.deepEqual(await store.audit.head(), { seq: 2, hash: rows[1]?.hash });
        assert.deepEqual((await store.audit.checkpoints()).map((c) => [Number(c.seq), c.keyId]), [[2, 'k1']]);
        assert.deepEqual(await store.audit.lastCheckpoint(), { seq: 2, keyId: 'k1' });
        assert.deepEqual((await store.audit.records({ after: 1, limit: 10, type: 'session.ended' })).map((r) => Number(r.seq)), [2]);
      });
    });

    it('recordings: batches are idempotent, orphans are ended at their last event, reads page', async () => {
      await withStore(open, async (store) => {
        const writer = store.recordings.openWriter(createLogger('silent'));
        const batch = [
          { op: 'start', sessionId: 's1', connection: 'orders-db', protocol: 'postgres', subject: 'ci-agent', clientAddr: null, at: 1000 },
          { op: 'event', sessionId: 's1', seq: 1, at: 1001, kind: 'statement', data: '{"text":"SELECT 1"}' },
          { op: 'start', sessionId: 's2', connection: 'orders-db', protocol: 'postgres', subject: 'ci-agent', clientAddr: '127.0.0.1', at: 2000 },
          { op: 'event', sessionId: 's2', seq: 1, at: 2005, kind: 'denied', data: '{}' },
          { op: 'end', sessionId: 's2', at: 2010, status: 'closed', bytesIn: 10, bytesOut: 20, statements: 1, dropped: 0, summary: null },
        ] as const;
        await writer.write(batch);
        await writer.write(batch); // a retried batch writes nothing twice
        await writer.close();
        assert.deepEqual((await store.recordings.events('s1', 0, 10)).map((e) => e.seq), [1]);
        assert.deepEqual((await store.recordings.countEvents(['s1', 's2'], ['statement', 'denied'])), new Map([['s1', 1], ['s2', 1]]));
        assert.deepEqual((await store.recordings.listSessions({ limit: 10 })).map((s) => s.id), ['s2', 's1']);
        assert.deepEqual((await store.recordings.listSessions({ limit: 10, active: true })).map((s) => s.id), ['s1']);
        assert.deepEqual((await store.recordings.listSessions({ limit: 10, before: 's2' })).map((s) => s.id), ['s1']);
        assert.deepEqual(await store.recordings.listSessions({ limit: 10, before: 'unknown' }), []);
        assert.equal(await store.recordings.terminateOrphans('{"reason":"test"}'), 1);
        const s1 = await store.recordings.getSession('s1');
        assert.deepEqual([s1?.status, s1?.endedAt, s1?.summary], ['terminated', 1001, '{"reason":"test"}']);
        assert.equal((await store.recordings.getSession('s2'))?.bytesOut, 20);
      });
    });

    it('tokens, SSH keys, credentials, connections and meta', async () => {
      await withStore(open, async (store) => {
        const token = { jti: 't1', subject: 'ci-agent', groups: '[]', roles: '[]', issuedAt: 1, expiresAt: Date.now() + 60_000, issuedBy: 'admin', description: null, revokedAt: null, revokedBy: null };
        await store.tokens.insert(token);
        assert.equal(await store.tokens.revoke('t1', 5, 'admin'), true);
        assert.equal(await store.tokens.revoke('t1', 6, 'admin'), false, 'only the first revoke flips it');
        assert.deepEqual([(await store.tokens.get('t1'))?.revokedAt, (await store.tokens.list({ expiringAfter: Date.now() })).length], [5, 1]);

        const key = { id: 'key_000000000001', fingerprint: 'SHA256:x', keyType: 'ssh-ed25519', publicKey: 'AAAA', subject: 'ci-agent', groups: '[]', comment: null, createdAt: 1, createdBy: 'admin', expiresAt: null, revokedAt: null, revokedBy: null };
        assert.equal(await store.sshKeys.insert(key), true);
        assert.equal(await store.sshKeys.insert({ ...key, id: 'key_000000000002' }), false, 'one live registration per fingerprint');
        assert.deepEqual(await store.sshKeys.revoke(key.id, 2, 'admin'), { changed: true, key: { ...key, revokedAt: 2, revokedBy: 'admin' } });
        assert.equal(await store.sshKeys.insert({ ...key, id: 'key_000000000002', createdAt: 3 }), true, 'registered again once revoked');
        assert.deepEqual((await store.sshKeys.byFingerprint('SHA256:x')).map((k) => k.id), ['key_000000000002', key.id]);
        assert.deepEqual((await store.sshKeys.list({ includeRevoked: false, limit: 10 })).map((k) => k.id), ['key_000000000002']);

        await store.credentials.put({ connection: 'orders-db', kind: 'password', sealed: 'env1', updatedAt: 1, updatedBy: 'admin' });
        await store.credentials.put({ connection: 'orders-db', kind: 'password', sealed: 'env2', updatedAt: 2, updatedBy: 'admin' });
        assert.deepEqual(await store.credentials.get('orders-db'), { kind: 'password', sealed: 'env2' });
        assert.deepEqual(await store.credentials.list(), [{ connection: 'orders-db', kind: 'password', updatedAt: 2, updatedBy: 'admin' }]);
        assert.deepEqual([await store.credentials.delete('orders-db'), await store.credentials.delete('orders-db'), await store.credentials.has('orders-db')], [true, false, false]);

        await store.connections.put({ name: 'orders-db', type: 'postgres', config: '{}', configHash: 'h1', updatedAt: 1 });
        await store.connections.put({ name: 'orders-db', type: 'postgres', config: '{}', configHash: 'h2', updatedAt: 2 });
        assert.deepEqual(await store.connections.hashes(), new Map([['orders-db', 'h2']]));
        await store.connections.delete('orders-db');
        assert.equal((await store.connections.hashes()).size, 0);

        assert.equal(await store.meta.putIfAbsent('k', 'first'), 'first');
        assert.equal(await store.meta.putIfAbsent('k', 'second'), 'first', 'first writer wins');
        await store.meta.put('k', 'third');
        assert.equal(await store.meta.get('k'), 'third');
        await store.ping();
      });
    });
  });
}

describe('openStore', () => {
  it('refuses a backend it does not have, without showing the password', async () => {
    await assert.rejects(openStore('postgres://gw:hunter2@db.example/portcullis'), (err: Error & { code?: string }) => err.code === 'PCS_STORE_UNSUPPORTED' && !err.message.includes('hunter2'));
  });
});
