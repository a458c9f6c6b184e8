import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DB_PASSWORD, API_TOKEN } from '../support/secrets.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

const EXTRA = `
connections:
  - name: app-db
    type: postgres
    upstream: { host: 127.0.0.1, database: test, user: postgres, password: "\${env:PCS_TEST_DB_PASSWORD}" }
  - name: billing-api
    type: http
    upstream: { url: "http://127.0.0.1:9", auth: { type: bearer, token: "\${env:PCS_TEST_API_TOKEN}" } }
policies:
  - name: agents-read-only
    subjects: { groups: [agents] }
    connections: [app-db]
    rules:
      - { match: { sql: { effect: [read] } }, then: allow }
      - { then: deny }
`;

interface Json {
  [k: string]: unknown;
}

describe('admin API', () => {
  let t: TestGateway;
  let admin: string;
  let agent: string;
  const call = async (method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; json: Json; headers: Headers }> => {
    const res = await fetch(t.url + path, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Json) : {}, headers: res.headers };
  };

  before(async () => {
    t = await startTestGateway(EXTRA, { ...process.env, PCS_TEST_DB_PASSWORD: DB_PASSWORD, PCS_TEST_API_TOKEN: API_TOKEN });
    admin = await t.token('alice', ['admins']);
    agent = await t.token('ci-agent', ['agents']);
  });
  after(async () => {
    await t.stop();
  });

  it('serves health, readiness and Prometheus metrics without a token', async () => {
    assert.deepEqual((await call('GET', '/healthz')).json, { status: 'ok' });
    assert.deepEqual((await call('GET', '/readyz')).json, { status: 'ready' });
    const res = await fetch(t.url + '/metrics');
    const text = await res.text();
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    assert.match(text, /^# TYPE portcullis_api_requests_total counter$/m);
    assert.match(text, /portcullis_process_resident_memory_bytes/);
  });

  it('refuses missing, malformed and forged tokens with problem documents', async () => {
    const missing = await call('GET', '/api/v1/whoami');
    assert.equal(missing.status, 401);
    assert.equal(missing.json.code, 'PCS_AUTH_TOKEN_MISSING');
    assert.match(missing.headers.get('content-type') ?? '', /application\/problem\+json/);
    const garbage = await call('GET', '/api/v1/whoami', 'not-a-jwt');
    assert.equal(garbage.status, 401);
    assert.equal(garbage.json.code, 'PCS_AUTH_TOKEN_MALFORMED');
    const [h, p] = admin.split('.');
    const forged = await call('GET', '/api/v1/whoami', `${h}.${p}.${'A'.repeat(86)}`);
    assert.equal(forged.status, 401);
    assert.equal(forged.json.code, 'PCS_AUTH_TOKEN_INVALID');
  });

  it('tells an identity who it is, and keeps admin routes for the admin role', async () => {
    const me = await call('GET', '/api/v1/whoami', agent);
    assert.equal(me.status, 200);
    assert.equal(me.json.subject, 'ci-agent');
    assert.deepEqual(me.json.groups, ['agents']);
    const denied = await call('GET', '/api/v1/connections', agent);
    assert.equal(denied.status, 403);
    assert.equal(denied.json.code, 'PCS_AUTH_FORBIDDEN');
  });

  it('lists connections without ever returning a secret', async () => {
    const res = await call('GET', '/api/v1/connections', admin);
    assert.equal(res.status, 200);
    const body = JSON.stringify(res.json);
    assert.ok(!body.includes(DB_PASSWORD) && !body.includes(API_TOKEN), 'secret in API response');
    const list = res.json.connections as Json[];
    assert.deepEqual(list.map((c) => [c.name, c.type, c.credential]), [['app-db', 'postgres', 'config'], ['billing-api', 'http', 'config']]);
    assert.equal((list[0]?.upstream as Json).password, undefined);
    const unknown = await call('GET', '/api/v1/connections/nope', admin);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.code, 'PCS_CONNECTION_UNKNOWN');
  });

  it('stores a credential in the vault through the API and reports only that it exists', async () => {
    const put = await call('PUT', '/api/v1/connections/app-db/credential', admin, { secret: DB_PASSWORD, kind: 'password' });
    assert.equal(put.status, 204);
    const one = await call('GET', '/api/v1/connections/app-db', admin);
    assert.equal(one.json.credential, 'vault');
    assert.ok(!JSON.stringify(one.json).includes(DB_PASSWORD));
    assert.equal((await t.gw.services.credentials.reveal('app-db'))?.secret, DB_PASSWORD);
    const bad = await call('PUT', '/api/v1/connections/app-db/credential', admin, { secret: '', kind: 'password' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'PCS_API_BAD_REQUEST');
  });

  it('issues, lists and revokes tokens; a revoked token stops working at once', async () => {
    const issued = await call('POST', '/api/v1/tokens', admin, { subject: 'temp-agent', groups: ['agents'], ttl: '5m' });
    assert.equal(issued.status, 201);
    const token = issued.json.token as string;
    assert.equal((await call('GET', '/api/v1/whoami', token)).status, 200);
    const list = await call('GET', '/api/v1/tokens?subject=temp-agent', admin);
    assert.deepEqual((list.json.tokens as Json[]).map((x) => x.jti), [issued.json.jti]);
    assert.ok(!JSON.stringify(list.json).includes(token), 'token string listed');
    assert.equal((await call('DELETE', `/api/v1/tokens/${String(issued.json.jti)}`, admin)).status, 204);
    const after = await call('GET', '/api/v1/whoami', token);
    assert.equal(after.status, 401);
    assert.equal(after.json.code, 'PCS_AUTH_TOKEN_REVOKED');
    assert.equal((await call('DELETE', '/api/v1/tokens/tok_nope', admin)).status, 404);
  });

  it('explains a policy decision', async () => {
    const allow = await call('POST', '/api/v1/policy/test', admin, { subject: 'ci-agent', groups: ['agents'], connection: 'app-db', input: 'SELECT * FROM customers' });
    assert.equal((allow.json.decision as Json).verdict, 'allow');
    const deny = await call('POST', '/api/v1/policy/test', admin, { subject: 'ci-agent', groups: ['agents'], connection: 'app-db', input: 'DROP TABLE customers' });
    assert.equal((deny.json.decision as Json).verdict, 'deny');
    assert.deepEqual((deny.json.decision as Json).rule, { policy: 'agents-read-only', index: 1 });
  });

  it('pages through the audit log and verifies it', async () => {
    const page = await call('GET', '/api/v1/audit?limit=1000', admin);
    assert.equal(page.status, 200);
    const types = (page.json.records as Json[]).map((r) => r.type);
    for (const expected of ['config.changed', 'gateway.started', 'token.issued', 'token.revoked', 'credential.set']) assert.ok(types.includes(expected), `${expected} in ${types.join(',')}`);
    const failed = (page.json.records as Json[]).find((r) => r.type === 'auth.failed' && (r.data as Json).code === 'PCS_AUTH_TOKEN_MALFORMED');
    assert.deepEqual(failed?.data, { protocol: 'api', route: '/api/v1/whoami', client: '127.0.0.1', code: 'PCS_AUTH_TOKEN_MALFORMED' });
    const verify = await call('GET', '/api/v1/audit/verify', admin);
    assert.equal(verify.json.ok, true);
  });

  it('lists recorded sessions and serves one with its events, paged', async () => {
    const recorder = t.gw.recorder;
    const rec = recorder.start({ connection: 'app-db', protocol: 'postgres', subject: 'api-test-agent', clientAddr: '127.0.0.1:40000' });
    for (let i = 1; i <= 5; i++) rec.event('statement', { text: `SELECT ${i}`, verdict: 'allow', rows: 1 });
    rec.end('closed', { bytes_in: 10, bytes_out: 20 });
    const other = recorder.start({ connection: 'app-db', protocol: 'postgres', subject: 'api-test-agent', clientAddr: null });
    await recorder.flush();
    const list = await call('GET', '/api/v1/sessions?subject=api-test-agent', admin);
    assert.equal(list.status, 200);
    assert.deepEqual(new Set((list.json.sessions as Json[]).map((s) => s.id)), new Set([rec.id, other.id]));
    const active = await call('GET', '/api/v1/sessions?subject=api-test-agent&active=true', admin);
    assert.deepEqual((active.json.sessions as Json[]).map((s) => [s.id, s.status]), [[other.id, 'active']]);
    const page = await call('GET', '/api/v1/sessions?subject=api-test-agent&limit=1', admin);
    const next = await call('GET', `/api/v1/sessions?subject=api-test-agent&limit=1&before=${String(page.json.next_before)}`, admin);
    assert.equal((next.json.sessions as Json[]).length, 1);
    assert.notEqual((next.json.sessions as Json[])[0]?.id, (page.json.sessions as Json[])[0]?.id);

    const one = await call('GET', `/api/v1/sessions/${rec.id}?after_seq=2&limit=2`, admin);
    assert.equal(one.status, 200);
    const session = one.json.session as Json;
    assert.deepEqual([session.status, session.bytesIn, session.bytesOut, session.statements, session.clientAddr], ['closed', 10, 20, 5, '127.0.0.1:40000']);
    assert.deepEqual((one.json.events as Json[]).map((e) => [e.seq, (e.data as Json).text]), [[3, 'SELECT 3'], [4, 'SELECT 4']]);
    assert.equal(one.json.next_after_seq, 4);
    const missing = await call('GET', '/api/v1/sessions/s_nope', admin);
    assert.equal(missing.status, 404);
    assert.equal(missing.json.code, 'PCS_API_NOT_FOUND');
    assert.equal((await call('GET', '/api/v1/sessions', agent)).status, 403);
    assert.equal((await call('GET', '/api/v1/sessions?limit=0', admin)).json.code, 'PCS_API_BAD_REQUEST');
    other.end('closed');
  });

  it('token exchange answers with OAuth errors for a wrong grant or a bad assertion', async () => {
    const form = (fields: Record<string, string>) => fetch(t.url + '/api/v1/auth/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
    const wrongGrant = await form({ grant_type: 'client_credentials' });
    assert.equal(wrongGrant.status, 400);
    assert.equal(((await wrongGrant.json()) as Json).error, 'unsupported_grant_type');
    const missing = await form({ grant_type: 'urn:ietf:params:oauth:grant-type:saml2-bearer' });
    assert.equal(((await missing.json()) as Json).error, 'invalid_request');
    const garbage = await form({ grant_type: 'urn:ietf:params:oauth:grant-type:saml2-bearer', assertion: Buffer.from('<not-saml/>').toString('base64url') });
    assert.equal(garbage.status, 400);
    const body = (await garbage.json()) as Json;
    assert.equal(body.error, 'invalid_grant');
    assert.equal(body.code, 'PCS_AUTH_SAML_INVALID');
  });

  it('answers unknown routes and bad JSON with problem documents', async () => {
    const nf = await call('GET', '/api/v1/nothing', admin);
    assert.equal(nf.status, 404);
    assert.equal(nf.json.code, 'PCS_API_NOT_FOUND');
    const res = await fetch(t.url + '/api/v1/tokens', { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: '{"subject":' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as Json).code, 'PCS_API_BAD_REQUEST');
  });

  it('writes structured JSON logs with a request id and no secret', () => {
    const lines = readFileSync(join(t.dir, 'gateway.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Json);
    const req = lines.find((l) => l.msg === 'api request' && l.route === '/api/v1/whoami');
    assert.ok(req, 'request line logged');
    assert.equal(typeof req.reqId, 'string');
  });
});
