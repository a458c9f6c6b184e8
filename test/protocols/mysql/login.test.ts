// Logging in through the MySQL listener with the real mariadb CLI (and a raw client for what
// the CLI cannot be made to do): the token as the password, the connection as the database,
// every auth method the CLI can start with, TLS, and the refusals an agent can act on.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Cap, Com } from '../../../src/protocols/mysql/codec/constants.ts';
import { encodeHandshakeResponse } from '../../../src/protocols/mysql/codec/handshake.ts';
import { rng } from '../../support/rng.ts';
import { CLIENT_CAPS, errOf, RawClient } from './raw.ts';
import { createDatabase, dropDatabase, mariadb, mysqlConfig, recordedEvents, startMysqlGateway, type MyGateway } from './support.ts';

describe('MySQL listener: login', () => {
  let db: string;
  let gw: MyGateway;
  let token: string;

  before(async () => {
    db = await createDatabase();
    gw = await startMysqlGateway(mysqlConfig(db));
    token = await gw.t.token('dana', ['dba']);
  });
  after(async () => {
    await gw?.stop();
    if (db !== undefined) await dropDatabase(db);
  });

  for (const auth of ['caching_sha2_password', 'mysql_native_password', 'mysql_clear_password', 'client_ed25519']) {
    it(`logs in with the token as the password: mariadb --default-auth=${auth}, plain TCP on loopback`, async () => {
      const r = await mariadb(gw, token, [`--default-auth=${auth}`, '-e', 'SELECT DATABASE(), 40 + 2']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${db}\t42`);
    });
  }

  it('logs in over TLS with the listener certificate', async () => {
    const r = await mariadb(gw, token, ['-e', 'SELECT 1'], { ssl: true });
    assert.equal(r.code, 0, r.stderr);
    const startups = await recordedEvents(gw, 'startup');
    assert.ok(startups.some((e) => e.data.tls === true), 'a session recorded as TLS');
  });

  it('refuses a bad token with error 1045 and the PCS code', async () => {
    const r = await mariadb(gw, 'not-a-token', ['-e', 'SELECT 1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ERROR 1045 \(28000\).*PCS_AUTH_TOKEN_MALFORMED/);
  });

  it('refuses an unknown connection with error 1044 naming it; without a database the user name names it', async () => {
    const r = await mariadb(gw, token, ['-e', 'SELECT 1'], { db: 'nope' });
    assert.match(r.stderr, /ERROR 1044 \(42000\).*no connection named nope.*PCS_CONNECTION_UNKNOWN/);
    const c = await RawClient.open(gw.port);
    const answer = await c.login(token, '', CLIENT_CAPS & ~Cap.CONNECT_WITH_DB);
    assert.match(errOf(answer)?.message ?? '', /no connection named agent.*PCS_CONNECTION_UNKNOWN/);
    c.close();
    const byUser = await RawClient.open(gw.port);
    assert.equal((await byUser.login(token, '', CLIENT_CAPS & ~Cap.CONNECT_WITH_DB, 'mysql_clear_password', 'my-db'))?.payload[0], 0x00);
    byUser.close();
  });

  it('tells a client that can only do mysql_native_password what to change', async () => {
    const c = await RawClient.open(gw.port);
    await c.greeting();
    const caps = CLIENT_CAPS & ~(Cap.PLUGIN_AUTH | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA);
    c.send(encodeHandshakeResponse({ capabilities: caps, maxPacketSize: 1 << 24, charset: 45, user: 'agent', authResponse: Buffer.alloc(20, 1), database: 'my-db', authPlugin: undefined }), 1);
    const err = errOf(await c.next());
    assert.equal(err?.errno, 1251);
    assert.match(err?.message ?? '', /plugin authentication.*PCS_MYSQL_AUTH_PLUGIN_UNSUPPORTED/);
    assert.equal(await c.next(), null, 'connection closed');
  });

  it('reports an unreachable upstream with the PCS code', async () => {
    const r = await mariadb(gw, token, ['-e', 'SELECT 1'], { db: 'down-db' });
    assert.match(r.stderr, /PCS_MYSQL_UPSTREAM_UNREACHABLE/);
  });

  it('answers garbage with an ERR packet and a closed connection, and keeps serving', async () => {
    for (const garbage of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0xff, 0xff, 0xff, 0x01, 0x00]), Buffer.from([0x05, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff])]) {
      const c = await RawClient.open(gw.port);
      await c.greeting();
      c.socket.write(garbage);
      const p = await c.next();
      if (p !== null) assert.ok(errOf(p) !== undefined || p.payload.length > 0);
      // Either the gateway answered and closed, or it closed outright: it must not hang.
      for (let i = 0; i < 3 && !c.closed; i++) await c.next(2_000).catch(() => null);
      c.close();
    }
    // After a login: a command packet that does not fit is a protocol error, not a crash.
    const c = await RawClient.open(gw.port);
    const ok = await c.login(token, 'my-db');
    assert.equal(ok?.payload[0], 0x00);
    c.send(Buffer.from([Com.PROCESS_KILL, 1]), 0);
    const err = errOf(await c.next());
    assert.match(err?.message ?? '', /PCS_MYSQL_PROTOCOL_VIOLATION/);
    c.close();
    const r = await mariadb(gw, token, ['-e', 'SELECT 7']);
    assert.equal(r.stdout, '7');
  });

  it('survives random packets after login (seeded): every session ends or answers, none crashes the gateway', async () => {
    const agent = await gw.t.token('rand', ['agents']);
    const next = rng(1717);
    for (let round = 0; round < 30; round++) {
      const c = await RawClient.open(gw.port);
      assert.equal((await c.login(agent, 'my-db'))?.payload[0], 0x00);
      for (let i = 0; i < 5 && !c.closed; i++) {
        // A command byte from the whole range (agents may do nothing: no statement reaches the server).
        const payload = Buffer.from(Array.from({ length: 1 + Math.floor(next() * 40) }, () => Math.floor(next() * 256)));
        if (payload[0] === Com.QUIT) payload[0] = Com.PING;
        c.send(payload, Math.floor(next() * 3) === 0 ? Math.floor(next() * 256) : 0);
        await c.next(300).catch(() => null);
      }
      c.close();
    }
    const r = await mariadb(gw, token, ['-e', 'SELECT 8']);
    assert.equal(r.stdout, '8');
  });
});

describe('MySQL listener: TLS only', () => {
  let gw: MyGateway;
  let token: string;
  before(async () => {
    gw = await startMysqlGateway(`${mysqlConfig('mysql')}
protocols: { mysql: { cleartext_password: never } }
`);
    token = await gw.t.token('dana', ['dba']);
  });
  after(async () => {
    await gw?.stop();
  });

  it('refuses the token in clear text and accepts it inside TLS', async () => {
    const plain = await mariadb(gw, token, ['-e', 'SELECT 1']);
    assert.match(plain.stderr, /ERROR 1045.*PCS_MYSQL_CLEARTEXT_REFUSED/);
    const secure = await mariadb(gw, token, ['-e', 'SELECT 1'], { ssl: true });
    assert.equal(secure.code, 0, secure.stderr);
  });
});

describe('MySQL listener: TLS required, and shutdown', () => {
  it('refuses a client without TLS when require_tls is set (error 3159)', async () => {
    const gw = await startMysqlGateway(`${mysqlConfig('mysql')}
protocols: { mysql: { require_tls: true } }
`);
    try {
      const token = await gw.t.token('dana', ['dba']);
      const plain = await mariadb(gw, token, ['-e', 'SELECT 1']);
      assert.match(plain.stderr, /ERROR 3159.*PCS_MYSQL_TLS_REQUIRED/);
      const secure = await mariadb(gw, token, ['-e', 'SELECT 1'], { ssl: true });
      assert.equal(secure.code, 0, secure.stderr);
    } finally {
      await gw.stop();
    }
  });

  it('ends an idle session at shutdown (after the grace period) with an error and a closed connection', async () => {
    const gw = await startMysqlGateway(mysqlConfig('mysql'));
    const token = await gw.t.token('dana', ['dba']);
    const c = await RawClient.open(gw.port);
    assert.equal((await c.login(token, 'my-db'))?.payload[0], 0x00);
    assert.equal(gw.t.gw.listeners.get('mysql')?.activeSessions(), 1);
    await gw.stop();
    const last = await c.next(5_000).catch(() => null);
    assert.match(errOf(last)?.message ?? '', /PCS_MYSQL_SHUTTING_DOWN/);
    assert.equal(await c.next(2_000).catch(() => null), null, 'closed');
    c.close();
  });
});

