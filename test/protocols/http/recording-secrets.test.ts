// No secret of an HTTP exchange reaches a recording, with curl through the gateway to a real
// local API: the agent's Authorization and cookies, the headers a connection names in
// `redact_headers` (request and response), a header or query parameter of the same name as
// the connection's own credential, and the API-key headers every connection withholds. The
// header names stay, with their values withheld; ordinary headers are recorded as sent.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { testSecret } from '../../support/secrets.ts';
import { storeDb } from '../../support/store-db.ts';

const run = promisify(execFile);

const SESSION_TOKEN = testSecret('http-rec-session');
const TENANT_SECRET = testSecret('http-rec-tenant');
const COOKIE = testSecret('http-rec-cookie');
const AGENT_KEY = testSecret('http-rec-agent-key');
const AGENT_PARAM = testSecret('http-rec-agent-param');
const HEADER_CREDENTIAL = testSecret('http-rec-credential');
const QUERY_CREDENTIAL = testSecret('http-rec-query-credential');
const ALL = { SESSION_TOKEN, TENANT_SECRET, COOKIE, AGENT_KEY, AGENT_PARAM, HEADER_CREDENTIAL, QUERY_CREDENTIAL };

describe('HTTP recordings hold no secret', () => {
  let upstream: Server;
  let t: TestGateway;
  let base: string;
  let agent: string;

  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        // An upstream that hands the tenant connection a session token in a header of its own.
        const session = req.headers['x-service-credential'] === HEADER_CREDENTIAL ? { 'x-session-token': SESSION_TOKEN } : {};
        res.writeHead(200, { 'content-type': 'application/json', ...session, 'x-request-note': 'plain' });
        res.end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const addr = upstream.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    t = await startTestGateway(
      `
connections:
  - { name: tenant-api, type: http, redact_headers: [X-Session-Token, x-tenant-secret], upstream: { url: "${url}", auth: { type: header, header: x-service-credential, value: "\${env:HEADER_CREDENTIAL}" } } }
  - { name: query-api, type: http, upstream: { url: "${url}", auth: { type: query, param: access_key, value: "\${env:QUERY_CREDENTIAL}" } } }
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
      - { then: allow }
`,
      { ...process.env, HEADER_CREDENTIAL, QUERY_CREDENTIAL },
      '{ api: "127.0.0.1:0", http: "127.0.0.1:0" }',
    );
    base = `http://127.0.0.1:${t.gw.listeners.get('http')?.port ?? 0}`;
    agent = await t.token('agent-bot', ['agents']);
  });

  after(async () => {
    await t?.stop();
    await new Promise((r) => upstream.close(r));
  });

  it('withholds the values of secret headers and parameters, and keeps the rest', async () => {
    const headers = ['-H', `Authorization: Bearer ${agent}`, '-H', `Cookie: sid=${COOKIE}`, '-H', `X-Tenant-Secret: ${TENANT_SECRET}`, '-H', `X-Api-Key: ${AGENT_KEY}`, '-H', `x-service-credential: ${AGENT_KEY}`, '-H', 'X-Trace: trace-1'];
    const a = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...headers, `${base}/tenant-api/items`]);
    assert.equal(a.stdout, '200');
    const b = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${agent}`, `${base}/query-api/items?access_key=${AGENT_PARAM}&page=2`]);
    assert.equal(b.stdout, '200');

    await t.gw.recorder.flush();
    const rows = await storeDb(t.gw.services.store).selectFrom('session_events').select(['kind', 'data']).where('kind', '=', 'request').execute();
    const text = JSON.stringify(rows);
    // Named, never printed: a failure message must not leak the secret it found.
    for (const [label, secret] of Object.entries({ ...ALL, agent })) assert.ok(!text.includes(secret), `a recording holds ${label}`);
    const events = rows.map((r) => JSON.parse(r.data) as { path: string; query: string; request_headers: Record<string, string>; response_headers: Record<string, string> });
    const tenant = events.find((e) => e.path === '/items' && e.request_headers['x-trace'] !== undefined);
    assert.ok(tenant, text);
    for (const name of ['authorization', 'cookie', 'x-tenant-secret', 'x-api-key', 'x-service-credential']) assert.equal(tenant.request_headers[name], '[REDACTED]', name);
    assert.equal(tenant.request_headers['x-trace'], 'trace-1');
    assert.equal(tenant.response_headers['x-session-token'], '[REDACTED]');
    assert.equal(tenant.response_headers['x-request-note'], 'plain');
    const query = events.find((e) => e.query.includes('page=2'));
    assert.equal(query?.query, '?access_key=%5BREDACTED%5D&page=2');
  });
});
