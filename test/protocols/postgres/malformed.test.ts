// Malformed input on raw sockets: the gateway answers with 08P01 where the protocol allows,
// closes that connection, records what happened, and keeps serving new sessions.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { serialize } from 'pg-protocol';
import { adminSql, createDatabase, dropDatabase, eventually, psql, recordedEvents, standardConfig, startPgGateway, type PgGateway } from './support.ts';

describe('postgres adapter with malformed input', () => {
  let db: string;
  let gw: PgGateway;
  let agent: string;
  let dba: string;

  before(async () => {
    db = await createDatabase();
    await adminSql('CREATE TABLE sink (line text)', db);
    gw = await startPgGateway(standardConfig(db));
    agent = await gw.t.token('agent-bot', ['agents']);
    dba = await gw.t.token('alice', ['dba']);
  });

  after(async () => {
    await gw?.stop();
    if (db) await dropDatabase(db);
  });

  async function stillServes(): Promise<void> {
    const r = await psql(gw, agent, ['-Atc', 'select 1']);
    assert.equal(r.code, 0, r.stderr);
  }

  async function protocolErrors(): Promise<string[]> {
    return (await recordedEvents(gw, 'error')).map((e) => String(e.data.kind));
  }

  it('refuses a 1 GiB message length without allocating it', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const s = await login(gw.port, agent);
    const header = Buffer.alloc(5);
    header[0] = 0x51; // Q
    header.writeInt32BE(1024 * 1024 * 1024, 1);
    s.socket.write(header);
    const reply = await s.closed;
    assert.match(reply.toString('latin1'), /C08P01/);
    assert.match(reply.toString('latin1'), /exceeds the limit/);
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
    await eventually(async () => (await protocolErrors()).includes('protocol'));
    await stillServes();
  });

  it('refuses an unknown message type', async () => {
    const s = await login(gw.port, agent);
    s.socket.write(Buffer.from([0x7a, 0, 0, 0, 4])); // 'z'
    const reply = await s.closed;
    assert.match(reply.toString('latin1'), /C08P01/);
    assert.match(reply.toString('latin1'), /unexpected message type 0x7a/);
    await stillServes();
  });

  it('records a truncated message followed by EOF', async () => {
    const s = await login(gw.port, agent);
    const q = serialize.query('select 1');
    s.socket.end(q.subarray(0, q.length - 3));
    await s.closed;
    await eventually(async () => (await protocolErrors()).includes('truncated'));
    await stillServes();
  });

  it('negotiates a 3.2 startup down to 3.0, answers GSSENCRequest with N, and serves the session', async () => {
    const socket = connect({ host: '127.0.0.1', port: gw.port });
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    // GSSENCRequest: length 8, code 80877104.
    const gss = Buffer.alloc(8);
    gss.writeInt32BE(8, 0);
    gss.writeInt32BE(80877104, 4);
    socket.write(gss);
    await until(() => Buffer.concat(received).length >= 1);
    assert.equal(Buffer.concat(received).toString('latin1', 0, 1), 'N');
    received.length = 0;
    // StartupMessage for protocol 3.2 with an unknown protocol option.
    const body = Buffer.from('user\0agent\0database\0app-db\0_pq_.future\0on\0\0', 'latin1');
    const startup = Buffer.alloc(8 + body.length);
    startup.writeInt32BE(startup.length, 0);
    startup.writeInt32BE((3 << 16) | 2, 4);
    body.copy(startup, 8);
    socket.write(startup);
    await until(() => Buffer.concat(received).includes(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3])));
    const reply = Buffer.concat(received);
    // NegotiateProtocolVersion ('v'): the version served (3.0, sent as the full number, as
    // PostgreSQL does) and the option it did not know.
    assert.equal(reply.toString('latin1', 0, 1), 'v');
    assert.equal(reply.readInt32BE(5), 3 << 16);
    assert.match(reply.toString('latin1'), /_pq_\.future/);
    received.length = 0;
    socket.write(serialize.password(agent));
    await until(() => Buffer.concat(received).includes(Buffer.from([0x5a, 0, 0, 0, 5])));
    socket.write(serialize.query('select 41 + 1'));
    await until(() => Buffer.concat(received).toString('latin1').includes('42'));
    socket.end();
  });

  it('refuses a client encoding whose characters can hide quote bytes', async () => {
    const socket = connect({ host: '127.0.0.1', port: gw.port });
    const reply = collect(socket);
    await new Promise((resolve) => socket.once('connect', resolve));
    // By hand: pg-protocol's serialize.startup appends client_encoding UTF8 itself.
    const body = Buffer.from('user\0agent\0database\0app-db\0client_encoding\0SJIS\0\0', 'latin1');
    const startup = Buffer.alloc(8 + body.length);
    startup.writeInt32BE(startup.length, 0);
    startup.writeInt32BE(3 << 16, 4);
    body.copy(startup, 8);
    socket.write(startup);
    const text = (await reply).toString('latin1');
    assert.match(text, /^E/);
    assert.match(text, /SJIS|encoding/i);
    await stillServes();
  });

  it('reads little from a client that has not authenticated: big password messages and floods are refused', async () => {
    // A 1 MiB "password" is refused from its header.
    const big = connect({ host: '127.0.0.1', port: gw.port });
    const bigReply = collect(big);
    await new Promise((resolve) => big.once('connect', resolve));
    big.write(serialize.startup({ user: 'agent', database: 'app-db' }));
    const header = Buffer.alloc(5);
    header[0] = 0x70; // p
    header.writeInt32BE(1024 * 1024, 1);
    big.write(header);
    assert.match((await bigReply).toString('latin1'), /C08P01/);
    // A flood pipelined behind the startup, before the password: the gateway stops reading.
    const before = process.memoryUsage().arrayBuffers;
    const flood = connect({ host: '127.0.0.1', port: gw.port });
    flood.on('error', () => undefined);
    await new Promise((resolve) => flood.once('connect', resolve));
    flood.write(serialize.startup({ user: 'agent', database: 'app-db' }));
    const chunk = serialize.query('select 1');
    const block = Buffer.concat(Array.from({ length: 4096 }, () => chunk)); // ~60 KiB
    let sent = 0;
    while (sent < 32 * 1024 * 1024 && flood.write(block)) sent += block.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024, 'the flood is not buffered in the gateway');
    flood.destroy();
    await stillServes();
  });

  it('closes on garbage before startup', async () => {
    const socket = connect({ host: '127.0.0.1', port: gw.port });
    const reply = collect(socket);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const bytes = await reply;
    assert.match(bytes.toString('latin1'), /C08P01/);
    await stillServes();
  });

  it('closes upstream when the client disconnects mid-COPY: nothing is copied', async () => {
    const s = await login(gw.port, dba);
    s.socket.write(serialize.query('copy sink from stdin'));
    await s.waitFor(0x47 /* G: CopyInResponse */);
    s.socket.write(serialize.copyData(Buffer.from('one\ntwo\n')));
    s.socket.destroy();
    await eventually(async () => (await protocolErrors()).includes('disconnect-during-copy'));
    assert.equal(await adminSql('select count(*) from sink', db), '0');
    await stillServes();
  });
});

