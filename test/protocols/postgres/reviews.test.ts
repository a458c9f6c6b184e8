// Human approval in the PostgreSQL data path, with real clients and the admin API: a held
// statement runs once approved (and only then), is refused when denied or when nobody decides
// in time; a deferred one passes on retry after approval; an approval covers exactly one
// statement, its parameters and its requester; requesters and agents cannot approve; two
// approvers mean two; just-in-time access works until it expires, mid-session.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../../../src/config/load.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { startGateway } from '../../../src/runtime/gateway.ts';
import { adminSql, createDatabase, dropDatabase, eventually, psql, recordedEvents, runWithToken, startPgGateway, type PgGateway } from './support.ts';
import { storeDb } from '../../support/store-db.ts';

function config(db: string): string {
  return `
connections:
  - { name: app-db, type: postgres, upstream: { host: 127.0.0.1, port: 5432, database: ${db}, user: postgres, tls: disable } }
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
      - { name: held-deletes, match: { sql: { command: [delete] } }, then: review, review: { mode: hold, timeout: 20s, approvers: { groups: [dba] } } }
      - { name: deferred-updates, match: { sql: { command: [update] } }, then: review, review: { mode: defer, timeout: 60s, approvers: { groups: [dba] } } }
      - { name: quick-inserts, match: { sql: { command: [insert] } }, then: review, review: { mode: hold, timeout: 2s, approvers: { groups: [dba] } } }
      - { name: two-person, match: { sql: { command: [truncate] } }, then: review, review: { mode: defer, approvers: { groups: [dba, security], min: 2, all_groups: true } } }
      - { match: { sql: { effect: [read] } }, then: allow }
      - { then: deny, reason: agents read }
  - name: agents-jit-ddl
    subjects: { groups: [agents] }
    connections: ["*"]
    access: { approvers: { groups: [dba] }, max_duration: 1h }
    rules:
      - { match: { sql: { command: [create] } }, then: allow }
`;
}

