// Human approval in the MySQL data path, with the mariadb CLI and the admin API: a deferred
// statement is refused at once with the review id and passes once approved (once); a held one
// waits, the client told nothing, and runs when approved; nothing runs before.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Com, Header } from '../../../src/protocols/mysql/codec/constants.ts';
import { decodePrepareOk } from '../../../src/protocols/mysql/codec/commands.ts';
import { errOf, RawClient, resultDone, stmtExecute } from './raw.ts';
import { adminSql, createDatabase, dropDatabase, mariadb, recordedEvents, startMysqlGateway, type MyGateway } from './support.ts';

async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('MySQL reviews', () => {
  let db: string;
  let gw: MyGateway;
  let deferred: string;
  let held: string;
  let dba: string;

  const api = async (token: string, method: string, path: string): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${gw.t.gw.api.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const pendingFor = async (subject: string): Promise<string> => {
    let id: string | undefined;
    await eventually(async () => {
      const { json } = await api(dba, 'GET', '/api/v1/reviews?status=pending');
      id = (json.reviews as { id: string; subject: string }[]).find((r) => r.subject === subject)?.id;
      return id !== undefined;
    });
    return id as string;
  };

  before(async () => {
    db = await createDatabase();
    await adminSql(`CREATE TABLE ${db}.t (id INT)`);
    gw = await startMysqlGateway(`
connections:
  - { name: my-db, type: mysql, upstream: { host: 127.0.0.1, port: 3306, database: ${db}, user: root, tls: disable } }
policies:
  - name: deferred
    subjects: { groups: [deferred] }
    connections: [my-db]
    rules:
      - { then: review, review: { mode: defer, timeout: 60s, approvers: { groups: [dba] } } }
  - name: held
    subjects: { groups: [held] }
    connections: [my-db]
    rules:
      - { then: review, review: { mode: hold, timeout: 20s, approvers: { groups: [dba] } } }
`);
    deferred = await gw.t.token('defer-bot', ['deferred']);
    held = await gw.t.token('hold-bot', ['held']);
    dba = await gw.t.token('alice', ['dba', 'admins']);
  });
  after(async () => {
    await gw?.stop();
    if (db !== undefined) await dropDatabase(db);
  });

  it('defers: refuses at once with the review id, and the same statement passes after approval, once', async () => {
    const sql = 'INSERT INTO t VALUES (1)';
    const first = await mariadb(gw, deferred, ['-e', sql]);
    assert.match(first.stderr, /ERROR 1142 \(42000\).*review (r-[0-9a-f]+) created.*PCS_REVIEW_PENDING/);
    const id = /review (r-[0-9a-f]+)/.exec(first.stderr)?.[1] as string;
    assert.equal(await adminSql(`SELECT COUNT(*) FROM ${db}.t`), '0');
    assert.equal((await api(dba, 'POST', `/api/v1/reviews/${id}/approve`)).status, 200);
    const second = await mariadb(gw, deferred, ['-e', sql]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(await adminSql(`SELECT COUNT(*) FROM ${db}.t`), '1');
    const third = await mariadb(gw, deferred, ['-e', sql]);
    assert.match(third.stderr, /PCS_REVIEW_PENDING/, 'one approval, one run');
    const stmts = await recordedEvents(gw, 'statement');
    assert.ok(stmts.some((e) => e.data.review === id));
  });

  it('reviews each execute of a prepared statement with its parameters: an approval covers those values only', async () => {
    const c = await RawClient.open(gw.port);
    assert.equal((await c.login(deferred, 'my-db'))?.payload[0], Header.OK);
    const prep = await c.command(Buffer.concat([Buffer.from([Com.STMT_PREPARE]), Buffer.from('INSERT INTO t VALUES (?)')]), (_p, all) => all.length >= 2 || errOf(all[0]) !== undefined);
    assert.equal(prep[0]?.payload[0], Header.OK, 'preparing runs nothing: it is not reviewed');
    const stmt = decodePrepareOk(prep[0]!.payload).statement;
    const first = await c.command(stmtExecute(stmt, ['41']), resultDone);
    const id = /review (r-[0-9a-f]+)/.exec(errOf(first[0])?.message ?? '')?.[1];
    assert.ok(id !== undefined, errOf(first[0])?.message);
    const shown = await api(dba, 'GET', `/api/v1/reviews/${id}`);
    assert.deepEqual((shown.json.action as { params: unknown }).params, ['41']);
    assert.equal((await api(dba, 'POST', `/api/v1/reviews/${id}/approve`)).status, 200);
    const other = await c.command(stmtExecute(stmt, ['42']), resultDone);
    assert.match(errOf(other[0])?.message ?? '', /PCS_REVIEW_PENDING/, 'other values need their own approval');
    const again = await c.command(stmtExecute(stmt, ['41']), resultDone);
    assert.equal(again[0]?.payload[0], Header.OK, errOf(again[0])?.message);
    c.close();
    assert.equal(await adminSql(`SELECT COUNT(*) FROM ${db}.t WHERE id = 41`), '1');
    assert.equal(await adminSql(`SELECT COUNT(*) FROM ${db}.t WHERE id = 42`), '0');
    const stmts = await recordedEvents(gw, 'statement');
    assert.ok(stmts.some((e) => e.data.review === id && JSON.stringify(e.data.params) === '["41"]'));
  });

  it('holds: the client waits, and the statement runs when approved', async () => {
    const running = mariadb(gw, held, ['-e', 'INSERT INTO t VALUES (2)']);
    const id = await pendingFor('hold-bot');
    assert.equal(await adminSql(`SELECT COUNT(*) FROM ${db}.t WHERE id = 2`), '0', 'nothing ran while held');
    assert.equal((await api(dba, 'POST', `/api/v1/reviews/${id}/approve`)).status, 200);
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await adminSql(`SELECT COUNT(*) FROM ${db}.t WHERE id = 2`), '1');
  });

  it('holds, then refuses a denied statement naming the review', async () => {
    const running = mariadb(gw, held, ['-e', 'INSERT INTO t VALUES (3)']);
    const id = await pendingFor('hold-bot');
    assert.equal((await api(dba, 'POST', `/api/v1/reviews/${id}/deny`)).status, 200);
    const r = await running;
    assert.match(r.stderr, new RegExp(`ERROR 1142 \\(42000\\).*review ${id} was denied.*PCS_REVIEW_DENIED`));
    assert.equal(await adminSql(`SELECT COUNT(*) FROM ${db}.t WHERE id = 3`), '0');
  });
});