interface RawLogin {
  readonly socket: Socket;
  /** Everything received after login, when the connection closes. */
  readonly closed: Promise<Buffer>;
  waitFor(type: number): Promise<void>;
}

async function login(port: number, token: string): Promise<RawLogin> {
  const socket = connect({ host: '127.0.0.1', port });
  let received = Buffer.alloc(0);
  let ready = false;
  let afterLogin = Buffer.alloc(0);
  const onData = (d: Buffer): void => {
    if (ready) {
      afterLogin = Buffer.concat([afterLogin, d]);
      return;
    }
    received = Buffer.concat([received, d]);
    if (received.includes(Buffer.from([0x5a, 0, 0, 0, 5]))) ready = true;
  };
  socket.on('data', onData);
  socket.on('error', () => undefined);
  const closed = new Promise<Buffer>((resolve) => socket.on('close', () => resolve(afterLogin)));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(serialize.startup({ user: 'agent', database: 'app-db' }));
  await until(() => received.length > 0);
  socket.write(serialize.password(token));
  await until(() => ready);
  return {
    socket,
    closed,
    waitFor: (type) => until(() => afterLogin.includes(type)),
  };
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function collect(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => undefined);
  return new Promise((resolve) => socket.on('close', () => resolve(Buffer.concat(chunks))));
}