describe('postgres reviews and just-in-time access', () => {
  let db: string;
  let gw: PgGateway;
  let agent: string;
  let otherAgent: string;
  let dba: string;
  let dba2: string;
  let security: string;

  const api = async (token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${gw.t.gw.api.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const pendingFor = async (subject: string, text: RegExp): Promise<string> => {
    let id: string | undefined;
    await eventually(async () => {
      const { json } = await api(dba, 'GET', '/api/v1/reviews?status=pending');
      id = (json.reviews as { id: string; subject: string; action: { text: string } | null }[]).find((r) => r.subject === subject && text.test(r.action?.text ?? ''))?.id;
      return id !== undefined;
    }, 10_000);
    return id as string;
  };
  const client = (token: string): pg.Client => new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'agent', password: token });

  before(async () => {
    db = await createDatabase();
    await adminSql('CREATE TABLE items (id int primary key, name text); INSERT INTO items SELECT g, $$item $$ || g FROM generate_series(1, 20) g;', db);
    gw = await startPgGateway(config(db));
    agent = await gw.t.token('agent-bot', ['agents']);
    otherAgent = await gw.t.token('other-bot', ['agents']);
    dba = await gw.t.token('alice', ['dba']);
    dba2 = await gw.t.token('bob', ['dba']);
    security = await gw.t.token('carol', ['security']);
  });

  after(async () => {
    await gw?.stop();
    if (db) await dropDatabase(db);
  });

  it('holds a statement, tells the agent where it waits, and runs it once approved', async () => {
    const run = psql(gw, agent, ['-c', '/* reason: clean up a test row */ DELETE FROM items WHERE id = 1']);
    const id = await pendingFor('agent-bot', /DELETE FROM items WHERE id = 1/);
    assert.equal(await adminSql('SELECT count(*) FROM items WHERE id = 1', db), '1');
    const shown = await api(dba, 'GET', `/api/v1/reviews/${id}`);
    assert.equal(shown.json.reason, 'clean up a test row');
    assert.equal(shown.json.rule, 'agents#0 (held-deletes)');
    const approved = await api(dba, 'POST', `/api/v1/reviews/${id}/approve`, { comment: 'ok' });
    assert.equal(approved.status, 200, JSON.stringify(approved.json));
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`review ${id} created; waiting up to 20 s`));
    assert.match(r.stdout, /DELETE 1/);
    assert.equal(await adminSql('SELECT count(*) FROM items WHERE id = 1', db), '0');
    await eventually(async () => (await recordedEvents(gw, 'statement')).some((e) => e.data.review === id));
  });

  it('a client that hangs up while held leaves nothing waiting; the review stays and nothing runs', async () => {
    const c = client(agent);
    c.on('error', () => undefined);
    await c.connect();
    const running = c.query('DELETE FROM items WHERE id = 9').catch((err: Error) => err);
    const id = await pendingFor('agent-bot', /DELETE FROM items WHERE id = 9/);
    await eventually(async () => gw.t.gw.services.reviews.waiting() === 1);
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await running;
    await eventually(async () => gw.t.gw.services.reviews.waiting() === 0);
    assert.equal((await api(dba, 'GET', `/api/v1/reviews/${id}`)).json.status, 'pending');
    // Approved after the agent left: nothing runs by itself.
    assert.equal((await api(dba, 'POST', `/api/v1/reviews/${id}/approve`)).status, 200);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await adminSql('SELECT count(*) FROM items WHERE id = 9', db), '1');
  });

  it('refuses a held statement that is denied, naming the review and the comment', async () => {
    const run = psql(gw, agent, ['-c', 'DELETE FROM items WHERE id = 2']);
    const id = await pendingFor('agent-bot', /id = 2/);
    await api(dba, 'POST', `/api/v1/reviews/${id}/deny`, { comment: 'not today' });
    const r = await run;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`review ${id} was denied by alice: not today`));
    assert.match(r.stderr, /PCS_REVIEW_DENIED/);
    assert.equal(await adminSql('SELECT count(*) FROM items WHERE id = 2', db), '1');
  });

  it('refuses a held statement nobody decides in time, and the session goes on', async () => {
    const c = client(agent);
    await c.connect();
    try {
      const notices: string[] = [];
      c.on('notice', (n) => notices.push(n.message ?? ''));
      await assert.rejects(c.query("INSERT INTO items VALUES (100, 'late')"), (err: Error & { code?: string }) => err.code === '42501' && /expired after 2 s/.test(err.message));
      assert.match(notices[0] ?? '', /waiting up to 2 s/);
      const ok = await c.query('SELECT count(*)::int AS n FROM items WHERE id = 100');
      assert.equal(ok.rows[0]?.n, 0);
    } finally {
      await c.end();
    }
  });

  it('defers: refuses at once with the review id, and the same statement passes after approval, once', async () => {
    const sql = "UPDATE items SET name = 'renamed' WHERE id = 3";
    const first = await psql(gw, agent, ['-c', sql]);
    assert.notEqual(first.code, 0);
    const m = /review (r-[0-9a-f]+) created/.exec(first.stderr);
    assert.ok(m, first.stderr);
    const id = m[1] as string;
    assert.match(first.stderr, /PCS_REVIEW_PENDING/);
    // Not approved yet: a retry makes another review, and nothing ran.
    assert.equal(await adminSql('SELECT name FROM items WHERE id = 3', db), 'item 3');
    assert.equal((await api(dba, 'POST', `/api/v1/reviews/${id}/approve`)).status, 200);
    // Another statement, another identity: the approval does not cover them.
    const other = await psql(gw, agent, ['-c', "UPDATE items SET name = 'renamed' WHERE id = 4"]);
    assert.match(other.stderr, /PCS_REVIEW_PENDING/);
    const someoneElse = await psql(gw, otherAgent, ['-c', sql]);
    assert.match(someoneElse.stderr, /PCS_REVIEW_PENDING/);
    const retry = await psql(gw, agent, ['-c', sql]);
    assert.equal(retry.code, 0, retry.stderr);
    assert.equal(await adminSql('SELECT name FROM items WHERE id = 3', db), 'renamed');
    // One use: a second run needs a new review.
    const again = await psql(gw, agent, ['-c', sql]);
    assert.match(again.stderr, /PCS_REVIEW_PENDING/);
  });

  it('binds parameters into the approval (extended protocol)', async () => {
    const c = client(agent);
    await c.connect();
    try {
      const text = 'UPDATE items SET name = $1 WHERE id = $2';
      const err = await c.query(text, ['p', 5]).then(() => undefined, (e: Error) => e);
      const id = /review (r-[0-9a-f]+)/.exec(err?.message ?? '')?.[1];
      assert.ok(id, err?.message);
      const shown = await api(dba, 'GET', `/api/v1/reviews/${id}`);
      assert.deepEqual((shown.json.action as { params: unknown }).params, ['p', '5']);
      await api(dba, 'POST', `/api/v1/reviews/${id}/approve`);
      await assert.rejects(c.query(text, ['p', 6]), /PCS_REVIEW_PENDING/);
      const ok = await c.query(text, ['p', 5]);
      assert.equal(ok.rowCount, 1);
    } finally {
      await c.end();
    }
  });

  it('refuses self-approval, agents as approvers, outsiders, and double votes', async () => {
    const first = await psql(gw, agent, ['-c', 'TRUNCATE items']);
    const id = /review (r-[0-9a-f]+)/.exec(first.stderr)?.[1] as string;
    const self = await api(agent, 'POST', `/api/v1/reviews/${id}/approve`);
    assert.equal(self.status, 403);
    assert.equal(self.json.code, 'PCS_REVIEW_SELF_APPROVAL');
    const byAgent = await api(otherAgent, 'POST', `/api/v1/reviews/${id}/approve`);
    assert.equal(byAgent.json.code, 'PCS_REVIEW_AGENT_APPROVER');
    // Two approvers from both groups: one is not enough.
    assert.equal((await api(dba, 'POST', `/api/v1/reviews/${id}/approve`)).json.status, 'pending');
    assert.equal((await api(dba, 'POST', `/api/v1/reviews/${id}/approve`)).json.code, 'PCS_REVIEW_ALREADY_VOTED');
    // A second dba still leaves the security group out (all_groups).
    assert.equal((await api(dba2, 'POST', `/api/v1/reviews/${id}/approve`)).json.status, 'pending');
    const stillRefused = await psql(gw, agent, ['-c', 'TRUNCATE items']);
    assert.match(stillRefused.stderr, /PCS_REVIEW_PENDING/);
    assert.equal((await api(security, 'POST', `/api/v1/reviews/${id}/approve`)).json.status, 'approved');
    assert.equal((await api(security, 'POST', `/api/v1/reviews/${id}/deny`)).json.code, 'PCS_REVIEW_CLOSED');
  });

  it('grants just-in-time access that applies until it expires, in the middle of a session', async () => {
    const c = client(agent);
    await c.connect();
    try {
      await assert.rejects(c.query('CREATE TABLE jit1 (id int)'), /agents read/);
      const asked = await api(agent, 'POST', '/api/v1/access', { connection: 'app-db', duration: '2s', reason: 'schema change' });
      assert.equal(asked.status, 201, JSON.stringify(asked.json));
      assert.equal(asked.json.policy, 'agents-jit-ddl');
      assert.equal((await api(agent, 'POST', `/api/v1/reviews/${String(asked.json.id)}/approve`)).json.code, 'PCS_REVIEW_SELF_APPROVAL');
      assert.equal((await api(dba, 'POST', `/api/v1/reviews/${String(asked.json.id)}/approve`)).json.status, 'approved');
      await c.query('CREATE TABLE jit1 (id int)');
      await new Promise((r) => setTimeout(r, 2300));
      await assert.rejects(c.query('CREATE TABLE jit2 (id int)'), /agents read/);
      const tooLong = await api(agent, 'POST', '/api/v1/access', { connection: 'app-db', duration: '2h' });
      assert.equal(tooLong.json.code, 'PCS_ACCESS_TOO_LONG');
    } finally {
      await c.end();
    }
  });

  it('audits every step of a review', async () => {
    const types = new Set<string>();
    await eventually(async () => {
      for (const r of await storeDb(gw.t.gw.services.store).selectFrom('audit').select(['type']).execute()) types.add(r.type);
      return types.has('access.ended');
    });
    for (const t of ['review.created', 'review.vote', 'review.approved', 'review.denied', 'review.expired', 'review.used', 'access.requested', 'access.approved', 'access.ended']) assert.ok(types.has(t), t);
  });
});

