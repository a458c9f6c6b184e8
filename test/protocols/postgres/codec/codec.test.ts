// Codec unit tests: every message split at every byte boundary decodes the same, encoders
// match fixtures byte for byte, and lengths are checked before anything is buffered.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serialize } from 'pg-protocol';
import { authenticationCleartextPassword, authenticationOk, backendKeyData, errorResponse, negotiateProtocolVersion, parameterStatus, readyForQuery } from '../../../../src/protocols/postgres/codec/backend-encode.ts';
import { readCommandComplete, readErrorFields, rowsFromTag } from '../../../../src/protocols/postgres/codec/backend-read.ts';
import { TxStatus } from '../../../../src/protocols/postgres/codec/constants.ts';
import { FrameReader, FramingError } from '../../../../src/protocols/postgres/codec/framing.ts';
import { decodeFrontend, decodeStartup, MalformedMessage, type FrontendMessage } from '../../../../src/protocols/postgres/codec/frontend.ts';
import { bind, cancelRequest, parse, query, sslRequest, startupMessage } from '../../../../src/protocols/postgres/codec/frontend-encode.ts';

const MESSAGES: readonly Buffer[] = [
  serialize.query('select 1; select \'é\''),
  serialize.parse({ name: 's1', text: 'select $1::int', types: [23] }),
  serialize.bind({ portal: 'p', statement: 's1', values: ['42', null, Buffer.from([0, 1, 2])] }),
  serialize.describe({ type: 'S', name: 's1' }),
  serialize.execute({ portal: 'p', rows: 10 }),
  serialize.close({ type: 'P', name: 'p' }),
  serialize.flush(),
  serialize.sync(),
  serialize.copyData(Buffer.from('a\tb\n')),
  serialize.copyDone(),
  serialize.copyFail('stop'),
  serialize.password('token'),
  serialize.end(),
];

function decodeAll(chunks: readonly Buffer[]): FrontendMessage[] {
  const reader = new FrameReader(1 << 20);
  const out: FrontendMessage[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let frame = reader.next(); frame !== null; frame = reader.next()) out.push(decodeFrontend(frame));
  }
  return out;
}

/** Buffers inside messages compared by content. */
function plain(msgs: readonly FrontendMessage[]): unknown {
  return JSON.parse(JSON.stringify(msgs)) as unknown;
}

