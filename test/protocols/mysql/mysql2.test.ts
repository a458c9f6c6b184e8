// The gateway driven by mysql2 (a real driver, not our raw client) against the real MariaDB:
// `query` (text protocol) and `execute` (COM_STMT_PREPARE/EXECUTE, binary rows) with masked
// values that mysql2 still decodes as their column types, denials as MySQL-native errors,
// multi-statements, and a deferred review that passes once approved.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { adminSql, createDatabase, dropDatabase, startMysqlGateway, type MyGateway } from './support.ts';

interface DriverError {
  readonly errno: number;
  readonly sqlState: string;
  readonly sqlMessage: string;
}

async function driverError(p: Promise<unknown>): Promise<DriverError> {
  try {
    await p;
  } catch (err) {
    return err as DriverError;
  }
  throw new Error('expected the statement to fail');
}

describe('MySQL listener: mysql2', () => {
  let db: string;
  let gw: MyGateway;
  const open: Connection[] = [];

  // On plain TCP (loopback) mysql2 answers the switch to mysql_clear_password only when told to.
  const connect = async (subject: string, groups: string[], opts: mysql.ConnectionOptions = { enableCleartextPlugin: true }): Promise<Connection> => {
    const token = await gw.t.token(subject, groups);
    const c = await mysql.createConnection({ host: '127.0.0.1', port: gw.port, user: subject, password: token, database: 'my-db', ...opts });
    open.push(c);
    return c;
  };

  before(async () => {
    db = await createDatabase();
    await adminSql(`CREATE TABLE ${db}.people (id INT PRIMARY KEY, email VARCHAR(64), pin INT, born DATE, score DOUBLE); INSERT INTO ${db}.people VALUES (1, 'ann@example.com', 4242, '1990-05-01', 1.5), (2, 'bob@example.com', 1717, '1985-01-02', 2.5)`);
    gw = await startMysqlGateway(`
connections:
  - { name: my-db, type: mysql, upstream: { host: 127.0.0.1, port: 3306, database: ${db}, user: root, tls: disable } }
policies:
  - name: readers
    subjects: { groups: [readers] }
    connections: [my-db]
    masks:
      - { column: "${db}.people.email", with: redact }
      - { column: "${db}.people.pin", with: hash }
      - { column: "${db}.people.born", with: redact }
    rules:
      - { match: { sql: { effect: [read] } }, then: allow }
      - { then: deny, reason: readers may only read }
  - name: writers
    subjects: { groups: [writers] }
    connections: [my-db]
    rules:
      - { match: { sql: { effect: [read] } }, then: allow }
      - { match: { sql: { effect: [write] } }, then: review, review: { mode: defer, timeout: 60s, approvers: { groups: [dba] } } }
  - name: dba
    subjects: { groups: [dba] }
    connections: [my-db]
    rules:
      - { then: allow }
`);
  });
  after(async () => {
    for (const c of open) await c.end().catch(() => undefined);
    await gw?.stop();
    if (db !== undefined) await dropDatabase(db);
  });

  it('logs in over TLS with caching_sha2_password full authentication, no extra option', async () => {
    // The listener's certificate is self-signed in tests.
    const c = await connect('rita', ['readers'], { ssl: { rejectUnauthorized: false } });
    const [rows] = await c.query<RowDataPacket[]>('SELECT id FROM people ORDER BY id');
    assert.deepEqual(rows.map((r) => r.id), [1, 2]);
  });

  it('query: text rows, masked values replaced, the others as they are', async () => {
    const c = await connect('rita', ['readers']);
    const [rows] = await c.query<RowDataPacket[]>('SELECT id, email, pin, score FROM people ORDER BY id');
    assert.equal(rows.length, 2);
    assert.deepEqual(rows.map((r) => [r.id, r.score]), [[1, 1.5], [2, 2.5]]);
    assert.doesNotMatch(JSON.stringify(rows), /example\.com|4242|1717/);
  });

  it('execute: binary rows decode, a masked number or date is NULL, a masked string stays a string', async () => {
    const c = await connect('rita', ['readers']);
    const [rows] = await c.execute<RowDataPacket[]>('SELECT id, email, pin, born, score FROM people WHERE id = ?', [2]);
    assert.equal(rows.length, 1);
    const row = rows[0] as RowDataPacket;
    assert.equal(row.id, 2);
    assert.equal(row.score, 2.5);
    assert.equal(typeof row.email, 'string');
    assert.doesNotMatch(String(row.email), /example\.com/);
    assert.equal(row.pin, null);
    assert.equal(row.born, null);
    // The statement stays prepared in mysql2's cache: a second execute with another parameter.
    const [again] = await c.execute<RowDataPacket[]>('SELECT id, email, pin, born, score FROM people WHERE id = ?', [1]);
    assert.equal((again[0] as RowDataPacket).id, 1);
    assert.equal((again[0] as RowDataPacket).pin, null);
  });

  it('denies with the access-denied error number, SQLSTATE 42000 and the PCS code', async () => {
    const c = await connect('rita', ['readers']);
    const viaQuery = await driverError(c.query('DELETE FROM people'));
    assert.equal(viaQuery.errno, 1142);
    assert.equal(viaQuery.sqlState, '42000');
    assert.match(viaQuery.sqlMessage, /readers may only read.*\(PCS_POLICY_DENIED\)/);
    const viaExecute = await driverError(c.execute('UPDATE people SET pin = ? WHERE id = 1', [1]));
    assert.equal(viaExecute.errno, 1142);
    assert.equal(viaExecute.sqlState, '42000');
    assert.match(viaExecute.sqlMessage, /PCS_POLICY_DENIED/);
    // The session goes on after a denial.
    const [rows] = await c.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM people');
    assert.equal((rows[0] as RowDataPacket).n, 2);
    assert.equal(await adminSql(`SELECT COUNT(*) FROM ${db}.people WHERE pin = 1`), '0');
  });

  it('multi-statements: every result set; one denied statement refuses the whole text', async () => {
    const c = await connect('dora', ['dba'], { multipleStatements: true, enableCleartextPlugin: true });
    const [sets] = await c.query<RowDataPacket[][]>('SELECT id FROM people ORDER BY id; SELECT COUNT(*) AS n FROM people');
    assert.equal(sets.length, 2);
    assert.deepEqual((sets[0] as RowDataPacket[]).map((r) => r.id), [1, 2]);
    assert.equal((sets[1] as RowDataPacket[])[0]?.n, 2);
    const reader = await connect('rita', ['readers'], { multipleStatements: true, enableCleartextPlugin: true });
    const err = await driverError(reader.query("SELECT 1; UPDATE people SET email = 'x' WHERE id = 1"));
    assert.equal(err.errno, 1142);
    assert.equal(await adminSql(`SELECT COUNT(*) FROM ${db}.people WHERE email = 'x'`), '0');
  });

  it('a deferred review: refused with the review id, the same statement runs once approved', async () => {
    const c = await connect('walt', ['writers']);
    const sql = 'UPDATE people SET score = 9.5 WHERE id = 1';
    const first = await driverError(c.query(sql));
    assert.equal(first.errno, 1142);
    assert.equal(first.sqlState, '42000');
    const id = /review (r-[\w-]+)/.exec(first.sqlMessage)?.[1];
    assert.ok(id !== undefined, first.sqlMessage);
    assert.match(first.sqlMessage, /PCS_REVIEW_PENDING/);
    assert.equal(await adminSql(`SELECT score FROM ${db}.people WHERE id = 1`), '1.5');
    const dba = await gw.t.token('alice', ['dba', 'admins']);
    const res = await fetch(`${gw.t.gw.api.url}/api/v1/reviews/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${dba}` } });
    assert.equal(res.status, 200, await res.text());
    await c.query(sql);
    assert.equal(await adminSql(`SELECT score FROM ${db}.people WHERE id = 1`), '9.5');
  });
});
