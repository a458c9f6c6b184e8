// Upstream credentials of HTTP connections: the static kinds as unit cases, OAuth2 client
// credentials against a real authorization server (oidc-provider, the identity tests' IdP),
// and an https token endpoint whose certificate only a configured CA vouches for.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { decodeJwt } from 'jose';
import { CredentialUnavailable, upstreamCredential, type HttpConnectionConfig } from '../../../src/protocols/http/credentials.ts';
import { CLIENT_SECRET, makeKey, RESOURCE, startIdp, type TestIdp } from '../../identity/helpers/oidc-idp.ts';
import { API_TOKEN, testSecret } from '../../support/secrets.ts';
import { tempDir } from '../../support/tmp.ts';

type Auth = NonNullable<HttpConnectionConfig['upstream']['auth']>;

function conn(auth: Auth | undefined, name = 'billing-api'): HttpConnectionConfig {
  return { name, type: 'http', timeout: 30, max_concurrency: 64, max_masked_body: 16 * 1024 * 1024, integrity: { method_overrides: 'refuse', path_overrides: 'refuse', non_canonical_paths: 'refuse', method_override_params: ['_method'], method_override_headers: ['x-http-method-override', 'x-http-method', 'x-method-override'], case_insensitive_paths: false }, redact_headers: [], upstream: { url: 'https://billing.example/v1', ...(auth ? { auth } : {}) } };
}

/** Apply to a fresh request carrying what an agent might send. */
async function applied(auth: Auth | undefined, secret: string | undefined, agent: Record<string, string> = {}, search = ''): Promise<{ headers: Record<string, string>; url: URL }> {
  const headers = { ...agent };
  const url = new URL(`https://billing.example/v1/invoices${search}`);
  await upstreamCredential(conn(auth), secret, {}).apply(headers, url);
  return { headers, url };
}

async function unavailable(promise: Promise<unknown>): Promise<CredentialUnavailable> {
  const err = await promise.then(
    () => assert.fail('expected CredentialUnavailable'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CredentialUnavailable, `expected CredentialUnavailable, got ${String(err)}`);
  return err;
}

function assertNoSecret(err: Error, ...secrets: string[]): void {
  for (const s of secrets) {
    assert.ok(!err.message.includes(s), 'the message must not carry the secret');
    assert.ok(!err.message.includes(Buffer.from(s).toString('base64')), 'nor its base64');
  }
}

async function closedPort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** The global fetch, counting the requests it sends. */
function countingFetch(): { fetch: typeof fetch; readonly calls: number } {
  let calls = 0;
  return {
    fetch: (input, init) => {
      calls += 1;
      return fetch(input, init);
    },
    get calls() {
      return calls;
    },
  };
}

/** A fetch that answers every request with this JSON (status 200 unless given). */
function answering(body: unknown, status = 200): typeof fetch {
  return () => Promise.resolve(new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }));
}

