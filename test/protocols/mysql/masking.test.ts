// Masking through the MySQL listener against the real MariaDB: a masked column's values never
// reach the client, in text rows (COM_QUERY) or binary rows (COM_STMT_EXECUTE), where a masked
// value stays valid for its column type (a string stays a string, a number becomes NULL);
// column definitions (org_table/org_name) catch what lineage misses.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Com, Header } from '../../../src/protocols/mysql/codec/constants.ts';
import { decodePrepareOk } from '../../../src/protocols/mysql/codec/commands.ts';
import { errOf, RawClient, resultDone, stmtExecute } from './raw.ts';
import { adminSql, createDatabase, dropDatabase, mariadb, recordedEvents, startMysqlGateway, type MyGateway } from './support.ts';

describe('MySQL listener: masking', () => {
  let db: string;
  let gw: MyGateway;
  let token: string;

  before(async () => {
    db = await createDatabase();
    await adminSql(`CREATE TABLE ${db}.people (id INT PRIMARY KEY, email VARCHAR(64), pin INT); INSERT INTO ${db}.people VALUES (1, 'ann@example.com', 4242), (2, 'bob@example.com', 1717); CREATE VIEW ${db}.contacts AS SELECT id, id * 2 AS twice, email AS contact FROM ${db}.people WHERE pin > 0`);
    gw = await startMysqlGateway(`
connections:
  - { name: my-db, type: mysql, upstream: { host: 127.0.0.1, port: 3306, database: ${db}, user: root, tls: disable } }
policies:
  - name: analysts
    subjects: { groups: [analysts] }
    connections: [my-db]
    masks:
      - { column: "${db}.people.email", with: redact }
      - { column: "${db}.people.pin", with: hash }
    # Only the masks above: the built-in credential masks refuse predicates they cannot read.
    reveal_credentials: [mysql.user.authentication_string, mysql.user.Password, mysql.global_priv.Priv, mysql.slave_master_info.User_password, mysql.servers.Password]
    rules:
      - { then: allow }
  - name: scanned
    subjects: { groups: [scanned] }
    connections: [my-db]
    masks:
      - { detector: email, with: redact }
    rules:
      - { then: allow }
  - name: dba
    subjects: { groups: [dba] }
    connections: [my-db]
    rules:
      - { then: allow }
`);
    token = await gw.t.token('ana', ['analysts']);
  });
  after(async () => {
    await gw?.stop();
    if (db !== undefined) await dropDatabase(db);
  });

  it('masks text rows: the protected values never reach the client', async () => {
    const r = await mariadb(gw, token, ['-e', 'SELECT id, email, pin FROM people ORDER BY id']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /example\.com|4242|1717/);
    const lines = r.stdout.split('\n');
    assert.equal(lines.length, 2);
    // The relation catalog is read: lineage knows `id` comes from an unmasked column.
    assert.match(lines[0] ?? '', /^1\t/);
    assert.match(lines[1] ?? '', /^2\t/);
    const stmts = await recordedEvents(gw, 'statement');
    const rec = stmts.find((e) => String(e.data.text).includes('FROM people'));
    assert.ok(rec !== undefined);
    const masking = rec.data.masking as { columns: { name: string }[]; rows_changed: number };
    assert.ok(masking.columns.some((c) => c.name === 'email'));
    assert.equal(masking.rows_changed, 2);
  });

  it('follows a view to its base columns: the view of a masked column masks it, the others stay clear', async () => {
    const r = await mariadb(gw, token, ['-e', 'SELECT id, twice, contact FROM contacts ORDER BY id']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /example\.com/);
    // Without the view's definition every column of it would be opaque, so masked.
    assert.deepEqual(r.stdout.split('\n').map((l) => l.split('\t').slice(0, 2)), [['1', '2'], ['2', '4']]);
  });

  it('masks binary rows and keeps them valid for their column types', async () => {
    const c = await RawClient.open(gw.port);
    assert.equal((await c.login(token, 'my-db'))?.payload[0], Header.OK);
    const prep = await c.command(Buffer.concat([Buffer.from([Com.STMT_PREPARE]), Buffer.from('SELECT email, pin FROM people WHERE id = ?')]), (_p, all) => all.length >= 4 || errOf(all[0]) !== undefined);
    assert.equal(prep[0]?.payload[0], Header.OK, errOf(prep[0])?.message);
    const stmt = decodePrepareOk(prep[0]!.payload).statement;
    const rows = await c.command(stmtExecute(stmt, ['1']), resultDone);
    const row = rows[rows.length - 2]!.payload;
    assert.equal(row[0], 0x00, 'a binary row');
    assert.ok(!row.includes(Buffer.from('ann@example.com')));
    // NULL bitmap (offset 2): the INT pin cannot hold a hash's text, so it is NULL.
    assert.equal(row[1]! & (1 << 3), 1 << 3, 'pin is NULL');
    const email = row.subarray(3, 3 + 1 + row[3]!);
    assert.ok(email.length > 1, 'email is still a string');
    c.close();
  });

  it('never lets a password hash through: built-in credential masks apply by default', async () => {
    const user = `pcs_test_${db.slice(-6)}`;
    await adminSql(`CREATE USER '${user}'@'localhost' IDENTIFIED BY 'pcs-hash-probe'`);
    try {
      const hash = await adminSql(`SELECT authentication_string FROM mysql.user WHERE User = '${user}'`);
      assert.match(hash, /^\*[0-9A-F]{40}$/);
      const dba = await gw.t.token('dana', ['dba']);
      for (const sql of ['SELECT User, authentication_string FROM mysql.user', `SELECT Password FROM mysql.user WHERE User = '${user}'`, 'SELECT * FROM mysql.user', `SHOW GRANTS FOR '${user}'@'localhost'`, `SHOW CREATE USER '${user}'@'localhost'`]) {
        const r = await mariadb(gw, dba, ['-e', sql]);
        assert.ok(!r.stdout.includes(hash) && !r.stderr.includes(hash), sql);
      }
    } finally {
      await adminSql(`DROP USER '${user}'@'localhost'`);
    }
  });

  it('reads the relations again after DDL in the session: a new table\'s unmasked columns stay clear', async () => {
    const r = await mariadb(gw, token, ['-e', 'CREATE TABLE fresh (id INT, note VARCHAR(20)); INSERT INTO fresh VALUES (5, \'hello\'); SELECT id, note FROM fresh']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '5\thello');
  });

  it('applies content detectors to every text value, whatever its column', async () => {
    const scanned = await gw.t.token('sam', ['scanned']);
    const r = await mariadb(gw, scanned, ['-e', "SELECT id, CONCAT('mail: ', email) AS note FROM people ORDER BY id"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^1\tmail: /);
    assert.doesNotMatch(r.stdout, /ann@example\.com|bob@example\.com/);
  });

  it('keeps a masked value out of SHOW WARNINGS', async () => {
    // A conversion warning quotes the value it could not convert.
    const sql = 'SELECT CAST(email AS INTEGER) FROM people; SHOW WARNINGS';
    const direct = await adminSql(`USE ${db}; ${sql}`);
    assert.match(direct, /ann@example\.com/, 'the server itself quotes it');
    const r = await mariadb(gw, token, ['-e', sql]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Warning\t1292/, 'the warning is there');
    assert.doesNotMatch(r.stdout, /example\.com/, 'without the value');
  });
});
