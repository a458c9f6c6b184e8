import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { claimList, safeText } from '../../src/identity/claims.ts';
import { Backoff } from '../../src/identity/backoff.ts';
import { ReplayCache } from '../../src/identity/saml-replay.ts';
import { isLoopbackHost } from '../../src/identity/urls.ts';

describe('identity helpers', () => {
  it('claimList reads arrays and space/comma separated strings, and ignores other shapes', () => {
    assert.deepEqual(claimList(['a', 'b', 3, '', null]), ['a', 'b']);
    assert.deepEqual(claimList('a b,c , d'), ['a', 'b', 'c', 'd']);
    assert.deepEqual(claimList(''), []);
    assert.deepEqual(claimList({ a: 1 }), []);
    assert.deepEqual(claimList(undefined), []);
  });

  it('safeText strips control characters and truncates', () => {
    assert.equal(safeText('a\nb\u0000c'), 'a?b?c');
    assert.equal(safeText('x'.repeat(300), 10), `${'x'.repeat(10)}...`);
  });

  it('Backoff doubles its wait after each failure and resets on success', () => {
    let now = 0;
    const b = new Backoff(() => now);
    assert.equal(b.waiting, false);
    b.failed();
    assert.equal(b.waiting, true);
    now = 500;
    assert.equal(b.waiting, false);
    b.failed();
    now = 1499;
    assert.equal(b.waiting, true);
    now = 1500;
    assert.equal(b.waiting, false);
    b.succeeded();
    assert.equal(b.waiting, false);
  });

  it('ReplayCache refuses an id until it expires', () => {
    let now = 0;
    const c = new ReplayCache(() => now);
    assert.equal(c.claim('a', 1000), true);
    assert.equal(c.claim('a', 1000), false);
    now = 1000;
    assert.equal(c.claim('a', 2000), true);
    now = 100_000; // past the prune interval: expired ids are forgotten
    c.claim('b', 200_000);
    assert.equal(c.size, 1);
  });

  it('isLoopbackHost accepts only loopback names and addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '[::1]', '::1']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['10.0.0.1', 'example.com', '127.0.0.1.example.com', 'localhost.evil.com', '0.0.0.0']) assert.equal(isLoopbackHost(h), false, h);
  });
});
