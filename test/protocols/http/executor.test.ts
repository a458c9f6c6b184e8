// The HTTP executor (what an MCP `http_request` tool call runs through) against a real local
// API that demands its own credential, with no HTTP listener configured: the connection's
// credential injected (a caller's Authorization never passes), the JSON response masked, a
// denied request refused with its PCS code and never sent, a deferred review run after
// approval, truncation, an unreachable upstream as a failure, and the calls recorded into the
// caller's session without the credential.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Executed, ExecutionScope, HttpRun } from '../../../src/pipeline/executor.ts';
import type { SessionRecording } from '../../../src/recorder/recorder.ts';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { testSecret } from '../../support/secrets.ts';
import { storeDb } from '../../support/store-db.ts';

const UPSTREAM_TOKEN = testSecret('http-executor-bearer');
const CALLER_TOKEN = testSecret('http-executor-caller');
const EMAIL = 'qv9.maria@example.com';

function done(r: Executed<HttpRun>): HttpRun {
  assert.equal(r.outcome, 'done', JSON.stringify(r));
  return (r as { value: HttpRun }).value;
}

describe('HTTP executor', () => {
  let upstream: Server;
  let url: string;
  const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];
  let t: TestGateway;
  let recording: SessionRecording;
  let scope: ExecutionScope;

  before(async () => {
    upstream = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(parts).toString() });
        if (req.headers.authorization !== `Bearer ${UPSTREAM_TOKEN}`) {
          res.writeHead(401, { 'content-type': 'application/json' });
          return res.end('{"error":"unauthorised"}');
        }
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' });
        if (req.url?.startsWith('/v1/big') === true) return res.end(JSON.stringify({ data: 'x'.repeat(10_000) }));
        res.end(JSON.stringify({ customers: [{ id: 1, email: EMAIL }], echo: Buffer.concat(parts).toString() }));
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const addr = upstream.address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    t = await startTestGateway(
      `
connections:
  - { name: billing, type: http, upstream: { url: "${url}/v1", auth: { type: bearer, token: "\${env:UPSTREAM_TOKEN}" } } }
  - { name: down, type: http, timeout: 1s, upstream: { url: "http://127.0.0.1:1", auth: { type: bearer, token: x } } }
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    masks:
      - { json: "$..email", with: redact }
    rules:
      - { name: refunds, match: { http: { method: [POST], path: "/refunds/**" } }, then: review, review: { mode: defer, timeout: 60s, approvers: { groups: [dba] } } }
      - { match: { http: { method: [GET, POST] } }, then: allow }
      - { then: deny, reason: agents read and post }
`,
      { ...process.env, UPSTREAM_TOKEN },
    );
    const identity = await t.gw.services.authenticator.authenticate(await t.token('agent-bot', ['agents']), { protocol: 'mcp', connection: 'billing', client: null });
    recording = t.gw.recorder.start({ connection: 'billing', protocol: 'mcp', subject: identity.subject, clientAddr: null });
    scope = { identity, recording, protocol: 'mcp' };
    assert.equal(t.gw.listeners.has('http'), false);
    assert.ok(t.gw.executors.http, 'an HTTP executor without an HTTP listener');
  });

  after(async () => {
    recording?.end('closed');
    await t?.stop();
    await new Promise((r) => upstream.close(r));
  });

  it('sends an allowed request with the connection\'s credential and masks the answer', async () => {
    seen.length = 0;
    const r = done(await t.gw.executors.http!.request(scope, 'billing', { method: 'POST', path: '/customers?limit=1', headers: { 'content-type': 'application/json', authorization: `Bearer ${CALLER_TOKEN}` }, body: '{"q":1}' }, { maxBody: 1 << 20 }));
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-upstream'], 'yes');
    assert.equal(r.truncated, false);
    const body = JSON.parse(r.body) as { customers: { id: number; email: string }[]; echo: string };
    assert.equal(body.customers[0]?.id, 1);
    assert.notEqual(body.customers[0]?.email, EMAIL);
    assert.equal(body.echo, '{"q":1}');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.url, '/v1/customers?limit=1');
    assert.equal(seen[0]?.headers.authorization, `Bearer ${UPSTREAM_TOKEN}`, 'the connection\'s credential, not the caller\'s');
  });

  it('refuses a denied request with its PCS code and never sends it', async () => {
    seen.length = 0;
    const r = await t.gw.executors.http!.request(scope, 'billing', { method: 'DELETE', path: '/customers/1' }, { maxBody: 1024 });
    assert.equal(r.outcome, 'refused', JSON.stringify(r));
    assert.equal(r.outcome === 'refused' && r.refusal.code, 'PCS_POLICY_DENIED');
    assert.match(r.outcome === 'refused' ? r.refusal.message : '', /agents read and post/);
    assert.equal(seen.length, 0);
  });

  it('defers a reviewed request with its review id and sends it after approval', async () => {
    seen.length = 0;
    const call = { method: 'POST', path: '/refunds/7', headers: { 'content-type': 'application/json' }, body: '{"amount":5}' };
    const first = await t.gw.executors.http!.request(scope, 'billing', call, { maxBody: 1024 });
    assert.equal(first.outcome === 'refused' && first.refusal.code, 'PCS_REVIEW_PENDING', JSON.stringify(first));
    const id = first.outcome === 'refused' ? first.refusal.reviewId : undefined;
    assert.match(id ?? '', /^r-[0-9a-f]+$/);
    assert.equal(seen.length, 0);
    const dba = await t.token('alice', ['dba']);
    const res = await fetch(`${t.url}/api/v1/reviews/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${dba}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 200, await res.text());
    assert.equal(done(await t.gw.executors.http!.request(scope, 'billing', call, { maxBody: 1024 })).status, 200);
    assert.equal(seen.length, 1);
  });

  it('keeps maxBody bytes and says it truncated', async () => {
    const r = done(await t.gw.executors.http!.request(scope, 'billing', { method: 'GET', path: '/big' }, { maxBody: 100 }));
    assert.equal(r.body.length, 100);
    assert.equal(r.truncated, true);
  });

  it('reports an unreachable upstream as a failure, and refuses an unknown connection', async () => {
    const r = await t.gw.executors.http!.request(scope, 'down', { method: 'GET', path: '/x' }, { maxBody: 1024 });
    assert.equal(r.outcome, 'failed', JSON.stringify(r));
    await assert.rejects(t.gw.executors.http!.request(scope, 'nope', { method: 'GET', path: '/' }, { maxBody: 1 }), /no connection named nope/);
  });

  it('records the calls into the caller\'s session, without any credential', async () => {
    await t.gw.recorder.flush();
    const db = storeDb(t.gw.services.store);
    const events = await db.selectFrom('session_events').select(['kind', 'data']).where('session_id', '=', recording.id).orderBy('id').execute();
    const kinds = events.map((e) => e.kind);
    assert.ok(kinds.includes('request') && kinds.includes('denied'), kinds.join(','));
    const text = JSON.stringify(events);
    assert.ok(!text.includes(UPSTREAM_TOKEN) && !text.includes(CALLER_TOKEN), 'no credential in the recording');
    assert.ok(!text.includes(EMAIL), 'no masked value in the recording');
    const row = await db.selectFrom('sessions').selectAll().where('id', '=', recording.id).executeTakeFirst();
    assert.equal(row?.ended_at ?? null, null);
  });
});
