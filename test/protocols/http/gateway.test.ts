// The HTTP gateway end to end, with curl and fetch against a real local upstream API that
// demands its own credential: injection of each credential kind (the agent's token never
// reaches the upstream), denials as problem documents, a held review that passes once
// approved, masking of nested JSON and of an SSE stream, limits (413, 504), path
// normalisation, and a recording that holds no secret.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { testSecret } from '../../support/secrets.ts';
import { CLIENT_SECRET, makeKey, startIdp, type TestIdp } from '../../identity/helpers/oidc-idp.ts';
import { storeDb } from '../../support/store-db.ts';

const run = promisify(execFile);

const UPSTREAM_TOKEN = testSecret('upstream-bearer');
const BASIC_PASSWORD = testSecret('basic-pw');
const HEADER_KEY = testSecret('header-key');
const QUERY_KEY = testSecret('query-key');

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** The client of an OAuth2 access token (a JWT from the test IdP), read without verifying: the test is about injection. */
function oauthClient(header: string | undefined): string | undefined {
  const jwt = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/.exec(header ?? '')?.[1];
  if (jwt === undefined) return undefined;
  try {
    return (JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as { client_id?: string }).client_id;
  } catch {
    return undefined;
  }
}

/** A small API that answers only with its own credential, and tells what it received. */
async function startUpstream(): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString();
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const url = new URL(req.url ?? '/', 'http://x');
      const authorised =
        req.headers.authorization === `Bearer ${UPSTREAM_TOKEN}` ||
        req.headers.authorization === `Basic ${Buffer.from(`svc:${BASIC_PASSWORD}`).toString('base64')}` ||
        req.headers['x-api-key'] === HEADER_KEY ||
        url.searchParams.get('api_key') === QUERY_KEY ||
        oauthClient(req.headers.authorization) === 'ci-agent';
      if (!authorised) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"unauthorised"}');
        return;
      }
      if (url.pathname.endsWith('/slow')) return void setTimeout(() => res.end('late'), 3000);
      if (url.pathname.endsWith('/export')) {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        for (let i = 0; i < 50; i++) res.write(`{"id":${i},"email":"row${i}@example.com"}\n`);
        res.end();
        return;
      }
      if (url.pathname.endsWith('/download')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 7);
        let sent = 0;
        const pump = (): void => {
          while (sent < 8 * 1024 * 1024) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      if (url.pathname.endsWith('/events')) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'set-cookie': 'upstream_session=abc' });
        let n = 0;
        const timer = setInterval(() => {
          n++;
          res.write(`event: customer\ndata: {"id":${n},"email":"stream${n}@example.com"}\n\n`);
          if (n === 3) {
            clearInterval(timer);
            res.end();
          }
        }, 20);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'upstream_session=abc' });
      // `big` is written by hand: a JavaScript number cannot hold it exactly.
      res.end(JSON.stringify({ path: url.pathname, customers: [{ id: 1, email: 'ana@example.com', profile: { ssn: '219-09-9999', note: 'call bob@example.org' } }, { id: 2, email: 'ben@example.com', profile: { ssn: '078-05-1120' } }] }).replace(/}$/, ',"big":12345678901234567890}'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, seen };
}

