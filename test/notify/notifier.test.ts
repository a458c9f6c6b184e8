// Notifier against real HTTP receivers on 127.0.0.1: signed webhooks, Slack payloads, retries,
// timeouts, shutdown. Backoffs and timeouts are shrunk so the whole file runs in about a second.
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { configSchema } from '../../src/config/schema.ts';
import type { AuditEvent, AuditSink } from '../../src/core/audit-event.ts';
import { NOTIFY_EVENTS, notificationsSchema, type NotificationsConfig } from '../../src/notify/config.ts';
import type { ReviewNotice } from '../../src/notify/event.ts';
import { Notifier, SLACK_ACTION_MAX_CHARS, type NotifierOptions } from '../../src/notify/notifier.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { SECRET_MARKER, testSecret } from '../support/secrets.ts';

const WEBHOOK_SECRET = testSecret('webhook-hmac');
const SLACK_TOKEN = testSecret('slack-hook');

interface Received {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly requests: Received[];
  close(): Promise<void>;
}

const receivers: Receiver[] = [];
after(async () => {
  await Promise.all(receivers.map((r) => r.close()));
});

/** A real HTTP server; `answer` gets the n-th request (0-based) and may leave it unanswered. */
async function receiver(answer: (n: number, req: IncomingMessage, res: ServerResponse) => void = (_n, _req, res) => void res.writeHead(204).end()): Promise<Receiver> {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = requests.length;
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      answer(n, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  let closed = false;
  const r: Receiver = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  receivers.push(r);
  return r;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const r = await receiver();
  await r.close();
  return r.port;
}

class MemoryAudit implements AuditSink {
  readonly events: AuditEvent[] = [];
  async append(event: AuditEvent): Promise<void> {
    this.events.push(event);
  }
}

function setup(config: Partial<NotificationsConfig>, over: Partial<NotifierOptions> = {}): { notifier: Notifier; audit: MemoryAudit; lines: string[] } {
  const audit = new MemoryAudit();
  const lines: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => void lines.push(line) });
  const notifier = new Notifier({ config: { webhooks: [], slack: [], ...config }, logger, audit, backoffMs: [20, 40, 80], attemptTimeoutMs: 1000, ...over });
  return { notifier, audit, lines };
}

const webhook = (url: string, events: NotificationsConfig['webhooks'][number]['events'] = [...NOTIFY_EVENTS]): NotificationsConfig['webhooks'][number] => ({ url, secret: WEBHOOK_SECRET, events });

function notice(over: Partial<ReviewNotice> = {}, review: Partial<ReviewNotice['review']> = {}): ReviewNotice {
  const created = 1_732_579_200_000;
  return {
    type: 'review.created',
    at: created,
    review: {
      id: 'r-7f3a9c',
      kind: 'action',
      status: 'pending',
      subject: 'agent-bot',
      connection: 'prod-pg',
      action: { kind: 'sql', text: 'DELETE FROM orders WHERE id = $1', params: ['42'] },
      rule: 'agents#1 (writes need a DBA)',
      reason: 'duplicate order',
      created_at: created,
      expires_at: created + 900_000,
      approvers: { groups: ['dba'], min: 1, all_groups: false },
      url: 'https://portcullis.example.com/reviews/r-7f3a9c',
      ...review,
    },
    ...over,
  };
}

