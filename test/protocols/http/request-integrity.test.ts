// The upstream acts on exactly what was decided: a real gateway in front of a real node:http
// upstream that records every request it receives. For each override convention (headers,
// `_method` in the query, a form, a multipart and a JSON body, path and host headers) and
// each path encoding, the gateway's answer is checked, and so is what the upstream saw:
// nothing for a refusal, exactly the decided request otherwise. Then a real framework
// (fastify) shows a bypass works when sent to it directly, and not through the gateway. Raw
// paths go through `curl --path-as-is` (or a socket, for what curl will not send).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fastify, type FastifyInstance } from 'fastify';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { tempDir } from '../../support/tmp.ts';
import { storeDb } from '../../support/store-db.ts';

const run = promisify(execFile);

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** An upstream that answers 200 to everything and keeps what it received, byte for byte. */
async function startRecordingUpstream(): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(parts).toString('latin1') });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, seen };
}

/**
 * A real framework's reading: fastify with the router options that make `;` a query delimiter
 * and merge `//`, trusting its proxy (X-Forwarded-Host). Each handler says which route ran.
 */
async function startFastifyUpstream(): Promise<{ app: FastifyInstance; url: string; ran: string[] }> {
  const ran: string[] = [];
  // fastify 5.12 reads these under routerOptions; its types do not list them there yet.
  const routerOptions = { useSemicolonDelimiter: true, ignoreDuplicateSlashes: true };
  const app = fastify({ trustProxy: true, routerOptions });
  app.get('/api/admin', async (request) => {
    ran.push(`admin ${request.host}`);
    return 'admin';
  });
  app.get('/api/reports/:name', async (request) => {
    ran.push(`report ${(request.params as { name: string }).name} ${request.host}`);
    return 'report';
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, ran };
}

interface Answer {
  readonly status: number;
  readonly code: string | undefined;
  readonly detail: string | undefined;
}

describe('HTTP request integrity', () => {
  let up: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let framework: Awaited<ReturnType<typeof startFastifyUpstream>>;
  let t: TestGateway;
  let port: number;
  let base: string;
  let agent: string;
  /** A file to upload: bytes that look like multipart structure, and some that are not text. */
  const upload = Buffer.concat([Buffer.from('line 1\r\n--not-the-boundary\r\n_method=DELETE\r\n'), Buffer.from([0, 0xff, 0x80, 0x0d, 0x0a])]);
  let uploadFile: string;

  before(async () => {
    uploadFile = join(tempDir('pcs-integrity-'), 'upload.bin');
    writeFileSync(uploadFile, upload);
    up = await startRecordingUpstream();
    framework = await startFastifyUpstream();
    t = await startTestGateway(
      `
connections:
  - { name: strict, type: http, upstream: { url: "${up.url}/api" } }
  - { name: lenient, type: http, integrity: { method_overrides: strip, path_overrides: strip, non_canonical_paths: normalise }, upstream: { url: "${up.url}/api" } }
  - { name: deciding, type: http, integrity: { method_overrides: decide }, upstream: { url: "${up.url}/api" } }
  - { name: insensitive, type: http, integrity: { case_insensitive_paths: true }, upstream: { url: "${up.url}/api" } }
  - { name: custom, type: http, integrity: { method_override_params: [_method, verb], method_override_headers: [X-Verb] }, upstream: { url: "${up.url}/api" } }
  - { name: fastify, type: http, integrity: { method_overrides: strip, path_overrides: strip, non_canonical_paths: normalise }, upstream: { url: "${framework.url}/api" } }
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
      - { name: no-admin, match: { http: { path: "/admin/**" } }, then: deny, reason: agents stay out of admin }
      - { name: no-delete, match: { http: { method: [DELETE] } }, then: deny, reason: agents do not delete }
      - { name: refunds, match: { http: { method: [POST], path: "/refunds/**" } }, then: review, review: { mode: defer, approvers: { groups: [finance] } } }
      - { match: { http: { method: [GET, POST, PUT] } }, then: allow }
      - { then: deny }
`,
      process.env,
      '{ api: "127.0.0.1:0", http: "127.0.0.1:0" }',
    );
    port = t.gw.listeners.get('http')?.port ?? 0;
    base = `http://127.0.0.1:${port}`;
    agent = await t.token('agent-bot', ['agents']);
  });

  after(async () => {
    await t?.stop();
    up?.server.close();
    await framework?.app.close();
  });

  /** curl with the agent's token and the path as given; the answer and what the upstream saw meanwhile. */
  async function curl(path: string, ...args: string[]): Promise<Answer & { seen: Seen[] }> {
    const before = up.seen.length;
    const out = await run('curl', ['-s', '--path-as-is', '--globoff', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${agent}`, ...args, `${base}${path}`]);
    return { ...answer(out.stdout), seen: up.seen.slice(before) };
  }

  /** A request written on a socket as is, for what curl cannot send (a fragment, two Host headers). */
  async function raw(head: string): Promise<Answer & { seen: Seen[] }> {
    const before = up.seen.length;
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(`${head}\r\nAuthorization: Bearer ${agent}\r\nConnection: close\r\n\r\n`));
      let data = '';
      socket.on('data', (c: Buffer) => (data += c.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    const split = text.indexOf('\r\n\r\n');
    let body = text.slice(split + 4);
    // A problem document goes out chunked: one chunk, then the last.
    if (/^transfer-encoding: chunked$/im.test(text.slice(0, split))) body = body.slice(body.indexOf('\r\n') + 2, body.lastIndexOf('\r\n0\r\n'));
    return { ...answer(`${body}\n${status}`), seen: up.seen.slice(before) };
  }

  function answer(stdout: string): Answer {
    const cut = stdout.lastIndexOf('\n');
    const status = Number(stdout.slice(cut + 1));
    try {
      const problem = JSON.parse(stdout.slice(0, cut)) as { code?: string; detail?: string };
      return { status, code: problem.code, detail: problem.detail };
    } catch {
      return { status, code: undefined, detail: undefined };
    }
  }

  function refused(got: Answer & { seen: Seen[] }, status: number, code: string, detail?: RegExp): void {
    assert.equal(got.status, status, `status (${got.detail ?? ''})`);
    assert.equal(got.code, code);
    if (detail !== undefined) assert.match(got.detail ?? '', detail);
    assert.deepEqual(got.seen, [], 'the upstream saw nothing');
  }

  function forwardedOnce(got: Answer & { seen: Seen[] }): Seen {
    assert.equal(got.status, 200, got.detail);
    assert.equal(got.seen.length, 1, 'the upstream saw exactly one request');
    return got.seen[0] as Seen;
  }

  describe('method overrides refused (the default)', () => {
    for (const header of ['X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override', 'x_http_method_override']) {
      it(`by the header ${header}`, async () => {
        refused(await curl('/strict/invoices', '-X', 'POST', '-H', `${header}: DELETE`, '-d', 'a=1'), 400, 'PCS_HTTP_METHOD_OVERRIDE', new RegExp(`header ${header.toLowerCase()}`));
      });
    }

    it('by _method in the query string (Express method-override, Symfony, Spring), also spelled %5Fmethod', async () => {
      refused(await curl('/strict/invoices?_method=DELETE', '-X', 'POST'), 400, 'PCS_HTTP_METHOD_OVERRIDE', /query parameter _method/);
      refused(await curl('/strict/invoices?a=1&%5Fmethod=PUT', '-X', 'POST'), 400, 'PCS_HTTP_METHOD_OVERRIDE');
      refused(await curl('/strict/invoices?_method[]=DELETE'), 400, 'PCS_HTTP_METHOD_OVERRIDE');
    });

    it('by _method in a form body (Rack::MethodOverride, Laravel, ASP.NET Core), with or without a content type', async () => {
      refused(await curl('/strict/invoices', '-d', 'amount=5&_method=DELETE'), 400, 'PCS_HTTP_METHOD_OVERRIDE', /form field _method/);
      refused(await curl('/strict/invoices', '-H', 'Content-Type:', '-d', '_method=delete'), 400, 'PCS_HTTP_METHOD_OVERRIDE');
    });

    it('by _method in a multipart body (Rails and Spring forms with a file)', async () => {
      refused(await curl('/strict/uploads', '-F', `file=@${uploadFile}`, '-F', '_method=DELETE'), 400, 'PCS_HTTP_METHOD_OVERRIDE', /multipart field _method/);
      const file = forwardedOnce(await curl('/strict/uploads', '-F', `file=@${uploadFile}`));
      assert.ok(file.body.includes(upload.toString('latin1')), 'a file that holds the text _method=DELETE is only a file');
    });

    it('by _method in a JSON body (Laravel reads JSON input as the form)', async () => {
      refused(await curl('/strict/invoices', '-H', 'Content-Type: application/json', '-d', '{"amount":5,"_method":"DELETE"}'), 400, 'PCS_HTTP_METHOD_OVERRIDE', /JSON member _method/);
    });

    it('refuses a compressed form or JSON body, which Express would inflate and read', async () => {
      const before = up.seen.length;
      for (const type of ['application/x-www-form-urlencoded', 'application/json']) {
        const res = await fetch(`${base}/strict/invoices`, { method: 'POST', headers: { authorization: `Bearer ${agent}`, 'content-type': type, 'content-encoding': 'gzip' }, body: gzipSync(type.endsWith('json') ? '{"_method":"DELETE"}' : '_method=DELETE') });
        assert.equal(res.status, 400);
        const problem = (await res.json()) as { code: string; detail: string };
        assert.equal(problem.code, 'PCS_HTTP_BAD_REQUEST');
        assert.match(problem.detail, /gzip-encoded form or JSON body/);
      }
      const binary = await fetch(`${base}/strict/uploads`, { method: 'POST', headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' }, body: gzipSync('data') });
      assert.equal(binary.status, 200, 'other compressed bodies pass');
      assert.equal(up.seen.length, before + 1);
    });

    it('takes the parameter and header names a connection lists instead', async () => {
      refused(await curl('/custom/invoices?verb=DELETE', '-X', 'POST'), 400, 'PCS_HTTP_METHOD_OVERRIDE', /query parameter verb/);
      refused(await curl('/custom/invoices', '-X', 'POST', '-H', 'X-Verb: DELETE'), 400, 'PCS_HTTP_METHOD_OVERRIDE', /header x-verb/);
      refused(await curl('/custom/invoices', '-d', '_method=DELETE'), 400, 'PCS_HTTP_METHOD_OVERRIDE');
      forwardedOnce(await curl('/custom/invoices', '-X', 'POST', '-H', 'X-HTTP-Method-Override: DELETE'));
    });

    it('is audited as a denial with its code, and recorded with its status', async () => {
      await curl('/strict/audited', '-X', 'POST', '-H', 'X-HTTP-Method-Override: DELETE');
      let decision: Record<string, unknown> | undefined;
      for (let i = 0; i < 100 && decision === undefined; i++) {
        decision = (await t.gw.services.audit.list({ type: 'policy.decision', limit: 1000 })).map((r) => r.data).find((d) => JSON.stringify(d.action).includes('/audited'));
        if (decision === undefined) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(decision?.verdict, 'deny');
      assert.equal(decision?.code, 'PCS_HTTP_METHOD_OVERRIDE');
      await t.gw.recorder.flush();
      const events = await storeDb(t.gw.services.store).selectFrom('session_events').select(['kind', 'data']).where('kind', '=', 'denied').execute();
      const event = events.map((e) => JSON.parse(e.data) as { path: string; status: number }).find((e) => e.path === '/audited');
      assert.equal(event?.status, 400);
    });

    it('refuses before anyone is asked: no review for a request sent for review', async () => {
      const pending = async (): Promise<number> => (await t.gw.services.reviews.list({ status: 'pending' })).length;
      const before = await pending();
      refused(await curl('/strict/refunds/9', '-X', 'POST', '-H', 'X-HTTP-Method-Override: PUT'), 400, 'PCS_HTTP_METHOD_OVERRIDE');
      assert.equal(await pending(), before);
      assert.equal((await curl('/strict/refunds/9', '-X', 'POST')).status, 202, 'the same request without the override is sent for review');
      assert.equal(await pending(), before + 1);
    });

    it('leaves a plain request alone: byte for byte to the upstream', async () => {
      const seen = forwardedOnce(await curl('/strict/invoices?b=2&a=%20x', '-H', 'Content-Type: application/json', '-d', '{"amount": 5, "method":"DELETE"}'));
      assert.equal(seen.method, 'POST');
      assert.equal(seen.url, '/api/invoices?b=2&a=%20x');
      assert.equal(seen.body, '{"amount": 5, "method":"DELETE"}');
    });
  });

  describe('method overrides stripped', () => {
    it('removes the headers', async () => {
      const seen = forwardedOnce(await curl('/lenient/invoices', '-X', 'POST', '-H', 'X-HTTP-Method-Override: DELETE', '-H', 'X-Method-Override: DELETE', '-H', 'X-Other: kept'));
      assert.equal(seen.method, 'POST');
      assert.equal(seen.headers['x-http-method-override'], undefined);
      assert.equal(seen.headers['x-method-override'], undefined);
      assert.equal(seen.headers['x-other'], 'kept');
    });

    it('removes _method from the query, every other byte kept', async () => {
      const seen = forwardedOnce(await curl('/lenient/invoices?a=1&_method=DELETE&b=%7e+x', '-X', 'POST'));
      assert.equal(seen.url, '/api/invoices?a=1&b=%7e+x');
    });

    it('refuses a _method hidden behind a ; separator, which cannot be cut out alone', async () => {
      refused(await curl('/lenient/invoices?a=1;_method=DELETE', '-X', 'POST'), 400, 'PCS_HTTP_METHOD_OVERRIDE', /cannot be removed/);
    });

    it('removes _method from a form body', async () => {
      const seen = forwardedOnce(await curl('/lenient/invoices', '-d', 'amount=5&_method=DELETE&note=%C3%A9+x'));
      assert.equal(seen.body, 'amount=5&note=%C3%A9+x');
      assert.equal(seen.headers['content-length'], String('amount=5&note=%C3%A9+x'.length));
    });

    it('removes the _method part of a multipart body, the other parts untouched', async () => {
      const seen = forwardedOnce(await curl('/lenient/uploads', '-F', 'title=report', '-F', '_method=DELETE', '-F', `file=@${uploadFile}`));
      assert.doesNotMatch(seen.body, /name="_method"/);
      assert.match(seen.body, /name="title"\r\n\r\nreport\r\n/);
      assert.ok(seen.body.includes(upload.toString('latin1')), 'the file part byte for byte');
      assert.match(seen.body, /--\r\n$/);
    });

    it('removes the _method member of a JSON body, big numbers and spacing kept', async () => {
      const seen = forwardedOnce(await curl('/lenient/invoices', '-H', 'Content-Type: application/json', '-d', '{ "amount": 12345678901234567890, "_method": "DELETE", "to": {"_method": "nested stays"} }'));
      assert.equal(seen.body, '{ "amount": 12345678901234567890, "to": {"_method": "nested stays"} }');
      const last = forwardedOnce(await curl('/lenient/invoices', '-H', 'Content-Type: application/json', '-d', '{"a":1,"_method":"PUT"}'));
      assert.equal(last.body, '{"a":1}');
    });
  });

  describe('method overrides decided', () => {
    it('decides on the effective method: a POST that asks to be a DELETE is denied as a DELETE', async () => {
      refused(await curl('/deciding/invoices/7', '-X', 'POST', '-H', 'X-HTTP-Method-Override: DELETE'), 403, 'PCS_POLICY_DENIED', /agents do not delete/);
      refused(await curl('/deciding/invoices/7', '-d', '_method=delete'), 403, 'PCS_POLICY_DENIED');
    });

    it('forwards the effective method itself, the header and query parameter removed', async () => {
      const seen = forwardedOnce(await curl('/deciding/invoices/7?_method=PUT&x=1', '-X', 'POST', '-H', 'X-HTTP-Method: put'));
      assert.equal(seen.method, 'PUT');
      assert.equal(seen.url, '/api/invoices/7?x=1');
      assert.equal(seen.headers['x-http-method'], undefined);
      const form = forwardedOnce(await curl('/deciding/invoices/7', '-d', 'amount=1&_method=PUT'));
      assert.equal(form.method, 'PUT');
      assert.equal(form.body, 'amount=1&_method=PUT');
    });

    it('refuses overrides that disagree, or name a method the gateway does not forward', async () => {
      refused(await curl('/deciding/invoices?_method=DELETE', '-X', 'POST', '-H', 'X-HTTP-Method-Override: PUT'), 400, 'PCS_HTTP_METHOD_OVERRIDE', /disagree/);
      refused(await curl('/deciding/invoices', '-X', 'POST', '-H', 'X-HTTP-Method-Override: CONNECT'), 400, 'PCS_HTTP_METHOD_OVERRIDE', /CONNECT is not a method/);
    });
  });

  describe('path and host overrides', () => {
    for (const [header, value] of [
      ['X-Original-URL', '/admin/users'],
      ['X-Rewrite-URL', '/admin/users'],
      ['X-Original-URI', '/admin/users'],
      ['X-Forwarded-Prefix', '/admin'],
      ['X-Forwarded-Path', '/admin/users'],
      ['X-Forwarded-Uri', '/admin/users'],
      ['X-Envoy-Original-Path', '/admin/users'],
      ['X-Forwarded-Host', 'admin.internal'],
      ['X-Host', 'admin.internal'],
      ['Forwarded', 'host=admin.internal;proto=https'],
      ['Destination', '/admin/users'],
    ] as const) {
      it(`refuses ${header} by default`, async () => {
        refused(await curl('/strict/invoices', '-H', `${header}: ${value}`), 400, 'PCS_HTTP_TARGET_OVERRIDE', new RegExp(header.toLowerCase()));
      });
    }

    it('strips them when the connection says so', async () => {
      const seen = forwardedOnce(await curl('/lenient/invoices', '-H', 'X-Original-URL: /admin/users', '-H', 'X-Forwarded-Prefix: /admin', '-H', 'X-Forwarded-Host: admin.internal'));
      assert.equal(seen.url, '/api/invoices');
      for (const h of ['x-original-url', 'x-forwarded-prefix', 'x-forwarded-host']) assert.equal(seen.headers[h], undefined);
    });

    it('never passes the agent\'s Host on: the upstream sees its own', async () => {
      const seen = forwardedOnce(await curl('/strict/invoices', '-H', 'Host: admin.internal'));
      assert.equal(seen.headers.host, new URL(up.url).host);
    });

    it('refuses two Host headers', async () => {
      refused(await raw(`GET /strict/invoices HTTP/1.1\r\nHost: a.example\r\nHost: b.example`), 400, 'PCS_HTTP_BAD_REQUEST', /more than one Host/);
    });
  });

  describe('path encodings no setting accepts', () => {
    const cases: [string, RegExp][] = [
      ['/lenient/invoices/..%2Fadmin', /encoded slash/],
      ['/lenient/invoices/..%2fadmin', /encoded slash/],
      ['/lenient/invoices/..%5Cadmin', /encoded backslash/],
      ['/lenient/invoices/..\\admin', /backslash/],
      ['/lenient/admin;jsessionid=x/users', /path parameter/],
      ['/lenient/invoices/..;/admin', /path parameter/],
      ['/lenient/admin%3Bx', /encoded ;/],
      ['/lenient/admin%3F/users', /encoded \?/],
      ['/lenient/invoices%00.json', /NUL or control/],
      ['/lenient/invoices%0d%0aX-Injected:%201', /NUL or control/],
      ['/lenient/invoices/%252e%252e/admin', /double percent-encoding/],
      ['/lenient/invoices/%C0%AE%C0%AE/admin', /not valid UTF-8/],
      ['/lenient/invoices/%ff', /not valid UTF-8/],
      ['/lenient/invoices/%EF%BC%8Fadmin', /compatibility normalisation/],
      ['/lenient/invoices/%EF%BC%8E%EF%BC%8E', /compatibility normalisation/],
      ['/lenient/invoices/%zz', /malformed percent-encoding/],
      ['/lenient/../../etc/passwd', /climbs above the root/],
    ];
    for (const [path, reason] of cases) {
      it(`refuses ${path}`, async () => {
        refused(await curl(path), 400, 'PCS_HTTP_AMBIGUOUS_PATH', reason);
      });
    }

    it('refuses a fragment, an absolute-form target and the asterisk form', async () => {
      refused(await raw('GET /lenient/invoices#/../admin HTTP/1.1\r\nHost: gw'), 400, 'PCS_HTTP_AMBIGUOUS_PATH', /fragment/);
      refused(await curl('', '--request-target', 'http://other-host/lenient/invoices'), 400, 'PCS_HTTP_AMBIGUOUS_PATH', /absolute-form/);
      refused(await curl('', '-X', 'OPTIONS', '--request-target', '*'), 400, 'PCS_HTTP_AMBIGUOUS_PATH', /asterisk/);
    });

    it('audits a refused path on the connection it was for', async () => {
      await curl('/strict/audit-me/..%2Fadmin');
      let found = false;
      for (let i = 0; i < 100 && !found; i++) {
        found = (await t.gw.services.audit.list({ type: 'policy.decision', limit: 1000 })).some((r) => r.data.code === 'PCS_HTTP_AMBIGUOUS_PATH' && r.data.connection === 'strict' && JSON.stringify(r.data.action).includes('audit-me'));
        if (!found) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(found, 'a policy.decision deny with PCS_HTTP_AMBIGUOUS_PATH');
    });
  });

  describe('paths not in canonical form', () => {
    const cases: [string, string, RegExp][] = [
      ['/strict/invoices/./7', '/api/invoices/7', /dot segments/],
      ['/strict/invoices/x/../7', '/api/invoices/7', /dot segments/],
      ['/strict/invoices/%2e%2e/invoices/7', '/api/invoices/7', /unreserved|dot segments/],
      ['/strict/invoices//7', '/api/invoices/7', /empty segments/],
      ['/strict/invoices/%37', '/api/invoices/7', /unreserved/],
      ['/strict/caf%c3%a9', '/api/caf%C3%A9', /lower-case/],
      ['/strict/a%7bb%7d', '/api/a%7Bb%7D', /lower-case/],
      ['/strict/a{b}', '/api/a%7Bb%7D', /must be percent-encoded/],
      ['/strict/%EF%BD%81dmin', '/api/%EF%BD%81dmin', /NFKC\) changes/],
    ];
    for (const [path, canonical, reason] of cases) {
      it(`refuses ${path} by default, and forwards ${canonical} when normalising`, async () => {
        refused(await curl(path), 400, 'PCS_HTTP_AMBIGUOUS_PATH', reason);
        const seen = forwardedOnce(await curl(path.replace('/strict', '/lenient')));
        assert.equal(seen.url, canonical);
      });
    }

    it('decides on the canonical path: a dot segment into a denied path is denied, not forwarded', async () => {
      refused(await curl('/lenient/invoices/%2E%2E/admin/users'), 403, 'PCS_POLICY_DENIED', /agents stay out of admin/);
      refused(await curl('/lenient//admin/users'), 403, 'PCS_POLICY_DENIED');
      refused(await curl('/lenient/%61dmin/users'), 403, 'PCS_POLICY_DENIED');
    });

    it('matches the path lower-cased for an upstream that ignores case, and forwards it as sent', async () => {
      refused(await curl('/insensitive/ADMIN/users'), 403, 'PCS_POLICY_DENIED', /agents stay out of admin/);
      refused(await curl('/insensitive/Admin'), 403, 'PCS_POLICY_DENIED');
      assert.equal(forwardedOnce(await curl('/insensitive/Invoices/AbC')).url, '/api/Invoices/AbC');
      // A case-sensitive upstream (the default): /ADMIN is another path, to policy as to it.
      assert.equal(forwardedOnce(await curl('/strict/ADMIN/users')).url, '/api/ADMIN/users');
    });

    it('routes on the canonical path too: an encoded prefix reaches its connection', async () => {
      refused(await curl('/%73trict/invoices'), 400, 'PCS_HTTP_AMBIGUOUS_PATH');
      assert.equal(forwardedOnce(await curl('/%6Cenient/invoices')).url, '/api/invoices');
    });

    it('sends the query as decided, escaped as the upstream URL escapes it', async () => {
      const seen = forwardedOnce(await curl(`/strict/search?q='a'&r="<b>"&s=%2F+|`));
      assert.equal(seen.url, '/api/search?q=%27a%27&r=%22%3Cb%3E%22&s=%2F+|');
    });

    it('keeps a canonical path exactly, escapes included', async () => {
      const seen = forwardedOnce(await curl("/strict/files/r%C3%A9sum%C3%A9%20v2!$&'()*+,=:@~/x?q=%2F"));
      assert.equal(seen.url, "/api/files/r%C3%A9sum%C3%A9%20v2!$&'()*+,=:@~/x?q=%2F");
    });
  });

  describe('before a real framework (fastify: ; delimits a query, // is merged, X-Forwarded-Host trusted)', () => {
    /** The same raw request straight to fastify: which route ran. */
    async function direct(path: string, ...args: string[]): Promise<string[]> {
      const before = framework.ran.length;
      await run('curl', ['-s', '--path-as-is', '--globoff', '-o', '/dev/null', ...args, `${framework.url}${path}`]);
      return framework.ran.slice(before);
    }

    async function through(path: string, ...args: string[]): Promise<{ status: number; code: string | undefined; ran: string[] }> {
      const before = framework.ran.length;
      const got = await curl(path, ...args);
      return { status: got.status, code: got.code, ran: framework.ran.slice(before) };
    }

    it('a ; that fastify reads as the end of the path never reaches it', async () => {
      assert.deepEqual(await direct('/api/admin;x=1'), [`admin ${new URL(framework.url).host}`], 'fastify reads /admin;x=1 as /admin');
      assert.deepEqual(await through('/fastify/admin;x=1'), { status: 400, code: 'PCS_HTTP_AMBIGUOUS_PATH', ran: [] });
    });

    it('a // that fastify merges is decided as the merged path (denied), not forwarded', async () => {
      assert.equal((await direct('/api//admin')).length, 1, 'fastify reads //admin as /admin');
      assert.deepEqual(await through('/fastify//admin'), { status: 403, code: 'PCS_POLICY_DENIED', ran: [] });
    });

    it('an X-Forwarded-Host fastify would trust is stripped: it sees its own host', async () => {
      assert.deepEqual(await direct('/api/reports/q1', '-H', 'X-Forwarded-Host: admin.internal'), ['report q1 admin.internal'], 'fastify trusts X-Forwarded-Host');
      const got = await through('/fastify/reports/q1', '-H', 'X-Forwarded-Host: admin.internal');
      assert.equal(got.status, 200);
      assert.deepEqual(got.ran, [`report q1 ${new URL(framework.url).host}`]);
    });
  });
});

describe('HTTP request integrity over TLS: the server name and the request name one connection', () => {
  let up: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let t: TestGateway;
  let port: number;
  let agent: string;
  let cert: string;

  before(async () => {
    up = await startRecordingUpstream();
    const dir = tempDir('pcs-integrity-tls-');
    const key = join(dir, 'key.pem');
    cert = join(dir, 'cert.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=gw.test', '-addext', 'subjectAltName=DNS:billing.gw.test,DNS:admin.gw.test,DNS:gw.test', '-keyout', key, '-out', cert]);
    t = await startTestGateway(
      `
connections:
  - { name: billing, type: http, host: billing.gw.test, upstream: { url: "${up.url}/billing" } }
  - { name: admin-api, type: http, host: admin.gw.test, upstream: { url: "${up.url}/admin" } }
  - { name: plain, type: http, upstream: { url: "${up.url}/plain" } }
protocols: { http: { tls: { cert: "${cert}", key: "${key}" } } }
policies:
  - { name: agents, subjects: { groups: [agents] }, connections: ["*"], rules: [{ then: allow }] }
`,
      process.env,
      '{ api: "127.0.0.1:0", http: "127.0.0.1:0" }',
    );
    port = t.gw.listeners.get('http')?.port ?? 0;
    agent = await t.token('agent-bot', ['agents']);
  });

  after(async () => {
    await t?.stop();
    up?.server.close();
  });

  /** curl over TLS to `name` (the server name sent), with extra arguments; status, code and what the upstream saw. */
  async function tls(name: string, path: string, ...args: string[]): Promise<{ status: number; code: string | undefined; seen: Seen[] }> {
    const before = up.seen.length;
    const out = await run('curl', ['-s', '--cacert', cert, '--resolve', `${name}:${port}:127.0.0.1`, '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${agent}`, ...args, `https://${name}:${port}${path}`]);
    const cut = out.stdout.lastIndexOf('\n');
    let code: string | undefined;
    try {
      code = (JSON.parse(out.stdout.slice(0, cut)) as { code?: string }).code;
    } catch {
      code = undefined;
    }
    return { status: Number(out.stdout.slice(cut + 1)), code, seen: up.seen.slice(before) };
  }

  it('passes when they agree', async () => {
    const got = await tls('billing.gw.test', '/invoices');
    assert.equal(got.status, 200);
    assert.deepEqual(got.seen.map((s) => s.url), ['/billing/invoices']);
    assert.equal((await tls('gw.test', '/plain/x')).status, 200, 'a server name that is no connection\'s host names none');
    assert.equal((await tls('gw.test', '/x', '-H', 'Host: admin.gw.test')).status, 200, 'nor does it disagree with a Host');
  });

  it('refuses with 421 when the server name is one connection and the Host another', async () => {
    const got = await tls('billing.gw.test', '/users', '-H', 'Host: admin.gw.test');
    assert.deepEqual([got.status, got.code, got.seen], [421, 'PCS_HTTP_MISDIRECTED', []]);
    const byPrefix = await tls('billing.gw.test', '/plain/x', '-H', 'Host: gw.test');
    assert.deepEqual([byPrefix.status, byPrefix.code, byPrefix.seen], [421, 'PCS_HTTP_MISDIRECTED', []]);
  });
});
