// Encoders of the few backend messages the gateway itself speaks to a client (everything
// else the client sees comes from the upstream server, untouched).
// https://www.postgresql.org/docs/current/protocol-message-formats.html
import { AuthCode, Backend, ErrorField, type TxStatusByte } from './constants.ts';
import { MessageWriter } from './writer.ts';

/** AuthenticationOk. */
export function authenticationOk(): Buffer {
  return new MessageWriter(Backend.Authentication, 9).int32(AuthCode.Ok).finish();
}

/** AuthenticationCleartextPassword: the client answers with a PasswordMessage. */
export function authenticationCleartextPassword(): Buffer {
  return new MessageWriter(Backend.Authentication, 9).int32(AuthCode.CleartextPassword).finish();
}

export function parameterStatus(name: string, value: string): Buffer {
  return new MessageWriter(Backend.ParameterStatus).cstring(name).cstring(value).finish();
}

export function backendKeyData(pid: number, secret: number): Buffer {
  return new MessageWriter(Backend.BackendKeyData, 13).int32(pid).int32(secret).finish();
}

export function readyForQuery(status: TxStatusByte): Buffer {
  return new MessageWriter(Backend.ReadyForQuery, 6).int8(status).finish();
}

/** NegotiateProtocolVersion: the newest minor version we speak, and the `_pq_.` options we ignore. */
export function negotiateProtocolVersion(minor: number, unrecognised: readonly string[]): Buffer {
  const w = new MessageWriter(Backend.NegotiateProtocolVersion).int32((3 << 16) | minor).int32(unrecognised.length);
  for (const option of unrecognised) w.cstring(option);
  return w.finish();
}

export type Severity = 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'DEBUG' | 'INFO' | 'LOG';

export interface ErrorFields {
  readonly severity: Severity;
  /** SQLSTATE, five characters. */
  readonly code: string;
  readonly message: string;
  readonly detail?: string;
  readonly hint?: string;
  /** 1-based character position in the query text. */
  readonly position?: number;
}

/** ErrorResponse ('E') or, with notice = true, NoticeResponse ('N'); fields S V C M D H P. */
export function errorResponse(fields: ErrorFields, notice = false): Buffer {
  const w = new MessageWriter(notice ? Backend.NoticeResponse : Backend.ErrorResponse, 128);
  w.int8(ErrorField.Severity).cstring(fields.severity);
  w.int8(ErrorField.SeverityV).cstring(fields.severity);
  w.int8(ErrorField.Code).cstring(fields.code);
  w.int8(ErrorField.Message).cstring(fields.message);
  if (fields.detail !== undefined) w.int8(ErrorField.Detail).cstring(fields.detail);
  if (fields.hint !== undefined) w.int8(ErrorField.Hint).cstring(fields.hint);
  if (fields.position !== undefined) w.int8(ErrorField.Position).cstring(String(fields.position));
  return w.int8(0).finish();
}

/** DataRow from its values (null: SQL NULL), each in the format the client asked for. */
export function dataRow(values: readonly (Buffer | null)[]): Buffer {
  let size = 7;
  for (const v of values) size += 4 + (v === null ? 0 : v.length);
  const out = Buffer.allocUnsafe(size);
  out[0] = Backend.DataRow;
  out.writeInt32BE(size - 1, 1);
  out.writeUInt16BE(values.length, 5);
  let at = 7;
  for (const v of values) {
    if (v === null) {
      out.writeInt32BE(-1, at);
      at += 4;
    } else {
      out.writeInt32BE(v.length, at);
      v.copy(out, at + 4);
      at += 4 + v.length;
    }
  }
  return out;
}

/** ErrorResponse or NoticeResponse from (code, text) pairs, in the order given. */
export function messageWithFields(type: number, fields: ReadonlyArray<readonly [number, string]>): Buffer {
  const w = new MessageWriter(type, 128);
  for (const [code, text] of fields) w.int8(code).cstring(text);
  return w.int8(0).finish();
}

/** CopyData carrying `payload`. */
export function copyData(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = Backend.CopyData;
  out.writeInt32BE(4 + payload.length, 1);
  payload.copy(out, 5);
  return out;
}
