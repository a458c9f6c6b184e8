// Commands through the MySQL listener against the real MariaDB: COM_QUERY with
// multi-statements (a denied batch runs nothing of itself), the binary protocol
// (COM_STMT_PREPARE / EXECUTE / CLOSE relayed as the server's own bytes), COM_INIT_DB,
// COM_FIELD_LIST, COM_PING, COM_STATISTICS, COM_CHANGE_USER refused, KILL of one's own
// session only, LOCAL INFILE, and the recording of every statement.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Com, Header } from '../../../src/protocols/mysql/codec/constants.ts';
import type { Packet } from '../../../src/protocols/mysql/codec/framing.ts';
import { decodePrepareOk } from '../../../src/protocols/mysql/codec/commands.ts';
import { errOf, RawClient, resultDone, stmtExecute } from './raw.ts';
import { adminSql, createDatabase, dropDatabase, mariadb, mysqlConfig, recordedEvents, startMysqlGateway, type MyGateway } from './support.ts';

/** The packets of a COM_STMT_PREPARE answer (DEPRECATE_EOF): PREPARE_OK, then one per parameter and column. */
async function prepare(c: RawClient, sql: string): Promise<Packet[]> {
  let expected = Infinity;
  return c.command(Buffer.concat([Buffer.from([Com.STMT_PREPARE]), Buffer.from(sql)]), (p, all) => {
    if (all.length === 1) {
      if (p.payload[0] !== Header.OK) return true;
      const ok = decodePrepareOk(p.payload);
      expected = 1 + ok.params + ok.columns;
    }
    return all.length >= expected;
  });
}

