// COM_STMT_EXECUTE parameter values as the recording and reviews show them.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ColumnType } from '../../../../src/protocols/mysql/codec/constants.ts';
import { readExecuteParams } from '../../../../src/protocols/mysql/codec/execute-params.ts';
import { MalformedPacket, PayloadWriter } from '../../../../src/protocols/mysql/codec/wire.ts';

function execute(bitmap: number, types: number[] | null, values: (w: PayloadWriter) => void): Buffer {
  const w = new PayloadWriter().u8(0x17).u32(1).u8(0).u32(1).u8(bitmap);
  if (types === null) w.u8(0);
  else {
    w.u8(1);
    for (const t of types) w.u16(t);
  }
  values(w);
  return w.finish();
}

it('reads integers (signed and unsigned), strings, blobs, dates and NULLs', () => {
  const types = [ColumnType.LONGLONG, ColumnType.TINY | 0x8000, ColumnType.VAR_STRING, ColumnType.BLOB, ColumnType.DATETIME, ColumnType.LONG];
  const payload = execute(0b100000, types, (w) => {
    w.u32(0xfffffffe).u32(0xffffffff); // -2 as int<8>
    w.u8(200);
    w.lenencString('héllo');
    w.lenencBytes(Buffer.from([0xde, 0xad]));
    w.u8(7).u16(2026).u8(12).u8(7).u8(13).u8(5).u8(9);
  });
  const { values, types: kept } = readExecuteParams(payload, 6, [], new Set());
  assert.deepEqual(values, ['-2', '200', 'héllo', '0xdead', '2026-12-07 13:05:09', null]);
  assert.deepEqual(kept, types);
  // The next execute may leave the types out: the previous ones apply.
  const again = readExecuteParams(execute(0, null, (w) => w.u32(5).u32(0).u8(1).lenencString('x').lenencBytes(Buffer.from([1])).u8(0).u32(9)), 6, kept, new Set());
  assert.deepEqual(again.values, ['5', '1', 'x', '0x01', '0000-00-00', '9']);
});

it('shows a value sent with SEND_LONG_DATA as such, and refuses a packet that does not hold its values', () => {
  const payload = execute(0, [ColumnType.BLOB], () => undefined);
  assert.deepEqual(readExecuteParams(payload, 1, [], new Set([0])).values, ['(long data)']);
  assert.throws(() => readExecuteParams(payload, 1, [], new Set()), MalformedPacket);
  assert.throws(() => readExecuteParams(execute(0, [0x33], () => undefined), 1, [], new Set()), MalformedPacket);
});