describe('postgres reviews across a gateway restart', () => {
  let db: string;

  before(async () => {
    db = await createDatabase();
    await adminSql('CREATE TABLE items (id int primary key); INSERT INTO items VALUES (1), (2);', db);
  });

  after(async () => {
    if (db) await dropDatabase(db);
  });

  it('ends a held statement with a clear error when the gateway stops; the review survives and can be used after', async () => {
    const gw = await startPgGateway(config(db));
    const agent = await gw.t.token('agent-bot', ['agents']);
    const dba = await gw.t.token('alice', ['dba']);
    const run = psql(gw, agent, ['-c', 'DELETE FROM items WHERE id = 2']);
    let id: string | undefined;
    await eventually(async () => {
      id = (await gw.t.gw.services.reviews.list({ status: 'pending' }))[0]?.id;
      return id !== undefined;
    }, 10_000);
    await gw.stop();
    const r = await run;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`the gateway stopped while review ${String(id)} was pending`));
    assert.equal(await adminSql('SELECT count(*) FROM items', db), '2');

    const again = await startGateway(loadConfig(gw.t.configFile), createLogger('silent'));
    try {
      const review = await again.services.reviews.get(id as string);
      assert.equal(review?.status, 'pending');
      const res = await fetch(`${again.api.url}/api/v1/reviews/${String(id)}/approve`, { method: 'POST', headers: { authorization: `Bearer ${dba}`, 'content-type': 'application/json' }, body: '{}' });
      assert.equal(res.status, 200);
      const port = again.listeners.get('postgres')?.port;
      const retry = await runWithToken('psql', [`host=127.0.0.1 port=${String(port)} dbname=app-db user=agent sslmode=disable`, '-X', '-c', 'DELETE FROM items WHERE id = 2'], agent);
      assert.equal(retry.code, 0, retry.stderr);
      assert.equal(await adminSql('SELECT count(*) FROM items', db), '1');
    } finally {
      await again.stop('test done');
    }
  });
});
