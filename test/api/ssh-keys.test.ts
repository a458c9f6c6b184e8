// /api/v1/ssh-keys: admins register, list and revoke public keys; the running gateway's login
// path follows at once; refusals are problem documents with stable codes; a private key sent
// by mistake is refused and appears nowhere (response, logs, store).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { keygen, type KeyPair } from '../support/ssh-keygen.ts';
import { storeDb } from '../support/store-db.ts';

type Json = Record<string, unknown>;

const blobOf = (pub: string): Buffer => Buffer.from(pub.trim().split(/\s+/)[1] ?? '', 'base64');
const ref = { connection: { name: 'build-box', type: 'ssh' }, protocol: 'ssh', clientAddr: '127.0.0.1:1' };

describe('admin API: ssh keys', () => {
  let t: TestGateway;
  let admin: string;
  let agent: string;
  let ed: KeyPair;
  let ecdsa: KeyPair;

  const call = async (method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; json: Json; text: string }> => {
    const res = await fetch(t.url + path, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Json) : {}, text };
  };

  before(async () => {
    t = await startTestGateway();
    admin = await t.token('alice', ['admins']);
    agent = await t.token('ci-agent', ['agents']);
    [ed, ecdsa] = await Promise.all([keygen('ed25519', { comment: 'ci@runner' }), keygen('ecdsa')]);
  });
  after(async () => {
    await t.stop();
  });

  it('registers a key for an admin only, and the login path knows it at once', async () => {
    assert.equal((await call('POST', '/api/v1/ssh-keys', undefined, { subject: 'ci-agent', public_key: ed.pub })).json.code, 'PCS_AUTH_TOKEN_MISSING');
    const forbidden = await call('POST', '/api/v1/ssh-keys', agent, { subject: 'ci-agent', public_key: ed.pub });
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.json.code, 'PCS_AUTH_FORBIDDEN');
    assert.equal(t.gw.gate.acceptsKey(blobOf(ed.pub), ref), false);

    const res = await call('POST', '/api/v1/ssh-keys', admin, { subject: 'ci-agent', groups: ['agents'], public_key: ed.pub, expires_in: '30d' });
    assert.equal(res.status, 201, res.text);
    assert.match(String(res.json.id), /^key_[0-9a-f]{12}$/);
    assert.equal(res.json.fingerprint, ed.fingerprint);
    assert.equal(res.json.type, 'ssh-ed25519');
    assert.equal(res.json.public_key, ed.pub.trim().split(' ').slice(0, 2).join(' '));
    assert.deepEqual(res.json.groups, ['agents']);
    assert.equal(res.json.comment, 'ci@runner');
    assert.equal(res.json.status, 'active');
    assert.equal(res.json.created_by, 'alice');
    assert.ok(Math.abs(Number(res.json.expires_at) - (Date.now() + 30 * 86_400_000)) < 10_000);
    assert.equal(t.gw.gate.acceptsKey(blobOf(ed.pub), ref), true);
  });

  it('refuses duplicates, private keys, non-keys and bad bodies with stable codes', async () => {
    const dup = await call('POST', '/api/v1/ssh-keys', admin, { subject: 'other', public_key: ed.pub });
    assert.equal(dup.status, 409);
    assert.equal(dup.json.code, 'PCS_SSH_KEY_EXISTS');

    const privateKey = readFileSync(ecdsa.file, 'utf8');
    const secretLine = privateKey.split('\n')[2] ?? '';
    assert.ok(secretLine.length > 20);
    const priv = await call('POST', '/api/v1/ssh-keys', admin, { subject: 'ci-agent', public_key: privateKey });
    assert.equal(priv.status, 400);
    assert.equal(priv.json.code, 'PCS_SSH_KEY_PRIVATE');
    assert.ok(!priv.text.includes(secretLine));

    const invalid = await call('POST', '/api/v1/ssh-keys', admin, { subject: 'ci-agent', public_key: 'not a key' });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json.code, 'PCS_SSH_KEY_INVALID');
    for (const body of [{ subject: 'x', public_key: ecdsa.pub, expires_in: '0s' }, { subject: 'x', public_key: ecdsa.pub, roles: ['admin'] }, { public_key: ecdsa.pub }, { subject: 'x', public_key: ecdsa.pub, groups: 'agents' }]) {
      const bad = await call('POST', '/api/v1/ssh-keys', admin, body);
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.equal(bad.json.code, 'PCS_API_BAD_REQUEST', JSON.stringify(body));
    }
    // The private key reached neither the logs nor the store.
    assert.ok(!readFileSync(join(t.dir, 'gateway.log'), 'utf8').includes(secretLine), 'private key in the log');
    const rows = await storeDb(t.gw.services.store).selectFrom('ssh_keys').selectAll().execute();
    assert.ok(!JSON.stringify(rows).includes(secretLine));
  });

  it('lists keys by subject, revoked ones on request; revokes by fingerprint or id', async () => {
    const second = await call('POST', '/api/v1/ssh-keys', admin, { subject: 'deploy-bot', groups: ['deployers'], public_key: ecdsa.pub, comment: 'deploys' });
    assert.equal(second.status, 201, second.text);
    assert.equal((await call('GET', '/api/v1/ssh-keys', agent)).status, 403);
    const all = await call('GET', '/api/v1/ssh-keys', admin);
    assert.deepEqual((all.json.ssh_keys as Json[]).map((k) => k.subject), ['deploy-bot', 'ci-agent']);
    const mine = await call('GET', '/api/v1/ssh-keys?subject=ci-agent', admin);
    assert.deepEqual((mine.json.ssh_keys as Json[]).map((k) => k.fingerprint), [ed.fingerprint]);

    // A fingerprint has '/' and '+' in it: URL-encoded, it still names one key.
    const revoked = await call('DELETE', `/api/v1/ssh-keys/${encodeURIComponent(ed.fingerprint)}`, admin);
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal(revoked.json.status, 'revoked');
    assert.equal(revoked.json.revoked_by, 'alice');
    assert.equal(t.gw.gate.acceptsKey(blobOf(ed.pub), ref), false);
    const again = await call('DELETE', `/api/v1/ssh-keys/${String(revoked.json.id)}`, admin);
    assert.equal(again.status, 200);
    const byId = await call('DELETE', `/api/v1/ssh-keys/${String(second.json.id)}`, admin);
    assert.equal(byId.json.fingerprint, ecdsa.fingerprint);
    const missing = await call('DELETE', `/api/v1/ssh-keys/${encodeURIComponent('SHA256:ab/cd+ef')}`, admin);
    assert.equal(missing.status, 404);
    assert.equal(missing.json.code, 'PCS_SSH_KEY_NOT_FOUND');
    assert.match(String(missing.json.detail), /SHA256:ab\/cd\+ef/);
    assert.equal((await call('DELETE', `/api/v1/ssh-keys/${String(second.json.id)}`, agent)).status, 403);

    assert.deepEqual((await call('GET', '/api/v1/ssh-keys', admin)).json.ssh_keys, []);
    const withRevoked = await call('GET', '/api/v1/ssh-keys?include_revoked=true', admin);
    assert.deepEqual((withRevoked.json.ssh_keys as Json[]).map((k) => k.status), ['revoked', 'revoked']);

    // Registered again after its revocation: a new id, and it works again.
    const readded = await call('POST', '/api/v1/ssh-keys', admin, { subject: 'ci-agent', groups: ['agents'], public_key: ed.pub });
    assert.equal(readded.status, 201, readded.text);
    assert.notEqual(readded.json.id, revoked.json.id);
    assert.equal(t.gw.gate.acceptsKey(blobOf(ed.pub), ref), true);
  });

  it('audits every registration and revocation with the admin as actor', async () => {
    const records = await t.gw.services.audit.list({ limit: 1000 });
    const added = records.filter((r) => r.type === 'ssh_key.added');
    const revoked = records.filter((r) => r.type === 'ssh_key.revoked');
    assert.equal(added.length, 3);
    assert.equal(revoked.length, 2);
    assert.ok([...added, ...revoked].every((r) => r.actor === 'alice'));
    assert.deepEqual(revoked.map((r) => r.data.fingerprint), [ed.fingerprint, ecdsa.fingerprint]);
  });
});