describe('static upstream credentials', () => {
  it('bearer: sets authorization, replacing the agent\'s in any spelling', async () => {
    const { headers } = await applied({ type: 'bearer' }, API_TOKEN, { Authorization: 'Bearer agent-identity', accept: 'application/json' });
    assert.deepEqual(headers, { authorization: `Bearer ${API_TOKEN}`, accept: 'application/json' });
  });

  it('basic: base64 of user:password (the password may hold a colon)', async () => {
    const password = testSecret('basic:pw');
    const { headers } = await applied({ type: 'basic', username: 'svc-billing' }, password, { authorization: 'Bearer agent-identity' });
    assert.equal(headers.authorization, `Basic ${Buffer.from(`svc-billing:${password}`).toString('base64')}`);
  });

  it('header: sets the configured header, drops the agent\'s copy and its authorization', async () => {
    const { headers, url } = await applied({ type: 'header', header: 'X-Api-Key' }, API_TOKEN, { 'x-api-key': 'agent-value', 'X-API-KEY': 'other', authorization: 'Bearer agent-identity', accept: '*/*' });
    assert.deepEqual(headers, { 'x-api-key': API_TOKEN, accept: '*/*' });
    assert.equal(url.search, '');
  });

  it('query: sets the parameter, replacing agent-supplied ones (even encoded) and keeping the rest verbatim', async () => {
    const { url, headers } = await applied({ type: 'query', param: 'api_key' }, API_TOKEN, { authorization: 'Bearer agent-identity' }, '?q=a%20b+c&api_key=mine&page=2&api%5Fkey=again&x=%7E');
    assert.equal(url.search, `?q=a%20b+c&page=2&x=%7E&api_key=${API_TOKEN}`);
    assert.deepEqual(url.searchParams.getAll('api_key'), [API_TOKEN]);
    assert.deepEqual(headers, {});
  });

  it('query: a value that needs encoding is encoded', async () => {
    const { url } = await applied({ type: 'query', param: 'sig' }, 'a+b/c=&d', {}, '');
    assert.equal(url.searchParams.get('sig'), 'a+b/c=&d');
  });

  it('no auth configured: apply changes nothing', async () => {
    const { headers, url } = await applied(undefined, undefined, { authorization: 'Bearer x' }, '?a=1');
    assert.deepEqual(headers, { authorization: 'Bearer x' });
    assert.equal(url.search, '?a=1');
  });

  it('a missing secret fails at apply with a message that says how to set it', async () => {
    for (const auth of [{ type: 'bearer' }, { type: 'basic', username: 'u' }, { type: 'header', header: 'x-key' }, { type: 'query', param: 'k' }, { type: 'oauth2', token_url: 'https://idp.example/token', client_id: 'c' }] satisfies Auth[]) {
      const cred = upstreamCredential(conn(auth), undefined);
      const err = await unavailable(cred.apply({}, new URL('https://billing.example/')));
      assert.equal(err.problem, 'no_secret');
      assert.equal(err.connection, 'billing-api');
      assert.match(err.message, /portcullis credential set billing-api/);
    }
  });

  it('a secret with a line break is never put in a header', async () => {
    const err = await unavailable(applied({ type: 'bearer' }, `${API_TOKEN}\r\nx-injected: 1`));
    assertNoSecret(err, API_TOKEN);
  });

  it('refuses at construction what cannot work', () => {
    for (const header of ['Host', 'content-length', 'Transfer-Encoding', 'connection', 'proxy-authorization', 'bad header', '']) {
      assert.throws(() => upstreamCredential(conn({ type: 'header', header }), API_TOKEN), (err: unknown) => err instanceof CredentialUnavailable && err.problem === 'invalid_config', header);
    }
    assert.throws(() => upstreamCredential(conn({ type: 'basic', username: 'a:b' }), API_TOKEN), /cannot contain ":"/);
    assert.throws(() => upstreamCredential(conn({ type: 'query', param: '' }), API_TOKEN), /param is empty/);
    // The client secret would cross the network in clear.
    assert.throws(() => upstreamCredential(conn({ type: 'oauth2', token_url: 'http://idp.example/token', client_id: 'c' }), API_TOKEN), /must use https/);
    assert.doesNotThrow(() => upstreamCredential(conn({ type: 'oauth2', token_url: 'http://127.0.0.1:9/token', client_id: 'c' }), API_TOKEN));
  });
});

