// Encoders of frontend messages the gateway sends upstream on its own account: its startup
// and authentication, cancel requests, and the stand-ins for denied messages.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
import { Frontend, PROTOCOL_3_0, RequestCode } from './constants.ts';
import { MessageWriter } from './writer.ts';

export function startupMessage(params: ReadonlyMap<string, string>): Buffer {
  const w = new MessageWriter(-1, 128).int32(PROTOCOL_3_0);
  for (const [k, v] of params) w.cstring(k).cstring(v);
  return w.int8(0).finish();
}

export function sslRequest(): Buffer {
  return new MessageWriter(-1, 8).int32(RequestCode.Ssl).finish();
}

export function cancelRequest(pid: number, secret: Buffer): Buffer {
  return new MessageWriter(-1, 16).int32(RequestCode.Cancel).int32(pid).bytes(secret).finish();
}

/** PasswordMessage (cleartext or md5 hash). */
export function passwordMessage(password: string): Buffer {
  return new MessageWriter(Frontend.Password).cstring(password).finish();
}

export function saslInitialResponse(mechanism: string, data: string): Buffer {
  const bytes = Buffer.from(data, 'utf8');
  return new MessageWriter(Frontend.Password).cstring(mechanism).int32(bytes.length).bytes(bytes).finish();
}

export function saslResponse(data: string): Buffer {
  return new MessageWriter(Frontend.Password).bytes(Buffer.from(data, 'utf8')).finish();
}

export function query(sql: string): Buffer {
  return new MessageWriter(Frontend.Query).cstring(sql).finish();
}

/** Parse of `sql` into statement `name`, without parameter types. */
export function parse(name: string, sql: string): Buffer {
  return new MessageWriter(Frontend.Parse).cstring(name).cstring(sql).int16(0).finish();
}

/** Bind of statement `statement` to portal `portal`, no parameters, text results. */
export function bind(portal: string, statement: string): Buffer {
  return new MessageWriter(Frontend.Bind).cstring(portal).cstring(statement).int16(0).int16(0).int16(0).finish();
}

/** Bind with text-format parameters (NULL as null) and text results. */
export function bindParams(portal: string, statement: string, params: readonly (string | null)[]): Buffer {
  const w = new MessageWriter(Frontend.Bind).cstring(portal).cstring(statement).int16(0).int16(params.length);
  for (const p of params) {
    if (p === null) w.int32(-1);
    else {
      const bytes = Buffer.from(p, 'utf8');
      w.int32(bytes.length).bytes(bytes);
    }
  }
  return w.int16(0).finish();
}

/** Execute of a portal; `maxRows` 0 is all of them. */
export function execute(portal: string, maxRows = 0): Buffer {
  return new MessageWriter(Frontend.Execute).cstring(portal).int32(maxRows).finish();
}

export const SYNC: Buffer = new MessageWriter(Frontend.Sync, 5).finish();

export function copyFail(reason: string): Buffer {
  return new MessageWriter(Frontend.CopyFail).cstring(reason).finish();
}

/** Describe of a portal ('P') or statement ('S'). */
export function describe(target: 'P' | 'S', name: string): Buffer {
  return new MessageWriter(Frontend.Describe).int8(target.charCodeAt(0)).cstring(name).finish();
}

export const TERMINATE: Buffer = new MessageWriter(Frontend.Terminate, 5).finish();