describe('MySQL listener: commands', () => {
  let db: string;
  let gw: MyGateway;
  let dba: string;
  let agent: string;

  before(async () => {
    db = await createDatabase();
    await adminSql(`CREATE TABLE ${db}.t (id INT PRIMARY KEY, name VARCHAR(20)); INSERT INTO ${db}.t VALUES (1, 'one'), (2, 'two')`);
    gw = await startMysqlGateway(mysqlConfig(db, `      - { match: { sql: { effect: [write] } }, then: allow }
      - { match: { sql: { command: [set] } }, then: allow }
      - { then: deny, reason: agents may only write rows }`));
    dba = await gw.t.token('dana', ['dba']);
    agent = await gw.t.token('alice', ['agents']);
  });
  after(async () => {
    await gw?.stop();
    if (db !== undefined) await dropDatabase(db);
  });

  it('relays queries and multi-statement results', async () => {
    const r = await mariadb(gw, dba, ['-e', 'SELECT name FROM t ORDER BY id; SELECT COUNT(*) FROM t']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'one\ntwo\n2');
  });

  it('refuses a batch with a denied statement before any of it reaches the server', async () => {
    // One COM_QUERY holding both (the mariadb CLI would split them itself).
    const c = await RawClient.open(gw.port);
    assert.equal((await c.login(agent, 'my-db'))?.payload[0], Header.OK);
    const answer = await c.query(`INSERT INTO t VALUES (3, 'three'); DROP TABLE t`);
    const err = errOf(answer[0]);
    assert.equal(err?.errno, 1142);
    assert.equal(err?.sqlState, '42000');
    assert.match(err?.message ?? '', /denied.*PCS_POLICY_/);
    const still = await c.query('SELECT 1');
    assert.ok(errOf(still[0]) !== undefined, 'the session goes on (and agents may not read)');
    c.close();
    assert.equal(await adminSql(`SELECT COUNT(*) FROM ${db}.t`), '2', 'the INSERT did not run');
    assert.equal(await adminSql(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '${db}'`), '1', 'the table is there');
    const denied = await recordedEvents(gw, 'denied');
    assert.ok(denied.some((e) => String(e.data.text).includes('DROP TABLE t') && e.data.verdict === 'deny' && e.data.sqlstate === '42000' && e.data.errno === 1142));
  });

  it('reads statements under the session\'s sql_mode: NO_BACKSLASH_ESCAPES cannot hide a DROP in a string', async () => {
    const c = await RawClient.open(gw.port);
    assert.equal((await c.login(agent, 'my-db'))?.payload[0], Header.OK);
    const set = await c.query(`SET sql_mode = 'NO_BACKSLASH_ESCAPES'`);
    assert.equal(set[0]?.payload[0], Header.OK, errOf(set[0])?.message);
    // With backslash escapes this is one INSERT; under NO_BACKSLASH_ESCAPES the server runs an INSERT and a DROP.
    const answer = await c.query(`INSERT INTO t VALUES (9, 'a\\'); DROP TABLE t; -- ')`);
    assert.equal(errOf(answer[0])?.errno, 1142, 'refused: the gateway read it as the server would');
    c.close();
    assert.equal(await adminSql(`SELECT COUNT(*) FROM ${db}.t WHERE id = 9`), '0');
    assert.equal(await adminSql(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '${db}'`), '1', 'the table is there');
  });

  it('decides EXECUTE of a SQL-level prepared statement as what it runs', async () => {
    const c = await RawClient.open(gw.port);
    assert.equal((await c.login(agent, 'my-db'))?.payload[0], Header.OK);
    const prep = await c.query(`PREPARE ins FROM 'INSERT INTO t VALUES (7, ''seven'')'`);
    assert.equal(prep[0]?.payload[0], Header.OK, errOf(prep[0])?.message);
    const run = await c.query('EXECUTE ins');
    assert.equal(run[0]?.payload[0], Header.OK, errOf(run[0])?.message);
    const drop = await c.query(`PREPARE d FROM 'DROP TABLE t'`);
    assert.equal(errOf(drop[0])?.errno, 1142, 'preparing a DROP is decided as the DROP');
    const unknown = await c.query('EXECUTE d');
    assert.equal(errOf(unknown[0])?.errno, 1142, 'a name prepared by nobody here fails closed');
    c.close();
    assert.equal(await adminSql(`SELECT COUNT(*) FROM ${db}.t WHERE id = 7`), '1');
    await adminSql(`DELETE FROM ${db}.t WHERE id = 7`);
  });

  it('runs a multi-statement text whose every statement is allowed', async () => {
    const c = await RawClient.open(gw.port);
    assert.equal((await c.login(agent, 'my-db'))?.payload[0], Header.OK);
    const answer = await c.query(`INSERT INTO t VALUES (5, 'five'); UPDATE t SET name = 'FIVE' WHERE id = 5`);
    assert.equal(errOf(answer[answer.length - 1]), undefined);
    assert.equal(answer.length, 2, 'two OKs (the first with MORE_RESULTS)');
    c.close();
    assert.equal(await adminSql(`SELECT name FROM ${db}.t WHERE id = 5`), 'FIVE');
    await adminSql(`DELETE FROM ${db}.t WHERE id = 5`);
  });

  it('relays the binary protocol as the server sends it: prepare, execute with parameters, close', async () => {
    const direct = await RawClient.open(3306);
    const viaGw = await RawClient.open(gw.port);
    const directOk = await direct.login('', db, undefined, 'mysql_native_password', 'root');
    assert.equal(directOk?.payload[0], Header.OK, errOf(directOk)?.message);
    assert.equal((await viaGw.login(dba, 'my-db'))?.payload[0], Header.OK);
    const sql = 'SELECT id, name, ? AS p FROM t WHERE id >= ? ORDER BY id';
    const [d, g] = [await prepare(direct, sql), await prepare(viaGw, sql)];
    assert.equal(g.length, d.length);
    const stmtD = decodePrepareOk(d[0]!.payload).statement;
    const stmtG = decodePrepareOk(g[0]!.payload).statement;
    // Column and parameter definitions byte for byte (the statement ids are each server session's own).
    assert.deepEqual(g.slice(1).map((p) => p.raw), d.slice(1).map((p) => p.raw));
    const rowsD = await direct.command(stmtExecute(stmtD, ['x', '1']), resultDone);
    const rowsG = await viaGw.command(stmtExecute(stmtG, ['x', '1']), resultDone);
    assert.deepEqual(rowsG.map((p) => p.raw), rowsD.map((p) => p.raw));
    assert.equal(rowsG.length, 1 + 3 + 2 + 1, 'column count, 3 definitions, 2 binary rows, end');
    viaGw.send(Buffer.from([Com.STMT_CLOSE, ...Buffer.from(new Uint32Array([stmtG]).buffer)]), 0);
    const gone = await viaGw.command(stmtExecute(stmtG, []), resultDone);
    assert.equal(errOf(gone[0])?.errno, 1243, 'a closed statement is unknown');
    const unknown = await viaGw.command(stmtExecute(999, []), resultDone);
    assert.equal(errOf(unknown[0])?.errno, 1243);
    direct.close();
    viaGw.close();
    const stmts = await recordedEvents(gw, 'statement');
    assert.ok(stmts.some((e) => e.data.text === sql && e.data.protocol === 'extended' && e.data.rows === 2));
  });

  it('relays a cursor: COM_STMT_EXECUTE with CURSOR_TYPE_READ_ONLY, then COM_STMT_FETCH, as the server answers', async () => {
    const direct = await RawClient.open(3306);
    const viaGw = await RawClient.open(gw.port);
    await direct.login('', db, undefined, 'mysql_native_password', 'root');
    await viaGw.login(dba, 'my-db');
    const sql = 'SELECT id, name FROM t ORDER BY id';
    const answers: Buffer[][] = [];
    for (const c of [direct, viaGw]) {
      const stmt = decodePrepareOk((await prepare(c, sql))[0]!.payload).statement;
      const exec = stmtExecute(stmt, []);
      exec[5] = 0x01; // CURSOR_TYPE_READ_ONLY
      // The cursor opens: column count, definitions, and an EOF/OK with SERVER_STATUS_CURSOR_EXISTS.
      const opened = await c.command(exec, (p, all) => all.length > 1 && p.payload[0] === Header.EOF);
      const fetch = Buffer.alloc(9);
      fetch[0] = Com.STMT_FETCH;
      fetch.writeUInt32LE(stmt, 1);
      fetch.writeUInt32LE(10, 5);
      const rows = await c.command(fetch, (p) => p.payload[0] === Header.EOF || p.payload[0] === Header.ERR);
      const ping = await c.command(Buffer.from([Com.PING]), () => true);
      answers.push([...opened, ...rows, ...ping].map((p) => p.raw));
    }
    assert.deepEqual(answers[1], answers[0]);
    assert.ok((answers[0]?.length ?? 0) >= 1 + 2 + 1 + 2 + 1 + 1, 'definitions, rows, end, then the ping');
    direct.close();
    viaGw.close();
  });

  it('relays answers in the EOF form to a client without DEPRECATE_EOF (text and binary), and stays in step', async () => {
    const { CLIENT_CAPS } = await import('./raw.ts');
    const caps = CLIENT_CAPS & ~(1 << 24);
    const answers: Buffer[][] = [];
    for (const [port, token, dbName, plugin, user] of [[3306, '', db, 'mysql_native_password', 'root'], [gw.port, dba, 'my-db', 'mysql_clear_password', 'agent']] as const) {
      const c = await RawClient.open(port);
      assert.equal((await c.login(token, dbName, caps, plugin, user))?.payload[0], Header.OK);
      // count, 2 definitions, EOF, 2 rows, EOF
      const text = await c.command(Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from('SELECT id, name FROM t ORDER BY id')]), (_p, all) => all.length === 7);
      // PREPARE_OK, 1 parameter definition, EOF, 2 column definitions, EOF
      const prep = await c.command(Buffer.concat([Buffer.from([Com.STMT_PREPARE]), Buffer.from('SELECT id, name FROM t WHERE id > ?')]), (_p, all) => all.length === 6);
      const stmt = decodePrepareOk(prep[0]!.payload).statement;
      const rows = await c.command(stmtExecute(stmt, ['0']), (_p, all) => all.length === 7);
      const ping = await c.command(Buffer.from([Com.PING]), () => true);
      answers.push([...text, ...prep.slice(1), ...rows, ...ping].map((p) => p.raw));
      c.close();
    }
    assert.deepEqual(answers[1], answers[0]);
    assert.equal(answers[0]?.at(-1)?.[4], Header.OK, 'the ping answered in step');
  });

  it('dumps an allowed database with mysqldump (it connects first, then USEs: the user name names the connection)', async () => {
    const { spawn } = await import('node:child_process');
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('mysqldump', ['-h', '127.0.0.1', '-P', String(gw.port), '-u', 'my-db', '--skip-ssl', 'my-db'], { env: { ...process.env, MYSQL_PWD: dba } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /CREATE TABLE `t`/);
    assert.match(out.stdout, /INSERT INTO `t` VALUES\s*\(1,'one'\),\s*\(2,'two'\)/);
  });

  it('refuses to prepare a statement policy denies', async () => {
    const c = await RawClient.open(gw.port);
    await c.login(agent, 'my-db');
    const answer = await prepare(c, 'DROP TABLE t');
    assert.equal(errOf(answer[0])?.errno, 1142);
    c.close();
    assert.equal(await adminSql(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '${db}' AND table_name = 't'`), '1');
  });

  it('keeps answers in order when a client pipelines: the gateway\'s own answer waits for the server\'s earlier one', async () => {
    const c = await RawClient.open(gw.port);
    await c.login(dba, 'my-db');
    c.send(Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from('SELECT SLEEP(0.3), 11')]), 0);
    c.send(stmtExecute(4242, []), 0); // answered by the gateway (1243), but second
    c.send(Buffer.from([Com.PING]), 0);
    const got = [];
    for (let i = 0; i < 6; i++) got.push(await c.next());
    // count, 2 definitions, 1 row, end; then the 1243; the ping's OK comes last.
    assert.equal(got[3]?.payload.includes(Buffer.from('11')), true, 'the row of the first command');
    assert.equal(errOf(got[5])?.errno, 1243, 'the local answer after the result');
    assert.equal((await c.next())?.payload[0], Header.OK, 'then the ping');
    c.close();
  });

  it('answers COM_PING, COM_STATISTICS and COM_FIELD_LIST, and refuses COM_CHANGE_USER', async () => {
    const c = await RawClient.open(gw.port);
    await c.login(dba, 'my-db');
    const ping = await c.command(Buffer.from([Com.PING]), () => true);
    assert.equal(ping[0]?.payload[0], Header.OK);
    const stats = await c.command(Buffer.from([Com.STATISTICS]), () => true);
    assert.match(stats[0]?.payload.toString() ?? '', /Uptime/);
    const fields = await c.command(Buffer.concat([Buffer.from([Com.FIELD_LIST]), Buffer.from('t\0')]), (p) => p.payload[0] === Header.EOF || p.payload[0] === Header.ERR);
    assert.equal(fields.length, 3, 'two column definitions and the end');
    const change = await c.command(Buffer.concat([Buffer.from([Com.CHANGE_USER]), Buffer.from('root\0\0')]), () => true);
    assert.match(errOf(change[0])?.message ?? '', /COM_CHANGE_USER is not allowed.*PCS_MYSQL_COMMAND_REFUSED/);
    const still = await c.query('SELECT 5');
    assert.equal(still.length, 4, 'the session goes on');
    c.close();
  });

  it('decides COM_INIT_DB and takes the connection name for its own database', async () => {
    const r = await mariadb(gw, dba, ['-e', 'USE `my-db`; SELECT DATABASE()']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, db);
    const other = await mariadb(gw, dba, ['-e', 'USE mysql; SELECT DATABASE()']);
    assert.equal(other.stdout, 'mysql', 'dba may use another database');
    const agentUse = await mariadb(gw, agent, ['-e', 'USE mysql']);
    assert.match(agentUse.stderr, /ERROR 1142.*PCS_POLICY_/);
  });

  it('lets a session kill only its own queries', async () => {
    const c = await RawClient.open(gw.port);
    const greeting = await c.greeting();
    const { encodeHandshakeResponse } = await import('../../../src/protocols/mysql/codec/handshake.ts');
    const { CLIENT_CAPS } = await import('./raw.ts');
    c.send(encodeHandshakeResponse({ capabilities: CLIENT_CAPS, maxPacketSize: 1 << 24, charset: 45, user: 'agent', authResponse: Buffer.from(`${dba}\0`), database: 'my-db', authPlugin: 'mysql_clear_password' }), 1);
    assert.equal((await c.next())?.payload[0], Header.OK);
    c.send(Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from('SELECT SLEEP(20)')]), 0);
    await new Promise((r) => setTimeout(r, 200));
    const notMine = await mariadb(gw, await gw.t.token('eve', ['dba']), ['-e', `KILL QUERY ${greeting.connectionId}`]);
    assert.match(notMine.stderr, /PCS_MYSQL_KILL_REFUSED/);
    const started = Date.now();
    const mine = await mariadb(gw, dba, ['-e', `KILL QUERY ${greeting.connectionId}`]);
    assert.equal(mine.code, 0, mine.stderr);
    const answer = await c.next(10_000);
    assert.ok(Date.now() - started < 5_000, 'the sleep was cut short');
    assert.ok(answer !== null);
    c.close();
  });

  it('relays LOAD DATA LOCAL INFILE only for a statement decided as one, and never a file of the gateway host', async () => {
    const file = join(gw.t.dir, 'rows.tsv');
    writeFileSync(file, '10\tten\n11\televen\n');
    const r = await mariadb(gw, dba, ['--local-infile=1', '-e', `LOAD DATA LOCAL INFILE '${file}' INTO TABLE t`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await adminSql(`SELECT COUNT(*) FROM ${db}.t WHERE id >= 10`), '2');
    await adminSql(`DELETE FROM ${db}.t WHERE id >= 10`);
  });
});