describe('OAuth2 client credentials against a real authorization server', () => {
  let idp: TestIdp;
  const oauth2 = (over: Partial<Extract<Auth, { type: 'oauth2' }>> = {}): Auth => ({ type: 'oauth2', token_url: `${idp.issuer}/token`, client_id: 'ci-agent', scope: 'api', ...over });
  const target = (): URL => new URL('https://billing.example/v1/invoices');

  before(async () => {
    idp = await startIdp([await makeKey('k1')]);
  });
  after(async () => {
    await idp.close();
  });

  it('fetches a token once, sends it as Bearer, and reuses it', async () => {
    const counter = countingFetch();
    const cred = upstreamCredential(conn(oauth2()), CLIENT_SECRET, { fetch: counter.fetch });
    const headers: Record<string, string> = { authorization: 'Bearer agent-identity' };
    await cred.apply(headers, target());
    const token = /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1];
    assert.ok(token, 'a Bearer token was set');
    // The provider's own JWT access token, for the client we authenticated as.
    const claims = decodeJwt(token);
    assert.equal(claims.client_id, 'ci-agent');
    assert.equal(claims.aud, RESOURCE);
    assert.equal(counter.calls, 1);

    const again: Record<string, string> = {};
    await cred.apply(again, target());
    assert.equal(again.authorization, `Bearer ${token}`);
    assert.equal(counter.calls, 1, 'the cached token is reused');
  });

  it('concurrent applies share one token request', async () => {
    const counter = countingFetch();
    const cred = upstreamCredential(conn(oauth2()), CLIENT_SECRET, { fetch: counter.fetch });
    const all = Array.from({ length: 8 }, () => ({}) as Record<string, string>);
    await Promise.all(all.map((h) => cred.apply(h, target())));
    assert.equal(counter.calls, 1);
    assert.equal(new Set(all.map((h) => h.authorization)).size, 1);
  });

  it('invalidate makes the next apply fetch a new token', async () => {
    const counter = countingFetch();
    const cred = upstreamCredential(conn(oauth2()), CLIENT_SECRET, { fetch: counter.fetch });
    const first: Record<string, string> = {};
    await cred.apply(first, target());
    cred.invalidate();
    const second: Record<string, string> = {};
    await cred.apply(second, target());
    assert.equal(counter.calls, 2);
    assert.notEqual(second.authorization, first.authorization);
  });

  it('refreshes shortly before expiry (300 s token, 30 s margin)', async () => {
    const counter = countingFetch();
    let clock = 1_000_000;
    const cred = upstreamCredential(conn(oauth2()), CLIENT_SECRET, { fetch: counter.fetch, now: () => clock });
    const first: Record<string, string> = {};
    await cred.apply(first, target());
    clock += 269_000;
    const still: Record<string, string> = {};
    await cred.apply(still, target());
    assert.equal(counter.calls, 1, 'still valid 31 s before expiry');
    assert.equal(still.authorization, first.authorization);
    clock += 2_000;
    const renewed: Record<string, string> = {};
    await cred.apply(renewed, target());
    assert.equal(counter.calls, 2, 'refreshed within the margin');
    assert.notEqual(renewed.authorization, first.authorization);
  });

  it('a wrong client secret gives CredentialUnavailable without the secret, and is not cached', async () => {
    const wrong = testSecret('wrong-client-secret');
    const counter = countingFetch();
    const cred = upstreamCredential(conn(oauth2()), wrong, { fetch: counter.fetch });
    const err = await unavailable(cred.apply({}, target()));
    assert.equal(err.problem, 'refused');
    assert.match(err.message, /billing-api/);
    assert.match(err.message, /HTTP 401, invalid_client/);
    assertNoSecret(err, wrong, CLIENT_SECRET);
    await unavailable(cred.apply({}, target()));
    assert.equal(counter.calls, 2, 'a failure is retried on the next request');
  });

  it('an unknown client is refused too', async () => {
    const err = await unavailable(upstreamCredential(conn(oauth2({ client_id: 'nobody' })), CLIENT_SECRET).apply({}, target()));
    assert.equal(err.problem, 'refused');
    assertNoSecret(err, CLIENT_SECRET);
  });

  it('an unreachable token endpoint gives CredentialUnavailable', async () => {
    const port = await closedPort();
    const cred = upstreamCredential(conn(oauth2({ token_url: `http://127.0.0.1:${port}/token` })), CLIENT_SECRET);
    const err = await unavailable(cred.apply({}, target()));
    assert.equal(err.problem, 'unreachable');
    assert.match(err.message, /cannot be reached \(ECONNREFUSED\)/);
    assertNoSecret(err, CLIENT_SECRET);
  });
});

