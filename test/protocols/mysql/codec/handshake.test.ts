// The connection phase's packets: what the gateway encodes decodes back (both roles), a
// greeting of the real MariaDB decodes, and malformed input is a MalformedPacket, never a crash.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { it } from 'node:test';
import { Cap } from '../../../../src/protocols/mysql/codec/constants.ts';
import { decodeCommand } from '../../../../src/protocols/mysql/codec/commands.ts';
import { PacketReader } from '../../../../src/protocols/mysql/codec/framing.ts';
import { decodeAuthSwitch, decodeGreeting, decodeHandshakeResponse, encodeAuthSwitch, encodeGreeting, encodeHandshakeResponse, encodeSslRequest, isSslRequest } from '../../../../src/protocols/mysql/codec/handshake.ts';
import { encodeErr, encodeOk, readErr, readOkStatus } from '../../../../src/protocols/mysql/codec/responses.ts';
import { MalformedPacket } from '../../../../src/protocols/mysql/codec/wire.ts';
import { ResponseTracker } from '../../../../src/protocols/mysql/codec/response-tracker.ts';

const scramble = Buffer.from('0123456789abcdefghij');

it('encodes a greeting that decodes back to what was given', () => {
  const caps = Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH | Cap.SSL | Cap.DEPRECATE_EOF;
  const g = decodeGreeting(encodeGreeting({ serverVersion: '10.11.19-MariaDB', connectionId: 77, scramble, capabilities: caps, charset: 45, status: 2, authPlugin: 'caching_sha2_password' }));
  assert.deepEqual({ ...g }, { protocolVersion: 10, serverVersion: '10.11.19-MariaDB', connectionId: 77, scramble, capabilities: caps, charset: 45, status: 2, authPlugin: 'caching_sha2_password' });
});

it('decodes the greeting of the real MariaDB', async () => {
  const payload = await new Promise<Buffer>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: 3306 });
    const r = new PacketReader(1 << 16);
    s.on('data', (c: Buffer) => {
      r.push(c);
      const p = r.next();
      if (p !== null) {
        resolve(Buffer.from(p.payload));
        s.destroy();
      }
    });
    s.on('error', reject);
  });
  const g = decodeGreeting(payload);
  assert.match(g.serverVersion, /MariaDB/);
  assert.equal(g.scramble.length, 20);
  assert.ok(g.capabilities & Cap.PROTOCOL_41);
  assert.equal(g.authPlugin, 'mysql_native_password');
});

it('round-trips a handshake response with lenenc auth data, database, plugin and attributes', () => {
  const caps = Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA | Cap.CONNECT_WITH_DB | Cap.CONNECT_ATTRS;
  const attributes = new Map([['_client_name', 'x'], ['program_name', 'y']]);
  const h = decodeHandshakeResponse(encodeHandshakeResponse({ capabilities: caps, maxPacketSize: 1 << 24, charset: 45, user: 'me', authResponse: Buffer.alloc(300, 7), database: 'my-db', authPlugin: 'mysql_clear_password', attributes }));
  assert.equal(h.user, 'me');
  assert.equal(h.authResponse.length, 300);
  assert.equal(h.database, 'my-db');
  assert.equal(h.authPlugin, 'mysql_clear_password');
  assert.deepEqual([...h.attributes], [...attributes]);
  assert.ok(isSslRequest(encodeSslRequest(caps, 45, 1 << 24)));
});

it('round-trips an auth switch request, OK and ERR', () => {
  assert.deepEqual(decodeAuthSwitch(encodeAuthSwitch('mysql_clear_password', scramble)), { plugin: 'mysql_clear_password', data: scramble });
  assert.deepEqual(readErr(encodeErr({ errno: 1142, sqlState: '42000', message: 'denied' })), { errno: 1142, sqlState: '42000', message: 'denied' });
  assert.deepEqual(readOkStatus(encodeOk({ affectedRows: 300, status: 2 }, Cap.PROTOCOL_41)), { affectedRows: 300, status: 2, warnings: 0 });
});

it('reads truncated or invalid packets as MalformedPacket, at every length', () => {
  const caps = Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH | Cap.CONNECT_WITH_DB;
  const full = encodeHandshakeResponse({ capabilities: caps, maxPacketSize: 1 << 24, charset: 45, user: 'me', authResponse: Buffer.alloc(20, 7), database: 'd', authPlugin: 'p' });
  for (let n = 0; n < 36; n++) assert.throws(() => decodeHandshakeResponse(full.subarray(0, n)), MalformedPacket, `length ${n}`);
  assert.throws(() => decodeGreeting(Buffer.from([9, 0x41, 0])), MalformedPacket);
  assert.throws(() => decodeCommand(Buffer.alloc(0)), MalformedPacket);
  assert.throws(() => decodeCommand(Buffer.from([0x17, 1, 2])), MalformedPacket);
  const t = new ResponseTracker('result', true);
  t.feed(encodeErr({ errno: 1064, sqlState: '42000', message: 'syntax' }));
  assert.throws(() => t.feed(Buffer.from([1])), MalformedPacket, 'a packet after the end of the response');
  assert.throws(() => new ResponseTracker('result', true).feed(Buffer.from([0x00, 0xff])), MalformedPacket, 'an OK cut short');
});

it('tracks where a result ends: columns, rows, more results, and an error in the middle of rows', () => {
  const t = new ResponseTracker('result', true);
  t.feed(Buffer.from([2])); // two columns
  t.feed(Buffer.from('col1'));
  t.feed(Buffer.from('col2'));
  assert.ok(t.inRows);
  t.feed(Buffer.from([1, 0x61, 1, 0x62]));
  t.feed(encodeOk({ status: 0x0008 }, Cap.PROTOCOL_41, 0xfe)); // more results
  assert.ok(!t.done);
  t.feed(encodeOk({ affectedRows: 3, status: 2 }, Cap.PROTOCOL_41));
  assert.ok(t.done);
  assert.equal(t.rows, 1);
  assert.equal(t.affected, 3);
  const e = new ResponseTracker('result', false);
  e.feed(Buffer.from([1]));
  e.feed(Buffer.from('col'));
  e.feed(Buffer.from([0xfe, 0, 0, 2, 0])); // EOF after the definitions
  e.feed(encodeErr({ errno: 1317, sqlState: '70100', message: 'interrupted' }));
  assert.ok(e.done);
  assert.equal(e.error?.errno, 1317);
});
