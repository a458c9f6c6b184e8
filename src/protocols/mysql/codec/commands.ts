// Command packets from the client, after login: the command byte and the fields the gateway
// reads. The session forwards the packet's own bytes; nothing here re-encodes a command.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_command_phase.html
import { Com } from './constants.ts';
import { MalformedPacket, PayloadReader, PayloadWriter } from './wire.ts';

export type Command =
  | { readonly type: 'query'; readonly sql: string }
  | { readonly type: 'prepare'; readonly sql: string }
  | { readonly type: 'init-db'; readonly schema: string }
  | { readonly type: 'field-list'; readonly table: string }
  | { readonly type: 'kill'; readonly id: number }
  /** execute, close, reset, send-long-data and fetch name a prepared statement by its id. */
  | { readonly type: 'stmt'; readonly command: number; readonly statement: number; readonly flags: number }
  | { readonly type: 'simple'; readonly command: number };

/** What one command packet asks; MalformedPacket when its fields do not fit. */
export function decodeCommand(payload: Buffer): Command {
  if (payload.length === 0) throw new MalformedPacket('empty command packet');
  const command = payload[0]!;
  switch (command) {
    case Com.QUERY:
      return { type: 'query', sql: payload.toString('utf8', 1) };
    case Com.STMT_PREPARE:
      return { type: 'prepare', sql: payload.toString('utf8', 1) };
    case Com.INIT_DB:
      return { type: 'init-db', schema: payload.toString('utf8', 1) };
    case Com.FIELD_LIST: {
      const r = new PayloadReader(payload, 1);
      return { type: 'field-list', table: r.cstringOrRest() };
    }
    case Com.PROCESS_KILL:
      return { type: 'kill', id: new PayloadReader(payload, 1).u32() };
    case Com.STMT_EXECUTE:
    case Com.STMT_CLOSE:
    case Com.STMT_RESET:
    case Com.STMT_SEND_LONG_DATA:
    case Com.STMT_FETCH: {
      const r = new PayloadReader(payload, 1);
      const statement = r.u32();
      const flags = command === Com.STMT_EXECUTE ? r.u8() : 0;
      return { type: 'stmt', command, statement, flags };
    }
    default:
      return { type: 'simple', command };
  }
}

/** COM_QUERY of a text: the gateway's own queries upstream. */
export function encodeQuery(sql: string): Buffer {
  return new PayloadWriter(sql.length + 1).u8(Com.QUERY).string(sql).finish();
}

export function encodeStmtClose(statement: number): Buffer {
  return new PayloadWriter(5).u8(Com.STMT_CLOSE).u32(statement).finish();
}

export function encodeKill(id: number): Buffer {
  return new PayloadWriter(5).u8(Com.PROCESS_KILL).u32(id).finish();
}

/** COM_STMT_PREPARE_OK: the statement id the server gave, and how many columns and parameters follow. */
export function decodePrepareOk(payload: Buffer): { readonly statement: number; readonly columns: number; readonly params: number } {
  const r = new PayloadReader(payload, 1);
  const statement = r.u32();
  const columns = r.u16();
  const params = r.u16();
  return { statement, columns, params };
}

/** The name of a command byte, for logs and the recording. */
export function commandName(command: number): string {
  for (const [name, value] of Object.entries(Com)) if (value === command) return `COM_${name}`;
  return `0x${command.toString(16).padStart(2, '0')}`;
}