async function until(what: string, check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function verifySignature(r: Received): boolean {
  const ts = r.headers['x-portcullis-timestamp'];
  const sig = r.headers['x-portcullis-signature'];
  assert.equal(typeof ts, 'string');
  assert.equal(typeof sig, 'string');
  const expected = Buffer.from(`v1=${createHmac('sha256', WEBHOOK_SECRET).update(`${ts as string}.${r.body}`).digest('hex')}`);
  const given = Buffer.from(sig as string);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function notified(audit: MemoryAudit): Array<Record<string, unknown>> {
  return audit.events.filter((e) => (e.type as string) === 'review.notified').map((e) => ({ actor: e.actor, ...e.data }));
}

describe('notifications config', () => {
  it('fills defaults: webhooks get every event, Slack the two that need someone to act', () => {
    const c = notificationsSchema.parse({ webhooks: [{ url: 'https://hooks.example.com/p', secret: WEBHOOK_SECRET }], slack: [{ webhook_url: 'https://hooks.slack.com/services/T/B/x' }] });
    assert.deepEqual(c.webhooks[0]?.events, [...NOTIFY_EVENTS]);
    assert.deepEqual(c.slack[0]?.events, ['review.created', 'access.requested']);
    assert.deepEqual(notificationsSchema.parse({}), { webhooks: [], slack: [] });
  });

  it('accepts loopback http for Slack (tests, local relays) and plain http webhooks', () => {
    assert.ok(notificationsSchema.safeParse({ slack: [{ webhook_url: 'http://127.0.0.1:9999/services/x' }] }).success);
    assert.ok(notificationsSchema.safeParse({ webhooks: [{ url: 'http://receiver.internal:8080/hook', secret: WEBHOOK_SECRET }] }).success);
  });

  it('refuses bad values without echoing them', () => {
    const bad: unknown[] = [
      { slack: [{ webhook_url: `http://hooks.example.com/services/${SLACK_TOKEN}` }] },
      { slack: [{ webhook_url: 'not a url' }] },
      { webhooks: [{ url: 'ftp://hooks.example.com/x', secret: WEBHOOK_SECRET }] },
      { webhooks: [{ url: 'https://hooks.example.com/x', secret: 'short' }] },
      { webhooks: [{ url: 'https://hooks.example.com/x', secret: WEBHOOK_SECRET, events: ['review.created', 'review.maybe'] }] },
      { webhooks: [{ url: 'https://hooks.example.com/x', secret: WEBHOOK_SECRET, events: [] }] },
      { webhooks: [{ url: 'https://hooks.example.com/x', secret: WEBHOOK_SECRET, headers: {} }] },
      { email: [] },
    ];
    for (const input of bad) {
      const r = notificationsSchema.safeParse(input);
      assert.equal(r.success, false, JSON.stringify(input).replaceAll(SECRET_MARKER, '<marker>'));
      assert.ok(!JSON.stringify(r.error?.issues).includes(SECRET_MARKER), 'a problem quotes a secret');
    }
  });

  it('the full example in docs/notifications.md validates with the section added to the config schema', () => {
    const text = readFileSync(new URL('../../docs/notifications.md', import.meta.url), 'utf8');
    const block = /```yaml\n(# example: full\n[\s\S]*?)```/.exec(text)?.[1];
    assert.ok(block, 'docs/notifications.md has a full example');
    const env: Record<string, string> = { APP_DB_PASSWORD: 'example-password', PORTCULLIS_WEBHOOK_SECRET: 'example-webhook-key-0123456789', SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T000/B000/XXXX' };
    const resolved = block.replace(/\$\{env:([A-Z_]+)\}/g, (_m, name: string) => env[name] ?? assert.fail(`example uses ${name}`));
    const withNotifications = configSchema.extend({ notifications: notificationsSchema.optional() });
    const parsed = withNotifications.parse(parseYaml(resolved));
    assert.equal(parsed.notifications?.webhooks.length, 1);
    assert.equal(parsed.notifications?.slack.length, 1);
  });
});

describe('generic webhook', () => {
  it('posts the notice as JSON, signed, with the documented headers, and audits the delivery', async () => {
    const rx = await receiver();
    const { notifier, audit } = setup({ webhooks: [webhook(`${rx.url}/hooks/portcullis`)] });
    const n = notice();
    notifier.notify(n);
    await notifier.close(Date.now() + 3000);

    assert.equal(rx.requests.length, 1);
    const r = rx.requests[0] as Received;
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/hooks/portcullis');
    assert.deepEqual(JSON.parse(r.body), n);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['user-agent'], 'portcullis');
    assert.equal(r.headers['x-portcullis-event'], 'review.created');
    assert.match(String(r.headers['x-portcullis-delivery']), /^[0-9a-f-]{36}$/);
    assert.match(String(r.headers['x-portcullis-signature']), /^v1=[0-9a-f]{64}$/);
    const ts = Number(r.headers['x-portcullis-timestamp']);
    assert.ok(Math.abs(ts - Date.now() / 1000) < 5, 'timestamp is current unix seconds');
    assert.ok(verifySignature(r), 'signature verifies with the secret');
    // Any change to the body breaks it.
    assert.ok(!verifySignature({ ...r, body: r.body.replace('orders', 'orderz') }));

    assert.deepEqual(notified(audit), [{ actor: 'portcullis', review: 'r-7f3a9c', event: 'review.created', target: 'webhook', host: `127.0.0.1:${rx.port}`, delivered: true, attempts: 1 }]);
  });

  it('sends each target only the events it subscribed to', async () => {
    const all = await receiver();
    const decided = await receiver();
    const slack = await receiver();
    const { notifier, audit } = setup({
      webhooks: [webhook(all.url), webhook(decided.url, ['review.approved', 'review.denied'])],
      slack: [{ webhook_url: `${slack.url}/services/${SLACK_TOKEN}`, events: ['review.created', 'access.requested'] }],
    });
    notifier.notify(notice());
    notifier.notify(notice({ type: 'review.approved', actor: 'dba-alice', comment: 'ok' }, { status: 'approved' }));
    notifier.notify(notice({ type: 'review.expired' }, { status: 'expired' }));
    await notifier.close(Date.now() + 3000);

    assert.deepEqual(all.requests.map((r) => r.headers['x-portcullis-event']).sort(), ['review.approved', 'review.created', 'review.expired']);
    assert.deepEqual(decided.requests.map((r) => r.headers['x-portcullis-event']), ['review.approved']);
    assert.equal(slack.requests.length, 1);
    assert.equal(notified(audit).length, 5);
    assert.ok(notified(audit).every((a) => a.delivered === true));
  });

  it('retries a failing receiver with the same delivery id until it answers 2xx', async () => {
    const rx = await receiver((n, _req, res) => void res.writeHead(n < 2 ? 500 : 200).end());
    const { notifier, audit } = setup({ webhooks: [webhook(rx.url)] });
    notifier.notify(notice());
    await until('the third attempt to be audited', () => notified(audit).length === 1);

    assert.equal(rx.requests.length, 3);
    const ids = new Set(rx.requests.map((r) => r.headers['x-portcullis-delivery']));
    assert.equal(ids.size, 1, 'one delivery id across retries');
    assert.ok(rx.requests.every(verifySignature), 'every attempt is signed');
    assert.ok(rx.requests.every((r) => r.body === rx.requests[0]?.body), 'the same bytes every time');
    assert.deepEqual(notified(audit)[0], { actor: 'portcullis', review: 'r-7f3a9c', event: 'review.created', target: 'webhook', host: `127.0.0.1:${rx.port}`, delivered: true, attempts: 3 });
    await notifier.close(Date.now() + 1000);
  });

  it('does not block notify() on a receiver that is down, and audits the failure after the retries', async () => {
    const port = await closedPort();
    const { notifier, audit, lines } = setup({ webhooks: [webhook(`http://127.0.0.1:${port}/hook`)] });
    // notify() returns before any network work starts: nothing is attempted or settled yet
    // (how fast it returns is the benchmarks' business, not a test's).
    notifier.notify(notice());
    assert.equal(notified(audit).length, 0, 'nothing is settled synchronously');

    await until('the failure to be audited', () => notified(audit).length === 1);
    assert.deepEqual(notified(audit)[0], { actor: 'portcullis', review: 'r-7f3a9c', event: 'review.created', target: 'webhook', host: `127.0.0.1:${port}`, delivered: false, attempts: 4 });
    const giveUp = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'notifications: not delivered, giving up');
    assert.ok(giveUp, 'a warning is logged');
    assert.equal(giveUp.level, 40);
    assert.match(String(giveUp.problem), /ECONNREFUSED/);
    await notifier.close(Date.now() + 1000);
  });

  it('abandons an attempt the receiver never answers after the per-attempt timeout', async () => {
    const rx = await receiver(() => undefined);
    const { notifier, audit, lines } = setup({ webhooks: [webhook(rx.url)] }, { backoffMs: [20], attemptTimeoutMs: 100 });
    const t0 = Date.now();
    notifier.notify(notice());
    await until('the timeout to be audited', () => notified(audit).length === 1);
    const took = Date.now() - t0;
    assert.ok(took >= 200 && took < 2000, `two 100 ms attempts took ${took} ms`);
    assert.equal(rx.requests.length, 2);
    assert.deepEqual(notified(audit)[0], { actor: 'portcullis', review: 'r-7f3a9c', event: 'review.created', target: 'webhook', host: `127.0.0.1:${rx.port}`, delivered: false, attempts: 2 });
    assert.ok(lines.some((l) => l.includes('no answer within 100 ms')));
    await notifier.close(Date.now() + 1000);
  });

  it('never follows a redirect: a 3xx is a failed attempt', async () => {
    const rx = await receiver((_n, req, res) => void (req.url === '/hook' ? res.writeHead(307, { location: '/elsewhere' }).end() : res.writeHead(200).end()));
    const { notifier, audit } = setup({ webhooks: [webhook(`${rx.url}/hook`)] }, { backoffMs: [10] });
    notifier.notify(notice());
    await notifier.close(Date.now() + 3000);
    assert.deepEqual(rx.requests.map((r) => r.path), ['/hook', '/hook']);
    assert.equal(notified(audit)[0]?.delivered, false);
  });

  it('logs and continues when the audit sink fails', async () => {
    const rx = await receiver();
    const lines: string[] = [];
    const notifier = new Notifier({
      config: { webhooks: [webhook(rx.url)], slack: [] },
      logger: createLogger('debug', { write: (line: string) => void lines.push(line) }),
      audit: { append: () => Promise.reject(new Error('store is closed')) },
    });
    notifier.notify(notice());
    await notifier.close(Date.now() + 3000);
    assert.equal(rx.requests.length, 1);
    assert.ok(lines.some((l) => l.includes('could not audit the delivery outcome') && l.includes('store is closed')));
  });
});

describe('Slack', () => {
  it('posts text and blocks, escapes user text, truncates a long action, and never logs or audits the URL', async () => {
    const rx = await receiver((_n, _req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
    const slackUrl = `${rx.url}/services/T000/B000/${SLACK_TOKEN}`;
    const { notifier, audit, lines } = setup({ slack: [{ webhook_url: slackUrl, events: ['review.created'] }] });
    const longSql = `SELECT '<script>alert(1)</script>' AS x, ${'a'.repeat(4000)} FROM t`;
    notifier.notify(notice({}, { action: { kind: 'sql', text: longSql, params: null }, reason: 'ping <!channel> & see <https://evil.example|the docs>' }));
    notifier.notify(notice({}, { id: 'r-2', action: { kind: 'sql', text: 'SELECT 1 /* ``` *bold* */' } }));
    await notifier.close(Date.now() + 3000);

    assert.equal(rx.requests.length, 2);
    const [first, second] = rx.requests as [Received, Received];
    assert.equal(first.path, `/services/T000/B000/${SLACK_TOKEN}`);
    assert.equal(first.headers['content-type'], 'application/json');
    assert.equal(first.headers['x-portcullis-signature'], undefined, 'Slack gets no signature');
    const msg = JSON.parse(first.body) as { text: string; blocks: Array<Record<string, unknown>> };
    assert.equal(typeof msg.text, 'string');
    assert.match(msg.text, /^Review r-7f3a9c requested by agent-bot on prod-pg: SELECT '&lt;script&gt;alert\(1\)&lt;\/script&gt;' AS x, a+…$/);
    assert.ok(!msg.text.includes('\n'));
    assert.ok(Array.isArray(msg.blocks) && msg.blocks.length >= 4);
    assert.equal(msg.blocks[0]?.type, 'header');

    const all = JSON.stringify(msg.blocks);
    assert.ok(!all.includes('<script>'), 'user text is escaped');
    assert.ok(all.includes('&lt;script&gt;'));
    assert.ok(!all.includes('<!channel>') && !all.includes('<https://evil.example'), 'a reason cannot ping or link');
    assert.ok(all.includes('&lt;!channel&gt; &amp; see'));
    assert.ok(all.includes('<https://portcullis.example.com/reviews/r-7f3a9c|'), 'a link to the review');

    const fields = (msg.blocks.find((b) => Array.isArray(b.fields))?.fields ?? []) as Array<{ text: string }>;
    const labels = fields.map((f) => /^\*([^*]+)\*/.exec(f.text)?.[1]);
    for (const l of ['Requester', 'Connection', 'Rule', 'Reason', 'Expires', 'Approvers']) assert.ok(labels.includes(l), `field ${l}`);
    assert.ok(fields.some((f) => f.text.includes('<!date^1732580100^')), 'expiry in Slack date syntax');

    const action = msg.blocks.map((b) => (b.text as { text?: string } | undefined)?.text ?? '').find((t) => t.includes('```')) ?? '';
    const code = /```([\s\S]*)```/.exec(action)?.[1] ?? '';
    assert.match(code, /… \[truncated: \d+ more characters on the review page\]$/);
    const shown = code.slice(0, code.lastIndexOf('\n…'));
    assert.ok(shown.length <= SLACK_ACTION_MAX_CHARS, `code block is ${shown.length} characters`);
    assert.ok(action.length < 3000, 'under Slack section text limit');

    const msg2 = JSON.parse(second.body) as { blocks: Array<{ text?: { text?: string } }> };
    const action2 = msg2.blocks.map((b) => b.text?.text ?? '').find((t) => t.startsWith('*Action*')) ?? '';
    assert.equal(action2.match(/```/g)?.length, 2, 'statement text cannot close the code block');
    assert.ok(!action2.includes('bind parameter'));

    assert.deepEqual(notified(audit).map((a) => [a.target, a.host, a.delivered]), [['slack', `127.0.0.1:${rx.port}`, true], ['slack', `127.0.0.1:${rx.port}`, true]]);
    const everything = lines.join('\n') + JSON.stringify(audit.events);
    assert.ok(!everything.includes(SECRET_MARKER), 'the Slack URL path is a secret');
    assert.ok(!everything.includes('/services/'), 'no URL path in logs or audit');
  });

  it('keeps bind parameter values off the channel and describes decided access requests', async () => {
    const rx = await receiver();
    const { notifier } = setup({ slack: [{ webhook_url: `${rx.url}/services/${SLACK_TOKEN}`, events: ['review.created', 'access.approved'] }] });
    notifier.notify(notice({}, { action: { kind: 'sql', text: 'UPDATE users SET email = $1 WHERE id = $2', params: ['ceo@example.com', '1'] } }));
    notifier.notify(notice({ type: 'access.approved', actor: 'dba-alice', comment: 'for the migration' }, { id: 'a-19c2e0', kind: 'access', status: 'approved', action: undefined, policy: 'prod-write', duration_seconds: 5400 }));
    await notifier.close(Date.now() + 3000);
    const [stmt, access] = rx.requests.map((r) => JSON.parse(r.body) as { text: string; blocks: unknown[] });
    assert.ok(stmt && access);
    assert.ok(!JSON.stringify(stmt).includes('ceo@example.com'));
    assert.ok(JSON.stringify(stmt.blocks).includes('2 bind parameters'));
    assert.equal(access.text, 'Access request a-19c2e0 approved by dba-alice (agent-bot on prod-pg): prod-write for 1h30m');
    const blocks = JSON.stringify(access.blocks);
    assert.ok(blocks.includes('Access request approved: a-19c2e0'));
    assert.ok(blocks.includes('*Approved by*\\ndba-alice') && blocks.includes('*Comment*\\nfor the migration') && blocks.includes('*Duration*\\n1h30m'));
  });
});

describe('close()', () => {
  it('waits for deliveries in flight', async () => {
    const rx = await receiver((_n, _req, res) => void setTimeout(() => res.writeHead(200).end(), 150));
    const { notifier, audit } = setup({ webhooks: [webhook(rx.url)] });
    notifier.notify(notice());
    const t0 = Date.now();
    await notifier.close(Date.now() + 3000);
    assert.ok(Date.now() - t0 >= 100, 'close() waited for the answer');
    assert.equal(notified(audit)[0]?.delivered, true);
  });

  it('abandons what is still running at the deadline, and audits it', async () => {
    const rx = await receiver(() => undefined);
    const { notifier, audit, lines } = setup({ webhooks: [webhook(rx.url)] }, { attemptTimeoutMs: 5000 });
    notifier.notify(notice());
    await until('the request to arrive', () => rx.requests.length === 1);
    const t0 = Date.now();
    await notifier.close(Date.now() + 100);
    const took = Date.now() - t0;
    assert.ok(took >= 90 && took < 1000, `close() took ${took} ms`);
    assert.deepEqual(notified(audit).map((a) => [a.delivered, a.attempts]), [[false, 1]]);
    assert.ok(lines.some((l) => l.includes('abandoning the deliveries still in progress')));
  });

  it('gives up at once a retry that would start after the deadline', async () => {
    const rx = await receiver((_n, _req, res) => void res.writeHead(503).end());
    const { notifier, audit } = setup({ webhooks: [webhook(rx.url)] }, { backoffMs: [10_000] });
    notifier.notify(notice());
    await until('the first attempt', () => rx.requests.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const t0 = Date.now();
    await notifier.close(Date.now() + 2000);
    assert.ok(Date.now() - t0 < 500, 'close() did not wait for a retry it could not make');
    assert.deepEqual(notified(audit).map((a) => [a.delivered, a.attempts]), [[false, 1]]);
  });

  it('drops notices raised after close() began', async () => {
    const rx = await receiver();
    const { notifier, audit, lines } = setup({ webhooks: [webhook(rx.url)] });
    await notifier.close(Date.now() + 1000);
    notifier.notify(notice());
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(rx.requests.length, 0);
    assert.equal(audit.events.length, 0);
    assert.ok(lines.some((l) => l.includes('notice dropped, the notifier is closing')));
  });
});
