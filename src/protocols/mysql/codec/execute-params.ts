// The parameter values of a COM_STMT_EXECUTE, as the recording and reviews show them: NULL as
// null, integers and floats as their decimal text, strings as text, dates and times in their
// SQL form, other binary values as `0x` + hex. Types come with the packet when
// new-params-bound is set and are kept from the previous execute otherwise; a value sent with
// COM_STMT_SEND_LONG_DATA is not in the packet (shown as `(long data)`).
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_execute.html
import { ColumnType } from './constants.ts';
import { MalformedPacket, PayloadReader } from './wire.ts';

/** Longest value kept, in bytes (the recorder truncates again). */
const MAX_PARAM_BYTES = 4096;
const UNSIGNED = 0x8000;
const TEXT_TYPES = new Set<number>([ColumnType.VARCHAR, ColumnType.VAR_STRING, ColumnType.STRING, ColumnType.DECIMAL, ColumnType.NEWDECIMAL, ColumnType.JSON, ColumnType.ENUM, ColumnType.SET]);
const LENENC = new Set<number>([...TEXT_TYPES, ColumnType.TINY_BLOB, ColumnType.MEDIUM_BLOB, ColumnType.LONG_BLOB, ColumnType.BLOB, ColumnType.BIT, ColumnType.GEOMETRY]);

export interface ExecuteParams {
  readonly values: (string | null)[];
  /** The parameter types in force (to keep for the next execute of the statement). */
  readonly types: readonly number[];
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function temporal(type: number, b: Buffer): string {
  if (type === ColumnType.TIME) {
    if (b.length === 0) return '00:00:00';
    const neg = b[0] === 1 ? '-' : '';
    const hours = b.readUInt32LE(1) * 24 + b[5]!;
    const frac = b.length >= 12 ? `.${pad(b.readUInt32LE(8), 6)}` : '';
    return `${neg}${pad(hours)}:${pad(b[6]!)}:${pad(b[7]!)}${frac}`;
  }
  if (b.length === 0) return '0000-00-00';
  const date = `${pad(b.readUInt16LE(0), 4)}-${pad(b[2]!)}-${pad(b[3]!)}`;
  if (b.length < 7) return date;
  const frac = b.length >= 11 ? `.${pad(b.readUInt32LE(7), 6)}` : '';
  return `${date} ${pad(b[4]!)}:${pad(b[5]!)}:${pad(b[6]!)}${frac}`;
}

/**
 * The values of an execute of a statement with `count` parameters. `previous`: the types of the
 * statement's last execute; `longData`: parameters whose value came with SEND_LONG_DATA.
 * Throws MalformedPacket when the packet does not hold what it says.
 */
export function readExecuteParams(payload: Buffer, count: number, previous: readonly number[], longData: ReadonlySet<number>): ExecuteParams {
  if (count === 0) return { values: [], types: previous };
  const r = new PayloadReader(payload, 10); // command, statement id, flags, iteration count
  const bitmap = r.bytes((count + 7) >> 3);
  const bound = r.u8();
  let types = previous;
  if (bound === 1) {
    const t: number[] = [];
    for (let i = 0; i < count; i++) t.push(r.u16());
    types = t;
  }
  const values: (string | null)[] = [];
  for (let i = 0; i < count; i++) {
    if (bitmap[i >> 3]! & (1 << (i & 7))) {
      values.push(null);
      continue;
    }
    if (longData.has(i)) {
      values.push('(long data)');
      continue;
    }
    const full = types[i] ?? ColumnType.VAR_STRING;
    const type = full & 0xff;
    const unsigned = (full & UNSIGNED) !== 0;
    switch (type) {
      case ColumnType.NULL:
        values.push(null);
        continue;
      case ColumnType.TINY:
        values.push(String(unsigned ? r.u8() : (r.u8() << 24) >> 24));
        continue;
      case ColumnType.SHORT:
      case ColumnType.YEAR: {
        const v = r.u16();
        values.push(String(unsigned ? v : (v << 16) >> 16));
        continue;
      }
      case ColumnType.LONG:
      case ColumnType.INT24: {
        const v = r.bytes(4);
        values.push(String(unsigned ? v.readUInt32LE(0) : v.readInt32LE(0)));
        continue;
      }
      case ColumnType.LONGLONG: {
        const v = r.bytes(8);
        values.push(String(unsigned ? v.readBigUInt64LE(0) : v.readBigInt64LE(0)));
        continue;
      }
      case ColumnType.FLOAT:
        values.push(String(r.bytes(4).readFloatLE(0)));
        continue;
      case ColumnType.DOUBLE:
        values.push(String(r.bytes(8).readDoubleLE(0)));
        continue;
      case ColumnType.DATE:
      case ColumnType.DATETIME:
      case ColumnType.TIMESTAMP:
      case ColumnType.TIME:
        values.push(temporal(type, r.bytes(r.u8())));
        continue;
      default: {
        if (!LENENC.has(type)) throw new MalformedPacket(`unknown parameter type 0x${type.toString(16)}`);
        const v = r.lenencBytes();
        const cut = v.length > MAX_PARAM_BYTES ? v.subarray(0, MAX_PARAM_BYTES) : v;
        values.push(TEXT_TYPES.has(type) ? cut.toString('utf8') : `0x${cut.toString('hex')}`);
      }
    }
  }
  return { values, types };
}
