// Decoding of what a client sends: startup packets and the messages of a session.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
// Bytes in, typed messages out; no sockets. Frames come from FrameReader; a message whose
// fields do not fit its length is reported as malformed, never guessed at.
import { Frontend, HEADER_LENGTH, RequestCode } from './constants.ts';
import { MessageReader } from './writer.ts';

export type StartupPacket =
  | { readonly type: 'SSLRequest' }
  | { readonly type: 'GSSENCRequest' }
  | { readonly type: 'CancelRequest'; readonly pid: number; readonly secret: Buffer }
  | {
      readonly type: 'StartupMessage';
      readonly major: number;
      readonly minor: number;
      /** Parameters in order, `_pq_.` protocol options included. */
      readonly params: ReadonlyMap<string, string>;
    };

export type FrontendMessage =
  | { readonly type: 'Query'; readonly sql: string }
  | { readonly type: 'Parse'; readonly name: string; readonly sql: string; readonly paramTypes: readonly number[] }
  | {
      readonly type: 'Bind';
      readonly portal: string;
      readonly statement: string;
      readonly paramFormats: readonly number[];
      /** null is SQL NULL; values are views of the frame (copy before keeping them). */
      readonly params: readonly (Buffer | null)[];
      /** Result-column formats (0 text, 1 binary): none means all text, one applies to all. */
      readonly resultFormats: readonly number[];
    }
  | { readonly type: 'Describe'; readonly target: 'statement' | 'portal'; readonly name: string }
  | { readonly type: 'Execute'; readonly portal: string; readonly maxRows: number }
  | { readonly type: 'Close'; readonly target: 'statement' | 'portal'; readonly name: string }
  | { readonly type: 'Sync' }
  | { readonly type: 'Flush' }
  | { readonly type: 'Terminate' }
  | { readonly type: 'CopyData' }
  | { readonly type: 'CopyDone' }
  | { readonly type: 'CopyFail'; readonly message: string }
  | { readonly type: 'FunctionCall'; readonly oid: number }
  /** PasswordMessage / SASL responses: the body, interpreted by the auth step. */
  | { readonly type: 'Password'; readonly data: Buffer }
  | { readonly type: 'Unknown'; readonly code: number };

export class MalformedMessage extends Error {
  constructor(what: string) {
    super(`malformed ${what} message`);
    this.name = 'MalformedMessage';
  }
}

/** Decodes a startup packet (length + code + body) from FrameReader.nextStartup(). */
export function decodeStartup(frame: Buffer): StartupPacket {
  const code = frame.readInt32BE(4);
  // https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-SSLREQUEST
  if (code === RequestCode.Ssl) return SSL_REQUEST;
  if (code === RequestCode.GssEnc) return GSSENC_REQUEST;
  if (code === RequestCode.Cancel) {
    // 3.0 keys are 4 bytes; 3.2 allows up to 256: take what the packet carries.
    if (frame.length < 16) throw new MalformedMessage('CancelRequest');
    return { type: 'CancelRequest', pid: frame.readInt32BE(8), secret: Buffer.from(frame.subarray(12)) };
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  const params = new Map<string, string>();
  if (major === 3) {
    const r = new MessageReader(frame, 8);
    try {
      for (;;) {
        const name = r.cstring();
        if (name === '') break;
        params.set(name, r.cstring());
      }
    } catch {
      throw new MalformedMessage('StartupMessage');
    }
  }
  return { type: 'StartupMessage', major, minor, params };
}

const SSL_REQUEST: StartupPacket = Object.freeze({ type: 'SSLRequest' });
const GSSENC_REQUEST: StartupPacket = Object.freeze({ type: 'GSSENCRequest' });
const SYNC: FrontendMessage = Object.freeze({ type: 'Sync' });
const FLUSH: FrontendMessage = Object.freeze({ type: 'Flush' });
const TERMINATE: FrontendMessage = Object.freeze({ type: 'Terminate' });
const COPY_DATA: FrontendMessage = Object.freeze({ type: 'CopyData' });
const COPY_DONE: FrontendMessage = Object.freeze({ type: 'CopyDone' });

/** Decodes one typed message (type + length + body) from FrameReader.next(). */
export function decodeFrontend(frame: Buffer): FrontendMessage {
  const code = frame[0] as number;
  const r = new MessageReader(frame, HEADER_LENGTH);
  try {
    switch (code) {
      case Frontend.Query:
        return { type: 'Query', sql: r.cstring() };
      case Frontend.Parse:
        return decodeParse(r);
      case Frontend.Bind:
        return decodeBind(r);
      case Frontend.Describe:
        return { type: 'Describe', target: target(r.int8()), name: r.cstring() };
      case Frontend.Execute:
        return { type: 'Execute', portal: r.cstring(), maxRows: r.int32() };
      case Frontend.Close:
        return { type: 'Close', target: target(r.int8()), name: r.cstring() };
      case Frontend.Sync:
        return SYNC;
      case Frontend.Flush:
        return FLUSH;
      case Frontend.Terminate:
        return TERMINATE;
      case Frontend.CopyData:
        return COPY_DATA;
      case Frontend.CopyDone:
        return COPY_DONE;
      case Frontend.CopyFail:
        return { type: 'CopyFail', message: r.cstring() };
      case Frontend.FunctionCall:
        return { type: 'FunctionCall', oid: r.int32() };
      case Frontend.Password:
        return { type: 'Password', data: r.rest() };
      default:
        return { type: 'Unknown', code };
    }
  } catch (err) {
    if (err instanceof MalformedMessage) throw err;
    throw new MalformedMessage(String.fromCharCode(code));
  }
}

function target(byte: number): 'statement' | 'portal' {
  if (byte === 0x53 /* S */) return 'statement';
  if (byte === 0x50 /* P */) return 'portal';
  throw new MalformedMessage('Describe/Close');
}

// https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-PARSE
function decodeParse(r: MessageReader): FrontendMessage {
  const name = r.cstring();
  const sql = r.cstring();
  const n = r.uint16();
  const paramTypes: number[] = [];
  for (let i = 0; i < n; i++) paramTypes.push(r.int32());
  return { type: 'Parse', name, sql, paramTypes };
}

// https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-BIND
function decodeBind(r: MessageReader): FrontendMessage {
  const portal = r.cstring();
  const statement = r.cstring();
  const nFormats = r.uint16();
  const paramFormats: number[] = [];
  for (let i = 0; i < nFormats; i++) paramFormats.push(r.int16());
  const nParams = r.uint16();
  const params: (Buffer | null)[] = [];
  for (let i = 0; i < nParams; i++) {
    const len = r.int32();
    params.push(len === -1 ? null : r.bytes(len));
  }
  // Masking rewrites values in the format the client asked for.
  const nResult = r.uint16();
  const resultFormats: number[] = [];
  for (let i = 0; i < nResult; i++) resultFormats.push(r.int16());
  return { type: 'Bind', portal, statement, paramFormats, params, resultFormats };
}