describe('OAuth2 token responses', () => {
  const auth: Auth = { type: 'oauth2', token_url: 'https://idp.example/token', client_id: 'svc' };
  const token = testSecret('access-token');
  const apply = (fetchImpl: typeof fetch): Promise<void> => upstreamCredential(conn(auth), API_TOKEN, { fetch: fetchImpl }).apply({}, new URL('https://billing.example/'));

  it('sends client_secret_basic (form-encoded id and secret) and the grant', async () => {
    let seen: { url: string; headers: Headers; body: string } | undefined;
    const secret = testSecret('a b+c:d');
    const cred = upstreamCredential(conn({ ...auth, client_id: 'svc:1', scope: 'read write' }), secret, {
      fetch: (input, init) => {
        seen = { url: String(input), headers: new Headers(init?.headers), body: String(init?.body) };
        return answering({ access_token: token, token_type: 'bearer', expires_in: 60 })(input, init);
      },
    });
    const headers: Record<string, string> = {};
    await cred.apply(headers, new URL('https://billing.example/'));
    assert.equal(headers.authorization, `Bearer ${token}`, 'token_type is case-insensitive');
    assert.ok(seen);
    assert.equal(seen.url, 'https://idp.example/token');
    const basic = Buffer.from(seen.headers.get('authorization')?.replace(/^Basic /, '') ?? '', 'base64').toString();
    assert.equal(basic, `svc%3A1:${new URLSearchParams([['s', secret]]).toString().slice(2)}`);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(seen.body)), { grant_type: 'client_credentials', scope: 'read write' });
  });

  it('a short token is refreshed 10% before expiry', async () => {
    let calls = 0;
    let clock = 0;
    const cred = upstreamCredential(conn(auth), API_TOKEN, {
      now: () => clock,
      fetch: (input, init) => {
        calls += 1;
        return answering({ access_token: `${token}-${calls}`, token_type: 'Bearer', expires_in: 20 })(input, init);
      },
    });
    await cred.apply({}, new URL('https://billing.example/'));
    clock = 17_900;
    await cred.apply({}, new URL('https://billing.example/'));
    assert.equal(calls, 1);
    clock = 18_000;
    await cred.apply({}, new URL('https://billing.example/'));
    assert.equal(calls, 2);
  });

  it('rejects a response without access_token, of another type, or not JSON', async () => {
    const cases: Array<[typeof fetch, RegExp]> = [
      [answering({ token_type: 'Bearer', expires_in: 60 }), /without an access_token/],
      [answering({ access_token: token, token_type: 'DPoP', expires_in: 60 }), /type DPoP, not Bearer/],
      [answering({ access_token: token, expires_in: 60 }), /type none, not Bearer/],
      [answering({ access_token: `${token}\nx`, token_type: 'Bearer' }), /cannot be sent in a header/],
      [() => Promise.resolve(new Response('<html>login</html>', { status: 200 })), /other than JSON/],
    ];
    for (const [fetchImpl, message] of cases) {
      const err = await unavailable(apply(fetchImpl));
      assert.equal(err.problem, 'invalid_response');
      assert.match(err.message, message);
      assertNoSecret(err, API_TOKEN, token);
    }
  });

  it('an oversized answer is not read to the end', async () => {
    const err = await unavailable(apply(() => Promise.resolve(new Response('x'.repeat(300 * 1024), { status: 200 }))));
    assert.match(err.message, /response too large/);
  });

  it('an error answer names the status and error code, never its free text', async () => {
    const err = await unavailable(apply(answering({ error: 'invalid_scope', error_description: `echo ${API_TOKEN}` }, 400)));
    assert.match(err.message, /HTTP 400, invalid_scope/);
    assertNoSecret(err, API_TOKEN);
  });

  it('a redirect is not followed (the client credentials would go where nobody configured)', async () => {
    let hits = 0;
    const elsewhere = createHttpServer((_req, res) => {
      hits += 1;
      res.writeHead(hits === 1 ? 307 : 200, { location: '/stolen', 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'Bearer' }));
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', () => resolve()));
    try {
      const cred = upstreamCredential(conn({ ...auth, token_url: `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/token` }), API_TOKEN);
      const err = await unavailable(cred.apply({}, new URL('https://billing.example/')));
      assert.equal(err.problem, 'unreachable');
      assert.match(err.message, /redirect/);
      assert.equal(hits, 1);
    } finally {
      await new Promise<void>((resolve) => elsewhere.close(() => resolve()));
    }
  });
});

describe('OAuth2 over https with a custom CA', () => {
  const run = promisify(execFile);
  const token = testSecret('tls-access-token');
  let server: ReturnType<typeof createHttpsServer>;
  let tokenUrl: string;
  let ca: string;

  before(async () => {
    const dir = tempDir('pcs-http-cred-');
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
    ca = readFileSync(cert, 'utf8');
    server = createHttpsServer({ key: readFileSync(key), cert: ca }, (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 300 })));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    tokenUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  });
  after(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  });

  const auth = (): Auth => ({ type: 'oauth2', token_url: tokenUrl, client_id: 'svc' });

  it('trusts the token endpoint through the configured CA', async () => {
    const headers: Record<string, string> = {};
    await upstreamCredential(conn(auth()), API_TOKEN, { ca }).apply(headers, new URL('https://billing.example/'));
    assert.equal(headers.authorization, `Bearer ${token}`);
  });

  it('without the CA the certificate is refused', async () => {
    const err = await unavailable(upstreamCredential(conn(auth()), API_TOKEN).apply({}, new URL('https://billing.example/')));
    assert.equal(err.problem, 'unreachable');
    assert.match(err.message, /SELF_SIGNED|UNABLE_TO_VERIFY/);
  });
});
