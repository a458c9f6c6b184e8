// Rules about the client's startup packet that do not need a socket: which parameters may
// travel to the upstream, which encodings are refused, which protocol options we ignore.
// https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-STARTUPMESSAGE
import { isIP } from 'node:net';

/**
 * Session settings a client may pass to the upstream at startup, lower-case. Anything else
 * is dropped: `user` and `database` are the connection's, `options` can carry `-c role=...`
 * or any GUC, and `replication` would open a replication connection.
 */
const SAFE_PARAMS: ReadonlyMap<string, string> = new Map([
  ['application_name', 'application_name'],
  ['client_encoding', 'client_encoding'],
  ['datestyle', 'DateStyle'],
  ['timezone', 'TimeZone'],
  ['intervalstyle', 'IntervalStyle'],
  ['extra_float_digits', 'extra_float_digits'],
]);

/**
 * Client-only encodings whose multi-byte characters can contain the bytes of `'` or `\`:
 * text the analyser reads as UTF-8 would not be the text the server reads.
 */
const UNSAFE_ENCODINGS = new Set(['sjis', 'shiftjis', 'big5', 'gbk', 'uhc', 'gb18030', 'johab', 'windows932', 'windows936', 'windows949', 'windows950', 'cp932', 'cp936', 'cp949', 'cp950', 'shiftjis2004']);

export function upstreamParams(params: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of params) {
    const canonical = SAFE_PARAMS.get(name.toLowerCase());
    if (canonical !== undefined) out.set(canonical, value);
  }
  return out;
}

/** The client_encoding asked for, when it is one we refuse. */
export function unsafeEncoding(params: ReadonlyMap<string, string>): string | undefined {
  for (const [name, value] of params) {
    if (name.toLowerCase() === 'client_encoding' && UNSAFE_ENCODINGS.has(value.toLowerCase().replace(/[^a-z0-9]/g, ''))) return value;
  }
  return undefined;
}

/** `_pq_.` protocol extensions: none is implemented, each is reported back as unrecognised. */
export function protocolOptions(params: ReadonlyMap<string, string>): string[] {
  return [...params.keys()].filter((k) => k.startsWith('_pq_.'));
}

export function isLoopback(address: string | null): boolean {
  if (address === null) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(a) === 4) return a.startsWith('127.');
  return a === '::1';
}

export function clientAddress(address: string | undefined): string | null {
  if (address === undefined) return null;
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
