// The PostgreSQL executor (what an MCP tool call runs SQL through) against a real server, with
// no PostgreSQL listener configured: typed results with masked columns flagged, parameters
// bound (never spliced), denials and mask refusals as refusals with their PCS codes (nothing
// runs), server errors as failures, several statements, truncation, deferred and held
// reviews (the hold reported, an abort ends the wait), and everything recorded into the
// caller's session.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ExecutionScope, Executed, SqlRun, SqlSession } from '../../../src/pipeline/executor.ts';
import type { SessionRecording } from '../../../src/recorder/recorder.ts';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { adminSql, createDatabase, dropDatabase, eventually } from './support.ts';
import { storeDb } from '../../support/store-db.ts';

const EMAIL = 'qv9.maria@example.com';

function config(db: string): string {
  return `
connections:
  - { name: app-db, type: postgres, upstream: { host: 127.0.0.1, port: 5432, database: ${db}, user: postgres, tls: disable } }
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    masks:
      - { column: public.people.email, with: redact }
      - { column: public.people.ssn, with: redact, deny_in_predicates: true }
    rules:
      - { name: deferred-updates, match: { sql: { command: [update] } }, then: review, review: { mode: defer, timeout: 60s, approvers: { groups: [dba] } } }
      - { name: held-inserts, match: { sql: { command: [insert] } }, then: review, review: { mode: hold, timeout: 20s, approvers: { groups: [dba] } } }
      - { match: { sql: { effect: [read] } }, then: allow }
      - { name: no-writes, then: deny, reason: agents only read }
`;
}

function done(r: Executed<SqlRun>): SqlRun {
  assert.equal(r.outcome, 'done', JSON.stringify(r));
  return (r as { value: SqlRun }).value;
}

