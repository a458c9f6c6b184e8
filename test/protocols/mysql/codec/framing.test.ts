// Packet framing: every packet split at every byte boundary comes out whole, 16 MiB payloads
// join across their split packets, and the encoder's output matches the protocol's bytes.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MAX_PACKET_PAYLOAD } from '../../../../src/protocols/mysql/codec/constants.ts';
import { framePacket, FramingError, PacketReader, packetCount } from '../../../../src/protocols/mysql/codec/framing.ts';

it('frames a payload with its length and sequence id (fixture: COM_PING, seq 0)', () => {
  assert.deepEqual(framePacket(Buffer.from([0x0e]), 0), Buffer.from([0x01, 0x00, 0x00, 0x00, 0x0e]));
  assert.deepEqual(framePacket(Buffer.from('abc'), 7), Buffer.from([0x03, 0x00, 0x00, 0x07, 0x61, 0x62, 0x63]));
});

it('reads every packet of a stream split at every byte boundary', () => {
  const payloads = [Buffer.from([0x03, ...Buffer.from('SELECT 1')]), Buffer.alloc(0), Buffer.from([0x0e]), Buffer.alloc(300, 0x41)];
  const stream = Buffer.concat(payloads.map((p, i) => framePacket(p, i)));
  for (let cut = 0; cut <= stream.length; cut++) {
    const r = new PacketReader(1 << 20);
    const got: { seq: number; payload: Buffer; raw: Buffer }[] = [];
    for (const part of [stream.subarray(0, cut), stream.subarray(cut)]) {
      r.push(Buffer.from(part));
      for (let p = r.next(); p !== null; p = r.next()) got.push({ seq: p.seq, payload: Buffer.from(p.payload), raw: Buffer.from(p.raw) });
    }
    assert.equal(got.length, payloads.length, `cut at ${cut}`);
    got.forEach((p, i) => {
      assert.equal(p.seq, i);
      assert.deepEqual(p.payload, payloads[i]);
      assert.deepEqual(p.raw, framePacket(payloads[i]!, i));
    });
    assert.equal(r.buffered, 0);
  }
});

it('joins a payload split at 16 MiB, and an exact multiple ends with an empty packet', () => {
  for (const size of [MAX_PACKET_PAYLOAD, MAX_PACKET_PAYLOAD + 5]) {
    const payload = Buffer.alloc(size, 0x5a);
    payload[size - 1] = 0x01;
    const framed = framePacket(payload, 3);
    assert.equal(packetCount(size), 2);
    assert.equal(framed.length, size + 8, 'two headers');
    assert.equal(framed[3], 3);
    assert.equal(framed[MAX_PACKET_PAYLOAD + 4 + 3], 4, 'the second packet takes the next sequence id');
    const r = new PacketReader(64 * 1024 * 1024);
    r.push(framed.subarray(0, 100_000));
    assert.equal(r.next(), null);
    r.push(framed.subarray(100_000));
    const p = r.next();
    assert.ok(p !== null);
    assert.equal(p.seq, 4);
    assert.equal(p.payload.length, size);
    assert.equal(p.payload[size - 1], 0x01);
    assert.equal(p.raw.length, framed.length);
  }
});

it('refuses a packet over the limit before it is buffered', () => {
  const r = new PacketReader(1024);
  r.push(Buffer.from([0x00, 0x10, 0x00, 0x00]));
  assert.throws(() => r.next(), FramingError);
});
