// The gateway's own login to MariaDB: the vaulted credential (here inline), the password
// scrambled for mysql_native_password, a wrong one reported without the secret, the server's
// version shown to the agent as the server sent it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cachingSha2Password, nativePassword } from '../../../src/protocols/mysql/upstream-auth.ts';
import { RawClient } from './raw.ts';
import { adminSql, createDatabase, dropDatabase, mariadb, startMysqlGateway, type MyGateway } from './support.ts';

describe('MySQL upstream login', () => {
  let db: string;
  let gw: MyGateway;
  let token: string;
  const user = `pcs_test_${randomBytes(4).toString('hex')}`;
  // Not a marked test secret: the config file holding it is written under the test folder.
  const password = `pw-${randomBytes(8).toString('hex')}`;

  before(async () => {
    db = await createDatabase();
    await adminSql(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('${password}'); GRANT ALL ON ${db}.* TO '${user}'@'127.0.0.1'`);
    gw = await startMysqlGateway(`
connections:
  - { name: my-db, type: mysql, upstream: { host: 127.0.0.1, port: 3306, database: ${db}, user: ${user}, password: "${password}", tls: disable } }
  - { name: wrong-pw, type: mysql, upstream: { host: 127.0.0.1, port: 3306, database: ${db}, user: ${user}, password: "${password}-wrong", tls: disable } }
  - { name: needs-tls, type: mysql, upstream: { host: 127.0.0.1, port: 3306, database: ${db}, user: ${user}, password: "${password}", tls: require } }
policies:
  - { name: all, subjects: { groups: [dba] }, connections: ["*"], rules: [ { then: allow } ] }
`);
    token = await gw.t.token('dana', ['dba']);
  });
  after(async () => {
    await gw?.stop();
    await adminSql(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`);
    if (db !== undefined) await dropDatabase(db);
  });

  it('logs in with the connection\'s password (mysql_native_password) and shows the server version', async () => {
    const r = await mariadb(gw, token, ['-e', 'SELECT CURRENT_USER()']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${user}@127.0.0.1`);
    const c = await RawClient.open(gw.port);
    const greeting = await c.greeting();
    c.close();
    const direct = await RawClient.open(3306);
    const real = await direct.greeting();
    direct.close();
    // As the server's own greeting has it (MariaDB's `5.5.5-` prefix included).
    assert.equal(greeting.serverVersion, real.serverVersion);
  });

  it('reports a refused credential without the secret, and a server without TLS when TLS is required', async () => {
    const wrong = await mariadb(gw, token, ['-e', 'SELECT 1'], { db: 'wrong-pw' });
    assert.match(wrong.stderr, /ERROR 1045.*could not log in to the database server of connection wrong-pw.*PCS_MYSQL_UPSTREAM_AUTH_FAILED/);
    assert.ok(!wrong.stderr.includes(password));
    const tls = await mariadb(gw, token, ['-e', 'SELECT 1'], { db: 'needs-tls' });
    assert.match(tls.stderr, /asks for TLS \(require\) and the server does not offer it.*PCS_MYSQL_UPSTREAM_UNSUPPORTED/);
    assert.ok(!readFileSync(join(gw.t.dir, 'gateway.log'), 'utf8').includes(password));
  });

  it('scrambles passwords as the protocol documents (empty password: empty answer)', () => {
    const scramble = Buffer.from('abcdefghijklmnopqrst');
    assert.equal(nativePassword('', scramble).length, 0);
    assert.equal(nativePassword('secret', scramble).length, 20);
    assert.equal(cachingSha2Password('secret', scramble).length, 32);
    assert.notDeepEqual(nativePassword('secret', scramble), nativePassword('secret', Buffer.from('tsrqponmlkjihgfedcba')));
  });
});