describe('postgres codec: framing and frontend decoding', () => {
  const stream = Buffer.concat(MESSAGES);
  const whole = plain(decodeAll([stream]));

  it('decodes every frontend message type', () => {
    const types = (whole as { type: string }[]).map((m) => m.type);
    assert.deepEqual(types, ['Query', 'Parse', 'Bind', 'Describe', 'Execute', 'Close', 'Flush', 'Sync', 'CopyData', 'CopyDone', 'CopyFail', 'Password', 'Terminate']);
    const [q, p, b] = decodeAll([stream]);
    assert.deepEqual(q, { type: 'Query', sql: "select 1; select 'é'" });
    assert.deepEqual(p, { type: 'Parse', name: 's1', sql: 'select $1::int', paramTypes: [23] });
    assert.equal(b?.type, 'Bind');
    if (b?.type === 'Bind') {
      assert.equal(b.portal, 'p');
      assert.deepEqual(b.params.map((v) => (v === null ? null : v.toString('hex'))), [Buffer.from('42').toString('hex'), null, '000102']);
      assert.deepEqual(b.paramFormats, [0, 0, 1]);
    }
  });

  it('decodes the same when split at every byte boundary', () => {
    for (let i = 1; i < stream.length; i++) {
      assert.deepEqual(plain(decodeAll([stream.subarray(0, i), stream.subarray(i)])), whole, `split at ${i}`);
    }
  });

  it('decodes the same when fed one byte at a time', () => {
    const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
    assert.deepEqual(plain(decodeAll(bytes)), whole);
  });

  it('hands out views, not copies, for messages within one chunk', () => {
    const reader = new FrameReader(1 << 20);
    reader.push(stream);
    const frame = reader.next();
    assert.equal(frame?.buffer, stream.buffer);
  });

  it('refuses a 1 GiB length from the header alone', () => {
    const reader = new FrameReader(64 * 1024 * 1024);
    const header = Buffer.from([0x51, 0x40, 0, 0, 0]);
    reader.push(header);
    assert.throws(() => reader.next(), (err: unknown) => err instanceof FramingError && err.problem === 'length-too-large');
  });

  it('refuses a length below 4', () => {
    const reader = new FrameReader(1024);
    reader.push(Buffer.from([0x51, 0, 0, 0, 3]));
    assert.throws(() => reader.next(), (err: unknown) => err instanceof FramingError && err.problem === 'length-too-small');
  });

  it('reports a message whose fields overrun its length as malformed', () => {
    const frame = Buffer.from([0x51, 0, 0, 0, 6, 0x61, 0x62]); // Query without NUL
    assert.throws(() => decodeFrontend(frame), MalformedMessage);
  });

  it('decodes startup packets split at every boundary', () => {
    const params = new Map([['user', 'u'], ['database', 'app-db'], ['application_name', 'psql']]);
    const packets = [sslRequest(), startupMessage(params), cancelRequest(7, Buffer.from([1, 2, 3, 4]))];
    const stream = Buffer.concat(packets);
    const expected = packets.map((p) => decodeStartup(p));
    assert.equal(expected[0]?.type, 'SSLRequest');
    assert.deepEqual(expected[1], { type: 'StartupMessage', major: 3, minor: 0, params });
    assert.deepEqual(expected[2], { type: 'CancelRequest', pid: 7, secret: Buffer.from([1, 2, 3, 4]) });
    for (let i = 1; i < stream.length; i++) {
      const reader = new FrameReader(1024);
      const got = [];
      for (const chunk of [stream.subarray(0, i), stream.subarray(i)]) {
        reader.push(chunk);
        for (let f = reader.nextStartup(); f !== null; f = reader.nextStartup()) got.push(decodeStartup(f));
      }
      assert.deepEqual(got, expected, `split at ${i}`);
    }
  });

  it('refuses a startup packet longer than 10000 bytes', () => {
    const reader = new FrameReader(1 << 20);
    reader.push(Buffer.from('GET / HTTP/1.1\r\n'));
    assert.throws(() => reader.nextStartup(), FramingError);
  });

  it('reads protocol 3.2 and _pq_ options from a startup message', () => {
    const packet = Buffer.from(startupMessage(new Map([['user', 'u'], ['_pq_.test', '1']])));
    packet.writeInt32BE((3 << 16) | 2, 4);
    const decoded = decodeStartup(packet);
    assert.equal(decoded.type, 'StartupMessage');
    if (decoded.type === 'StartupMessage') {
      assert.equal(decoded.minor, 2);
      assert.equal(decoded.params.get('_pq_.test'), '1');
    }
  });
});

describe('postgres codec: encoders', () => {
  const hex = (b: Buffer): string => b.toString('hex');

  it('encodes the backend messages byte for byte', () => {
    assert.equal(hex(authenticationOk()), '520000000800000000');
    assert.equal(hex(authenticationCleartextPassword()), '520000000800000003');
    assert.equal(hex(parameterStatus('a', 'b')), '53000000086100' + '6200');
    assert.equal(hex(backendKeyData(1, 2)), '4b0000000c0000000100000002');
    assert.equal(hex(readyForQuery(TxStatus.InTransaction)), '5a0000000554');
    assert.equal(hex(negotiateProtocolVersion(0, ['_pq_.x'])), '760000001300030000' + '00000001' + hex(Buffer.from('_pq_.x\0')));
    assert.equal(
      hex(errorResponse({ severity: 'ERROR', code: '42501', message: 'no', detail: 'd', hint: 'h', position: 3 })),
      hex(Buffer.concat([Buffer.from([0x45, 0, 0, 0, 0x27]), Buffer.from('SERROR\0VERROR\0C42501\0Mno\0Dd\0Hh\0P3\0\0')])),
    );
  });

  it('encodes frontend messages as pg-protocol does', () => {
    assert.equal(hex(query('select 1')), hex(serialize.query('select 1')));
    assert.equal(hex(parse('s', 'DENIED')), hex(serialize.parse({ name: 's', text: 'DENIED', types: [] })));
    // No formats, no parameters, no result formats (pg-protocol adds one result format; both are valid).
    assert.equal(hex(bind('p', 's')), '420000000e70007300000000000000');
    assert.equal(hex(sslRequest()), '0000000804d2162f');
  });

  it('reads error fields and command tags', () => {
    const e = errorResponse({ severity: 'FATAL', code: '28P01', message: 'bad token' });
    assert.deepEqual(readErrorFields(e), { severity: 'FATAL', code: '28P01', message: 'bad token' });
    const cc = Buffer.concat([Buffer.from([0x43, 0, 0, 0, 15]), Buffer.from('INSERT 0 5\0')]);
    assert.equal(readCommandComplete(cc), 'INSERT 0 5');
    assert.equal(rowsFromTag('INSERT 0 5'), 5);
    assert.equal(rowsFromTag('BEGIN'), null);
  });
});
