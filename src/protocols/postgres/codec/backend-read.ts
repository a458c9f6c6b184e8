// The little the gateway reads of what the upstream server sends: type bytes for the rest,
// and the fields of the few messages that drive the session (authentication, parameter
// status, key data, command tags, errors, transaction status). Everything else is relayed
// without being decoded.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
import { ErrorField, HEADER_LENGTH } from './constants.ts';
import { MessageReader } from './writer.ts';

export function readAuthentication(frame: Buffer): { readonly code: number; readonly data: Buffer } {
  const r = new MessageReader(frame, HEADER_LENGTH);
  return { code: r.int32(), data: r.rest() };
}

/** The NUL-terminated mechanism names of AuthenticationSASL. */
export function readSaslMechanisms(data: Buffer): string[] {
  const r = new MessageReader(data, 0);
  const out: string[] = [];
  while (r.remaining > 0) {
    const m = r.cstring();
    if (m === '') break;
    out.push(m);
  }
  return out;
}

export function readParameterStatus(frame: Buffer): { readonly name: string; readonly value: string } {
  const r = new MessageReader(frame, HEADER_LENGTH);
  return { name: r.cstring(), value: r.cstring() };
}

export function readBackendKeyData(frame: Buffer): { readonly pid: number; readonly secret: Buffer } {
  const r = new MessageReader(frame, HEADER_LENGTH);
  const pid = r.int32();
  return { pid, secret: Buffer.from(r.rest()) };
}

/** The transaction status byte of ReadyForQuery: I, T or E. */
export function readReadyForQuery(frame: Buffer): number {
  return frame[HEADER_LENGTH] ?? 0;
}

/** The command tag of CommandComplete: `SELECT 3`, `INSERT 0 1`, `COPY 10`. */
export function readCommandComplete(frame: Buffer): string {
  const end = frame.indexOf(0, HEADER_LENGTH);
  return frame.toString('utf8', HEADER_LENGTH, end < 0 ? frame.length : end);
}

/** Rows returned or affected, from a command tag (its last number), or null when it has none. */
export function rowsFromTag(tag: string): number | null {
  const space = tag.lastIndexOf(' ');
  if (space < 0) return null;
  const n = Number(tag.slice(space + 1));
  return Number.isInteger(n) ? n : null;
}

export interface BackendError {
  readonly severity: string;
  readonly code: string;
  readonly message: string;
}

/** The severity (non-localized when present), SQLSTATE and message of ErrorResponse/NoticeResponse. */
export function readErrorFields(frame: Buffer): BackendError {
  let severity = '';
  let code = '';
  let message = '';
  for (const [field, text] of readMessageFields(frame)) {
    if (field === ErrorField.SeverityV || (field === ErrorField.Severity && severity === '')) severity = text;
    else if (field === ErrorField.Code) code = text;
    else if (field === ErrorField.Message) message = text;
  }
  return { severity, code, message };
}

/** One field of a RowDescription. `tableOid`/`column` are 0 unless the field is a plain column reference. */
export interface FieldDescription {
  readonly name: string;
  readonly tableOid: number;
  readonly column: number;
  readonly typeOid: number;
  /** 0 text, 1 binary; in the answer to Describe of a statement always 0 (formats come with Bind). */
  readonly format: number;
}

export function readRowDescription(frame: Buffer): FieldDescription[] {
  const r = new MessageReader(frame, HEADER_LENGTH);
  const count = r.uint16();
  const out: FieldDescription[] = [];
  for (let i = 0; i < count; i++) {
    const name = r.cstring();
    const tableOid = r.uint32();
    const column = r.int16();
    const typeOid = r.uint32();
    r.int16(); // type size
    r.int32(); // type modifier
    out.push({ name, tableOid, column, typeOid, format: r.int16() });
  }
  return out;
}

/** Every field of an ErrorResponse/NoticeResponse in order, as (code, text) pairs. */
export function readMessageFields(frame: Buffer): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  let pos = HEADER_LENGTH;
  while (pos < frame.length) {
    const field = frame[pos] as number;
    if (field === 0) break;
    const end = frame.indexOf(0, pos + 1);
    if (end < 0) break;
    out.push([field, frame.toString('utf8', pos + 1, end)]);
    pos = end + 1;
  }
  return out;
}

/** A DataRow's values decoded as UTF-8 text (for the gateway's own text-format queries). */
export function readTextRow(frame: Buffer): (string | null)[] {
  const row: (string | null)[] = [];
  let at = HEADER_LENGTH + 2;
  for (let i = frame.readUInt16BE(HEADER_LENGTH); i > 0; i--) {
    const len = frame.readInt32BE(at);
    at += 4;
    row.push(len < 0 ? null : frame.toString('utf8', at, at + len));
    if (len > 0) at += len;
  }
  return row;
}