describe('HTTP gateway', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let idp: TestIdp;
  let t: TestGateway;
  let base: string;
  let agent: string;
  let dba: string;

  before(async () => {
    up = await startUpstream();
    idp = await startIdp([await makeKey('k1')]);
    const env = { ...process.env, UPSTREAM_TOKEN, BASIC_PASSWORD, HEADER_KEY, QUERY_KEY, CLIENT_SECRET };
    t = await startTestGateway(
      `
connections:
  - { name: billing, type: http, timeout: 1s, upstream: { url: "${up.url}/v1", auth: { type: bearer, token: "\${env:UPSTREAM_TOKEN}" } } }
  - { name: basic-api, type: http, upstream: { url: "${up.url}", auth: { type: basic, username: svc, password: "\${env:BASIC_PASSWORD}" } } }
  - { name: header-api, type: http, host: header-api.gateway.local, upstream: { url: "${up.url}", auth: { type: header, header: x-api-key, value: "\${env:HEADER_KEY}" } } }
  - { name: query-api, type: http, upstream: { url: "${up.url}", auth: { type: query, param: api_key, value: "\${env:QUERY_KEY}" } } }
  - { name: oauth-api, type: http, upstream: { url: "${up.url}", auth: { type: oauth2, token_url: "${idp.issuer}/token", client_id: ci-agent, client_secret: "\${env:CLIENT_SECRET}", scope: api } } }
protocols: { http: { max_request_body: 1000, record_body: 4096 } }
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    masks:
      - { json: "$..email", with: partial }
      - { json: "$.customers[*].profile.ssn", with: redact }
      - { detector: email, with: redact }
    rules:
      - { name: refunds, match: { http: { method: [POST], path: "/refunds/**" } }, then: review, review: { mode: hold, timeout: 20s, approvers: { groups: [dba] } } }
      - { name: no-admin, match: { http: { path: "/admin/**" } }, then: deny, reason: agents stay out of admin }
      - { name: big-payments, match: { http: { method: [POST], path: "/payments", body: [{ path: "$.amount", gt: 1000 }] } }, then: review, review: { mode: defer, approvers: { groups: [dba] } } }
      - { match: { http: { method: [GET, POST] } }, then: allow }
      - { then: deny }
`,
      env,
      '{ api: "127.0.0.1:0", http: "127.0.0.1:0" }',
    );
    base = `http://127.0.0.1:${String(t.gw.listeners.get('http')?.port)}`;
    agent = await t.token('agent-bot', ['agents']);
    dba = await t.token('alice', ['dba']);
  });

  after(async () => {
    await t?.stop();
    up?.server.close();
    await idp?.close();
  });

  const get = (path: string, token = agent, init: RequestInit = {}) => fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string> | undefined) } });

  it('injects a bearer token, never forwards the agent token, and masks nested JSON', async () => {
    const res = await get('/billing/customers?active=1');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { path: string; customers: { email: string; profile: { ssn: string; note?: string } }[] };
    assert.equal(body.path, '/v1/customers');
    assert.deepEqual(body.customers.map((c) => c.email), ['a***@example.com', 'b***@example.com']);
    assert.deepEqual(body.customers.map((c) => c.profile.ssn), ['****', '****']);
    assert.equal(body.customers[0]?.profile.note, 'call ****');
    assert.equal(res.headers.get('set-cookie'), null);
    const last = up.seen.at(-1) as Seen;
    assert.equal(last.headers.authorization, `Bearer ${UPSTREAM_TOKEN}`);
    assert.ok(!JSON.stringify(last.headers).includes(agent));
    assert.equal(last.url, '/v1/customers?active=1');
  });

  it('keeps big numbers exact when it masks a document', async () => {
    const text = await (await get('/billing/customers')).text();
    assert.match(text, /"big":12345678901234567890/);
  });

  it('injects basic auth, a header (routed by host name) and a query parameter', async () => {
    assert.equal((await get('/basic-api/x')).status, 200);
    const byHost = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${agent}`, '-H', 'Host: header-api.gateway.local', `${base}/anything`]);
    assert.equal(byHost.stdout, '200');
    assert.equal((up.seen.at(-1) as Seen).headers['x-api-key'], HEADER_KEY);
    const q = await get('/query-api/x?api_key=agent-chosen');
    assert.equal(q.status, 200);
    assert.match((up.seen.at(-1) as Seen).url, new RegExp(`api_key=${QUERY_KEY}`));
    assert.doesNotMatch((up.seen.at(-1) as Seen).url, /agent-chosen/);
  });

  it('gets, caches and injects an OAuth2 client-credentials token', async () => {
    assert.equal((await get('/oauth-api/a')).status, 200);
    const first = (up.seen.at(-1) as Seen).headers.authorization;
    assert.equal((await get('/oauth-api/b')).status, 200);
    assert.equal((up.seen.at(-1) as Seen).headers.authorization, first);
    assert.equal(oauthClient(first), 'ci-agent');
  });

  it('refuses with problem documents: no token, a denied path, a path climbing out, too big a body', async () => {
    const none = await fetch(`${base}/billing/customers`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="portcullis"');
    const denied = await run('curl', ['-s', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${agent}`, `${base}/billing/admin/users`]);
    const [json, status] = denied.stdout.split('\n');
    assert.equal(status, '403');
    const problem = JSON.parse(json as string) as { code: string; policy: string; detail: string };
    assert.equal(problem.code, 'PCS_POLICY_DENIED');
    assert.equal(problem.policy, 'agents');
    assert.match(problem.detail, /agents stay out of admin/);
    const sneaky = await run('curl', ['-s', '--path-as-is', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${agent}`, `${base}/billing/invoices/../admin/users`]);
    assert.equal(sneaky.stdout, '403');
    const encoded = await get('/billing/invoices/..%2Fadmin');
    assert.equal(encoded.status, 400);
    const big = await get('/billing/upload', agent, { method: 'POST', body: 'x'.repeat(2000), headers: { 'content-type': 'text/plain' } });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { code: string }).code, 'PCS_HTTP_BODY_TOO_LARGE');
  });

  it('answers 504 when the upstream is too slow', async () => {
    const res = await get('/billing/slow');
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as { code: string }).code, 'PCS_HTTP_UPSTREAM_TIMEOUT');
  });

  it('masks a server-sent event stream as it flows', async () => {
    const res = await get('/billing/events');
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const text = await res.text();
    assert.equal((text.match(/event: customer/g) ?? []).length, 3);
    assert.doesNotMatch(text, /stream\d@example\.com/);
    assert.match(text, /"email":"s\*\*\*@example\.com"/);
  });

  it('masks NDJSON line by line and streams a large binary download untouched', async () => {
    const nd = await (await get('/billing/export')).text();
    const lines = nd.trim().split('\n');
    assert.equal(lines.length, 50);
    assert.deepEqual(JSON.parse(lines[7] as string), { id: 7, email: 'r***@example.com' });
    const res = await get('/billing/download');
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    let total = 0;
    let bad = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      for (const b of chunk) if (b !== 7) bad++;
    }
    assert.equal(total, 8 * 1024 * 1024);
    assert.equal(bad, 0);
  });

  it('holds a request for review and forwards it once approved', async () => {
    const pending = get('/billing/refunds/42', agent, { method: 'POST', body: JSON.stringify({ amount: 10 }), headers: { 'content-type': 'application/json', 'x-portcullis-reason': 'customer asked' } });
    let id: string | undefined;
    const deadline = Date.now() + 10_000;
    while (id === undefined && Date.now() < deadline) {
      id = (await t.gw.services.reviews.list({ status: 'pending' }))[0]?.id;
      if (id === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(id);
    const review = await t.gw.services.reviews.get(id);
    assert.equal(review?.reason, 'customer asked');
    assert.equal(review?.action?.text, 'POST /refunds/42');
    const approve = await fetch(`${t.gw.api.url}/api/v1/reviews/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${dba}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(approve.status, 200);
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal((up.seen.at(-1) as Seen).body, '{"amount":10}');
  });

  it('decides on JSON body fields, and defers with 202 until approved', async () => {
    const small = await get('/billing/payments', agent, { method: 'POST', body: JSON.stringify({ amount: 5 }), headers: { 'content-type': 'application/json' } });
    assert.equal(small.status, 200);
    const big = JSON.stringify({ amount: 5000, to: 'acme' });
    const first = await get('/billing/payments', agent, { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    assert.equal(first.status, 202);
    const pending = (await first.json()) as { review: string; code: string; url: string };
    assert.equal(pending.code, 'PCS_REVIEW_PENDING');
    assert.equal(first.headers.get('location'), pending.url);
    const sent = up.seen.length;
    assert.equal((await fetch(`${t.gw.api.url}/api/v1/reviews/${pending.review}/approve`, { method: 'POST', headers: { authorization: `Bearer ${dba}`, 'content-type': 'application/json' }, body: '{}' })).status, 200);
    // Another body is another request: still pending.
    const other = await get('/billing/payments', agent, { method: 'POST', body: JSON.stringify({ amount: 5001, to: 'acme' }), headers: { 'content-type': 'application/json' } });
    assert.equal(other.status, 202);
    const retry = await get('/billing/payments', agent, { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    assert.equal(retry.status, 200);
    assert.equal(up.seen.length, sent + 1);
    const badJson = await get('/billing/payments', agent, { method: 'POST', body: '{"amount":', headers: { 'content-type': 'application/json' } });
    assert.equal(badJson.status, 400);
  });

  it('records requests without any secret', async () => {
    await t.gw.recorder.flush();
    const rows = await storeDb(t.gw.services.store).selectFrom('session_events').select(['kind', 'data']).execute();
    const all = JSON.stringify(rows);
    for (const secret of [UPSTREAM_TOKEN, BASIC_PASSWORD, HEADER_KEY, QUERY_KEY, CLIENT_SECRET, agent, 'ana@example.com', '219-09-9999']) assert.ok(!all.includes(secret), `recording holds ${secret.slice(0, 12)}`);
    const req = rows.find((r) => r.kind === 'request' && r.data.includes('/customers'));
    assert.ok(req);
    const data = JSON.parse(req.data) as { status: number; request_headers: Record<string, string>; response_body: string; masking: { changed: boolean } };
    assert.equal(data.status, 200);
    assert.equal(data.request_headers.authorization, '[REDACTED]');
    assert.match(data.response_body, /a\*\*\*@example\.com/);
    assert.equal(data.masking.changed, true);
  });
});
