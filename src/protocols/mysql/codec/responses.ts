// Generic response packets: OK, ERR and EOF, encoded for the agent and read from the server.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_response_packets.html
import { Cap, Header } from './constants.ts';
import { PayloadReader, PayloadWriter } from './wire.ts';

export interface OkPacket {
  readonly affectedRows: number;
  readonly lastInsertId: number;
  readonly status: number;
  readonly warnings: number;
  readonly info: string;
}

export function encodeOk(ok: Partial<OkPacket> & { readonly status: number }, capabilities: number, header: number = Header.OK): Buffer {
  const w = new PayloadWriter(16).u8(header).lenenc(ok.affectedRows ?? 0).lenenc(ok.lastInsertId ?? 0);
  if (capabilities & Cap.PROTOCOL_41) w.u16(ok.status).u16(ok.warnings ?? 0);
  if (capabilities & Cap.SESSION_TRACK) w.lenencString(ok.info ?? '');
  else if (ok.info) w.string(ok.info);
  return w.finish();
}

/** OK or (DEPRECATE_EOF) the 0xfe OK that ends a result set: status and warnings. */
export function readOkStatus(payload: Buffer): { readonly affectedRows: number; readonly status: number; readonly warnings: number } {
  const r = new PayloadReader(payload, 1);
  const affectedRows = r.lenencInt();
  r.lenencInt();
  if (r.remaining < 4) return { affectedRows, status: 0, warnings: 0 };
  const status = r.u16();
  return { affectedRows, status, warnings: r.u16() };
}

/** EOF (without DEPRECATE_EOF): warnings, then status. */
export function readEofStatus(payload: Buffer): { readonly status: number; readonly warnings: number } {
  if (payload.length < 5) return { status: 0, warnings: 0 };
  return { warnings: payload.readUInt16LE(1), status: payload.readUInt16LE(3) };
}

export function encodeEof(status: number, warnings = 0): Buffer {
  return new PayloadWriter(5).u8(Header.EOF).u16(warnings).u16(status).finish();
}

export interface ErrPacket {
  readonly errno: number;
  readonly sqlState: string;
  readonly message: string;
}

export function encodeErr(e: ErrPacket): Buffer {
  return new PayloadWriter(16 + e.message.length).u8(Header.ERR).u16(e.errno).u8(0x23).string(e.sqlState.padEnd(5, '0').slice(0, 5)).string(e.message).finish();
}

/** The server's ERR (protocol 4.1: '#' and a SQLSTATE after the number). */
export function readErr(payload: Buffer): ErrPacket {
  const r = new PayloadReader(payload, 1);
  const errno = r.remaining >= 2 ? r.u16() : 0;
  let sqlState = 'HY000';
  if (r.remaining >= 6 && payload[r.pos] === 0x23) {
    r.skip(1);
    sqlState = r.bytes(5).toString('latin1');
  }
  return { errno, sqlState, message: r.rest().toString('utf8') };
}
