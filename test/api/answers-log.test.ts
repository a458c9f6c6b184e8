// Every admin API answer of a test gateway lands in a file of its temp folder, which the test
// runner scans for leaked secrets (scripts/run-tests.mjs): this checks that the file is written.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startTestGateway } from '../support/gateway.ts';

describe('admin API answers for the secret scan', () => {
  it('are written to api-answers.log, bodies included', async () => {
    const t = await startTestGateway();
    try {
      const admin = await t.token('root', ['admins']);
      assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
      const denied = await fetch(`${t.url}/api/v1/reviews`);
      assert.equal(denied.status, 401);
      const listed = await fetch(`${t.url}/api/v1/reviews`, { headers: { authorization: `Bearer ${admin}` } });
      assert.equal(listed.status, 200);
      const log = readFileSync(join(t.dir, 'api-answers.log'), 'utf8');
      assert.match(log, /^GET \/healthz 200$/m);
      assert.match(log, /^GET \/api\/v1\/reviews 401\n.*PCS_AUTH_TOKEN_MISSING/m);
      assert.match(log, /^GET \/api\/v1\/reviews 200\n\{"reviews":/m);
    } finally {
      await t.stop();
    }
  });
});