describe('postgres executor', () => {
  let db: string;
  let t: TestGateway;
  let recording: SessionRecording;
  let scope: ExecutionScope;
  let session: SqlSession;
  const held: string[] = [];

  const approve = async (id: string): Promise<void> => {
    const dba = await t.token('alice', ['dba']);
    const res = await fetch(`${t.url}/api/v1/reviews/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${dba}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 200, await res.text());
  };
  const pendingId = async (text: RegExp): Promise<string> => {
    let id: string | undefined;
    await eventually(async () => {
      id = (await t.gw.services.reviews.list({ status: 'pending' })).find((r) => text.test(r.action?.text ?? ''))?.id;
      return id !== undefined;
    }, 10_000);
    return id as string;
  };

  before(async () => {
    db = await createDatabase();
    await adminSql(`CREATE TABLE people (id int PRIMARY KEY, name text, email text, ssn text, active bool, big int8, doc jsonb, score float8);
      INSERT INTO people VALUES (1, 'Maria', '${EMAIL}', '078-05-1120', true, 9007199254740993, '{"a": [1, 2]}', 1.5), (2, 'Ann', NULL, NULL, false, NULL, NULL, 'NaN');
      INSERT INTO people SELECT g, 'p' || g, NULL, NULL, NULL, NULL, NULL, NULL FROM generate_series(3, 30) g;`, db);
    t = await startTestGateway(config(db));
    const identity = await t.gw.services.authenticator.authenticate(await t.token('agent-bot', ['agents']), { protocol: 'mcp', connection: 'app-db', client: null });
    recording = t.gw.recorder.start({ connection: 'app-db', protocol: 'mcp', subject: identity.subject, clientAddr: null });
    scope = { identity, recording, protocol: 'mcp', onHeld: (notice) => held.push(notice) };
    const executor = t.gw.executors.sql.get('postgres');
    assert.ok(executor, 'a postgres executor without a postgres listener');
    assert.equal(t.gw.listeners.has('postgres'), false);
    session = await executor.open(scope, 'app-db');
  });

  after(async () => {
    await session?.close();
    recording?.end('closed');
    await t?.stop();
    if (db) await dropDatabase(db);
  });

  it('returns typed rows, with masked columns flagged and their values masked', async () => {
    const run = done(await session.query('SELECT id, name, email, active, big, doc, score FROM people WHERE id <= 2 ORDER BY id', undefined, { maxRows: 100 }));
    assert.equal(run.results.length, 1);
    const [result] = run.results;
    assert.deepEqual(result?.columns, [
      { name: 'id', type: 'int4', masked: false },
      { name: 'name', type: 'text', masked: false },
      { name: 'email', type: 'text', masked: true },
      { name: 'active', type: 'bool', masked: false },
      { name: 'big', type: 'int8', masked: false },
      { name: 'doc', type: 'jsonb', masked: false },
      { name: 'score', type: 'float8', masked: false },
    ]);
    assert.equal(result?.command, 'SELECT');
    assert.equal(result?.rowCount, 2);
    const [maria, ann] = result?.rows ?? [];
    assert.deepEqual(maria?.slice(0, 2), [1, 'Maria']);
    assert.notEqual(maria?.[2], EMAIL);
    assert.ok(!JSON.stringify(run).includes(EMAIL), 'the email never leaves the gateway');
    // int8 stays text (a JSON number would round it), JSON is parsed, NaN stays text.
    assert.deepEqual(maria?.slice(3), [true, '9007199254740993', { a: [1, 2] }, 1.5]);
    assert.deepEqual(ann?.slice(2), [null, false, null, null, 'NaN']);
  });

  it('binds parameters as values, never as SQL', async () => {
    const run = done(await session.query('SELECT name FROM people WHERE name = $1 OR id = $2', ["x' OR '1'='1", '2'], { maxRows: 100 }));
    assert.deepEqual(run.results[0]?.rows, [['Ann']]);
    const masked = done(await session.query('SELECT email FROM people WHERE id = $1', ['1'], { maxRows: 100 }));
    assert.equal(masked.results[0]?.columns[0]?.masked, true);
    assert.notEqual(masked.results[0]?.rows[0]?.[0], EMAIL);
  });

  it('refuses what policy denies, with the rule, and runs nothing of it', async () => {
    const r = await session.query('DELETE FROM people WHERE id = 3', undefined, { maxRows: 100 });
    assert.equal(r.outcome, 'refused');
    assert.equal(r.outcome === 'refused' && r.refusal.code, 'PCS_POLICY_DENIED');
    assert.match(r.outcome === 'refused' ? r.refusal.message : '', /no-writes.*agents only read/);
    assert.equal(await adminSql('SELECT count(*) FROM people WHERE id = 3', db), '1');
    // Masking's own refusals come the same way: a filter on a column masked with deny_in_predicates.
    const p = await session.query("SELECT id FROM people WHERE ssn = '078-05-1120'", undefined, { maxRows: 100 });
    assert.equal(p.outcome === 'refused' && p.refusal.code, 'PCS_MASK_PREDICATE_DENIED');
    // The session goes on.
    assert.deepEqual(done(await session.query('SELECT 1 AS one', undefined, { maxRows: 1 })).results[0]?.rows, [[1]]);
  });

  it('reports the server\'s own errors as failures, and runs several statements in order', async () => {
    const e = await session.query('SELECT * FROM no_such_table', undefined, { maxRows: 10 });
    assert.equal(e.outcome, 'failed');
    assert.equal(e.outcome === 'failed' && e.error.code, '42P01');
    const run = done(await session.query("SELECT 1 AS a; SELECT 'two' AS b", undefined, { maxRows: 10 }));
    assert.deepEqual(run.results.map((r) => r.rows), [[[1]], [['two']]]);
  });

  it('keeps maxRows rows and marks the result truncated', async () => {
    const run = done(await session.query('SELECT id FROM people ORDER BY id', undefined, { maxRows: 5 }));
    assert.equal(run.results[0]?.rows.length, 5);
    assert.equal(run.results[0]?.truncated, true);
    assert.equal(run.results[0]?.rowCount, 30);
  });

  it('defers a reviewed statement with its review id, and runs it after approval', async () => {
    const first = await session.query("UPDATE people SET name = 'P3' WHERE id = 3", undefined, { maxRows: 10 });
    assert.equal(first.outcome === 'refused' && first.refusal.code, 'PCS_REVIEW_PENDING', JSON.stringify(first));
    const id = first.outcome === 'refused' ? first.refusal.reviewId : undefined;
    assert.match(id ?? '', /^r-[0-9a-f]+$/);
    await approve(id as string);
    const again = done(await session.query("UPDATE people SET name = 'P3' WHERE id = 3", undefined, { maxRows: 10 }));
    assert.equal(again.results[0]?.rowCount, 1);
    assert.equal(await adminSql('SELECT name FROM people WHERE id = 3', db), 'P3');
  });

  it('holds a reviewed statement, tells the caller, and runs it once approved', async () => {
    held.length = 0;
    const running = session.query('INSERT INTO people (id, name) VALUES (100, $1)', ['held'], { maxRows: 10 });
    const id = await pendingId(/INSERT INTO people/);
    await eventually(async () => held.length === 1);
    assert.match(held[0] ?? '', new RegExp(`review ${id} created; waiting`));
    assert.equal(await adminSql('SELECT count(*) FROM people WHERE id = 100', db), '0');
    await approve(id);
    assert.equal(done(await running).results[0]?.rowCount, 1);
    assert.equal(await adminSql('SELECT name FROM people WHERE id = 100', db), 'held');
  });

  it('an abort while held ends the wait and the session; the review stays, nothing runs', async () => {
    const executor = t.gw.executors.sql.get('postgres');
    const own = await executor!.open(scope, 'app-db');
    const abort = new AbortController();
    const running = own.query('INSERT INTO people (id, name) VALUES (101, $1)', ['gone'], { maxRows: 10, signal: abort.signal });
    await pendingId(/VALUES \(101/);
    await eventually(async () => t.gw.services.reviews.waiting() === 1);
    abort.abort();
    await assert.rejects(running, /PCS_EXECUTOR_CLOSED|has ended/);
    await eventually(async () => t.gw.services.reviews.waiting() === 0);
    assert.equal(await adminSql('SELECT count(*) FROM people WHERE id = 101', db), '0');
    await assert.rejects(own.query('SELECT 1', undefined, { maxRows: 1 }), /has ended/);
  });

  it('refuses an unknown connection', async () => {
    await assert.rejects(t.gw.executors.sql.get('postgres')!.open(scope, 'nope'), /no connection named nope/);
  });

  it('records every call into the caller\'s session, which stays open', async () => {
    await t.gw.recorder.flush();
    const events = await storeDb(t.gw.services.store).selectFrom('session_events').select(['kind', 'data']).where('session_id', '=', recording.id).orderBy('id').execute();
    const kinds = events.map((e) => e.kind);
    assert.ok(kinds.includes('statement') && kinds.includes('denied'), kinds.join(','));
    const texts = events.map((e) => (JSON.parse(e.data) as { text?: string }).text);
    assert.ok(texts.includes('DELETE FROM people WHERE id = 3'));
    const masked = events.map((e) => JSON.parse(e.data) as { text?: string; masking?: { columns: { name: string }[] } }).find((d) => d.text?.startsWith('SELECT id, name, email'));
    assert.deepEqual(masked?.masking?.columns.map((c) => c.name), ['email']);
    const row = await storeDb(t.gw.services.store).selectFrom('sessions').selectAll().where('id', '=', recording.id).executeTakeFirst();
    assert.equal(row?.protocol, 'mcp');
    assert.equal(row?.ended_at ?? null, null, 'the caller ends its session, not the executor');
    // The audit names how the agent came.
    await eventually(async () => {
      const audit = await t.gw.services.store.audit.records({ after: undefined, limit: 10_000, type: 'policy.decision' });
      return audit.some((a) => { const d = JSON.parse(a.data) as { protocol?: string; session?: string }; return d.session === recording.id && d.protocol === 'mcp'; });
    });
  });
});
